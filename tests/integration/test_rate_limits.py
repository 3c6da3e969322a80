"""Rate limits counted in Redis, request by request: shared by every process, never passed
together, and counted in each process's memory while Redis is down. Each RateLimiter stands for
one process's."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from limits import parse_many
from werkzeug.exceptions import TooManyRequests

from src.adapters.web.limits import RateLimiter
from tests.support.tcp_proxy import TcpProxy


def admitted(limiter: RateLimiter, rate: str, bucket: str, count: bool = True) -> bool:
    try:
        limiter.hit(parse_many(rate), bucket, count=count)
    except TooManyRequests:
        return False
    return True


def test_two_processes_hammering_one_bucket_admit_exactly_its_limit_together(environ):
    processes = [RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"]) for _ in range(2)]
    with ThreadPoolExecutor(max_workers=8) as clients:  # 4 threads a process
        small = list(clients.map(lambda i: admitted(processes[i % 2], "60/minute", "small"), range(300)))
        large = list(clients.map(lambda i: admitted(processes[i % 2], "1000/minute", "large"), range(1500)))
    assert small.count(True) == 60
    assert large.count(True) == 1000


def test_a_full_bucket_is_refused_until_its_window_ends_and_a_check_counts_nothing(environ):
    limiter = RateLimiter(environ["CACHE_REDIS_URL"], environ["CACHE_KEY_PREFIX"])
    assert [admitted(limiter, "3/minute", "checked", count=False) for _ in range(5)] == [True] * 5
    assert [admitted(limiter, "3/minute", "checked") for _ in range(4)] == [True, True, True, False]
    assert not admitted(limiter, "3/minute", "checked", count=False)
    try:
        limiter.hit(parse_many("3/minute"), "checked")
    except TooManyRequests as refusal:
        assert 55 <= refusal.retry_after <= 60
    else:
        raise AssertionError("a full bucket admitted a request")
    assert admitted(limiter, "3/minute", "another bucket")


def test_when_redis_hangs_each_waiting_request_costs_one_timeout_at_most_then_counts_in_memory(environ):
    """Requests that find Redis hanging at once must each wait one timeout at most, side by side,
    and those after them none."""
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
        started = time.monotonic()
        assert [admitted(limiter, "2/minute", "in memory") for _ in range(3)] == [True, True, False]
        assert time.monotonic() - started < 0.1
    finally:
        proxy.restore()
    assert max(waits) < 0.9  # the socket timeout is 0.5 s: one each, not one after another


def test_without_redis_each_process_counts_in_its_own_memory():
    """The embedded default (no CACHE_REDIS_URL): limits hold per process, and no other process's
    hits count against them."""
    one, another = RateLimiter(None, "unused:"), RateLimiter(None, "unused:")
    assert [admitted(one, "2/minute", "bucket") for _ in range(3)] == [True, True, False]
    assert admitted(another, "2/minute", "bucket")
