"""Rate limits counted in Redis and leased to each process a hundredth at a time: never passed
together, and a round trip per lease, not per request. Each RateLimiter stands for one process's."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from limits import parse_many
from limits.storage import RedisStorage

from src.adapters.web.limits import RateLimited, RateLimiter
from tests.support.tcp_proxy import TcpProxy


def admitted(limiter: RateLimiter, rate: str, bucket: str) -> bool:
    try:
        limiter.hit(parse_many(rate), bucket)
    except RateLimited:
        return False
    return True


def test_two_processes_hammering_one_bucket_never_pass_its_limit_together(environ):
    processes = [RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"]) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=8) as clients:  # 4 threads a process
        small = list(clients.map(lambda i: admitted(processes[i % 2], "60/minute", "small"), range(300)))
        large = list(clients.map(lambda i: admitted(processes[i % 2], "1000/minute", "large"), range(1500)))
    assert small.count(True) == 60  # under 200 a window: counted request by request
    # Leases of 10, one taken at a time a process: never more than the limit, fewer by at most
    # what each process holds unspent.
    assert 1000 - 2 * 9 <= large.count(True) <= 1000


def test_far_from_its_limit_a_process_asks_redis_once_a_hundredth_of_the_limit(environ, sent):
    limiter = RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"])
    assert all(admitted(limiter, "100000/minute", "busy") for _ in range(1500))
    leases = [name for name in sent if name not in (b"HELLO", b"CLIENT")]  # not the connection's set-up
    assert leases == [b"EVALSHA", b"TTL"] * 2  # two leases of 1,000: each an increment, and the window's end
    shared = RedisStorage(environ["CACHE_REDIS_URL"], key_prefix=environ["CACHE_KEY_PREFIX"] + "limits")
    assert shared.get(parse_many("100000/minute")[0].key_for("busy")) == 2000


def test_a_full_bucket_is_refused_without_asking_redis_again_until_its_window_ends(environ, sent):
    limiter = RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"])
    assert [admitted(limiter, "3/minute", "full") for _ in range(4)] == [True, True, True, False]
    sent.clear()
    for _ in range(50):
        try:
            limiter.hit(parse_many("3/minute"), "full")
        except RateLimited as refusal:
            assert 55 <= refusal.retry_after <= 60
        else:
            raise AssertionError("a full bucket admitted a request")
    assert sent == []


def test_in_a_windows_last_second_a_lease_is_spent_not_taken_again_for_each_request(environ):
    """Redis gives the time a window has left in whole seconds: none in its last half second. A
    lease then taken must still be spent, or every request would take another a hundredth of the
    limit, and the bucket would refuse at a tenth of its limit."""
    limiter = RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"])
    assert admitted(limiter, "1000/second", "closing")  # the window opens: a second to go
    time.sleep(0.6)  # 0.4 s left: Redis now says 0
    assert all(admitted(limiter, "1000/second", "closing") for _ in range(150))  # far from 1,000


def test_when_redis_hangs_each_waiting_request_costs_one_timeout_at_most_then_counts_in_memory(environ):
    """Threads queued behind a lease being taken must not each wait for their own timeout once
    the first has found Redis down."""
    proxy = TcpProxy(environ["CACHE_REDIS_URL"])
    limiter = RateLimiter(proxy.url, environ["CACHE_KEY_PREFIX"])
    assert admitted(limiter, "600/minute", "warm")  # the connection is open before it hangs
    proxy.freeze()
    try:

        def waited(bucket: int) -> float:
            started = time.monotonic()
            assert admitted(limiter, "600/minute", f"bucket-{bucket}")
            return time.monotonic() - started

        with ThreadPoolExecutor(max_workers=4) as clients:
            waits = list(clients.map(waited, range(4)))
    finally:
        proxy.restore()
    assert max(waits) < 0.9  # the socket timeout is 0.5 s: one each, not one after another
    assert [admitted(limiter, "2/minute", "in memory") for _ in range(3)] == [True, True, False]
