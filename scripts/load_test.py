"""Load test: concurrent clients against gunicorn, mixing rankings, pages and run triggers while
a Celery worker runs the simulations they ask for (each completed run invalidates the cache).
Prints requests/s, p50/p99 and errors.

    .venv/bin/python -m scripts.load_test                      # 32 clients for 60 s
    .venv/bin/python -m scripts.load_test --clients 32 --seconds 10

Exits 1 when any request failed (a status other than the one expected, or no answer).
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

from scripts.harness import Client, celery_worker, first_run_and_key, gunicorn, percentile, scratch_environment

METRICS = ["TTFT", "TPS", "e2e_latency", "RPS"]
RUN_BODY = json.dumps({"samples_per_pair": 20_000}).encode()  # about 1 million samples a run


def pick(rng: random.Random) -> tuple[str, str, str, bytes | None, int]:
    """(kind, method, path, body, expected status) of the next request, by the mix below."""
    roll = rng.random()
    metric = rng.choice(METRICS)
    if roll < 0.45:
        statistic = rng.choice(["mean", "median", "p95"])
        return "ranking", "GET", f"/metrics/?metric_name={metric}&statistic={statistic}", None, 200
    if roll < 0.60:
        return "overall", "GET", f"/metrics/all?statistic={rng.choice(['mean', 'median', 'p99'])}", None, 200
    if roll < 0.80:
        path = rng.choice([f"/visualize?metric_name={metric}", "/visualize/all"])
        return "page", "GET", path, None, 200
    if roll < 0.90:
        return "runs", "GET", "/runs?limit=5", None, 200
    return "history", "GET", f"/metrics/history?metric_name={metric}", None, 200


def run_load(
    port: int, api_key: str, clients: int, seconds: float, trigger_every: float, processes: int = 4
) -> dict[str, list]:
    """`clients` keep-alive clients spread over `processes` processes (one Python process would
    queue its own threads behind its GIL and blame the server), plus one run trigger."""
    deadline = time.time() + seconds
    shares = [list(range(i, clients, processes)) for i in range(processes)]
    with ProcessPoolExecutor(max_workers=processes + 1) as pool:
        futures = [pool.submit(_clients, port, api_key, share, deadline) for share in shares]
        futures.append(pool.submit(_trigger, port, api_key, deadline, trigger_every))
        results: dict[str, list] = defaultdict(list)
        for future in futures:
            for kind, samples in future.result().items():
                results[kind].extend(samples)
    return results


def _clients(port: int, api_key: str, indexes: list[int], deadline: float) -> dict[str, list]:
    results: dict[str, list] = defaultdict(list)
    lock = threading.Lock()

    def client(index: int) -> None:
        rng = random.Random(index)
        connection = Client(port, api_key)
        local: dict[str, list] = defaultdict(list)
        while time.time() < deadline:
            kind, method, path, body, expected = pick(rng)
            started = time.perf_counter()
            try:
                status = connection.request(method, path, body)
            except OSError:
                status = 0
            local[kind].append(((time.perf_counter() - started) * 1000, status == expected))
        connection.close()
        with lock:
            for kind, samples in local.items():
                results[kind].extend(samples)

    threads = [threading.Thread(target=client, args=(i,)) for i in indexes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(results)


def _trigger(port: int, api_key: str, deadline: float, every: float) -> dict[str, list]:
    """Asks for a simulation run every `every` seconds."""
    samples = []
    while time.time() < deadline:
        connection = Client(port, api_key)  # a new connection each time: idle ones get closed
        started = time.perf_counter()
        try:
            status = connection.request("POST", "/runs", RUN_BODY)
        except OSError:
            status = 0
        connection.close()
        samples.append(((time.perf_counter() - started) * 1000, status == 202))
        time.sleep(max(0.0, min(every, deadline - time.time())))
    return {"trigger": samples}


def report(results: dict[str, list], seconds: float) -> int:
    everything = [sample for samples in results.values() for sample in samples]
    errors = sum(not ok for _, ok in everything)
    print(f"{'requests':<10}{'count':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for kind, samples in [*sorted(results.items()), ("all", everything)]:
        latencies = [ms for ms, _ in samples]
        print(
            f"{kind:<10}{len(samples):>8}{len(samples) / seconds:>9.0f}{percentile(latencies, 50):>9.1f}"
            f"{percentile(latencies, 99):>9.1f}{sum(not ok for _, ok in samples):>8}"
        )
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--trigger-every", type=float, default=5.0, help="seconds between run triggers")
    parser.add_argument("--processes", type=int, default=4, help="processes the clients are spread over")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()
    with scratch_environment() as environ:
        environ["CELERY_BROKER_URL"] = environ["CACHE_REDIS_URL"]
        api_key = first_run_and_key(environ)
        with celery_worker(environ), gunicorn(environ, workers=args.workers) as port:
            print(
                f"{args.clients} clients in {args.processes} processes for {args.seconds:.0f} s against gunicorn"
                f" ({args.workers} workers x 4 threads),"
                f" a run of ~1 million samples triggered every {args.trigger_every:.0f} s\n"
            )
            results = run_load(port, api_key, args.clients, args.seconds, args.trigger_every, args.processes)
    errors = report(results, args.seconds)
    raise SystemExit(1 if errors else 0)


if __name__ == "__main__":
    main()
