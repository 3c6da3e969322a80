"""Rankings API and pages benchmark: latency at 1,000 and 10,000 runs of history, uncached and
cached, of the latest run and of every window; requests/s under gunicorn with 16 concurrent
clients beside the same server's /health/ rate; and the windows of measured runs.

    make benchmark-api          # or: .venv/bin/python -m scripts.benchmark_api
    BENCH_DATABASE_URL (admin URL, a scratch database is made and dropped), BENCH_REDIS_URL

History is made by copying one real run's summaries into N completed runs five minutes apart (the
default schedule's pace: 10,000 runs are 35 days) and rolling them up (rankings read summaries and
rollups, never raw samples, so this is what their cost depends on). "Uncached" requests each
ask for another run of the history (`run_id=<id>`, which every view reads), so every one misses
the cache and computes its answer (the data version is derived from the runs, so no request can
make it change on demand). Measured history is made alike, from one real run of each endpoint of
a fleet against a local streaming server (scripts/scheduled_server.py).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

from sqlalchemy import ColumnElement, Connection, Engine, create_engine, func, insert, literal, select, text

from scripts.harness import Client, first_run_and_key, gunicorn, percentile, scratch_environment
from scripts.scheduled_server import Schedule, ServerProcess
from src.adapters.persistence import orm
from src.adapters.persistence.rollups import rebuild
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.infrastructure.app import create_app

HISTORY_SIZES = (1000, 10_000)  # uncached requests need a run each: LATENCY_REQUESTS at least
ENDPOINTS = ("/metrics/?metric_name=TTFT", "/metrics/all", "/visualize", "/visualize/all")
LATENCY_REQUESTS = 300
WINDOWS = ("latest", "24h", "7d", "30d", "all")
WINDOW_ENDPOINTS = ("/metrics/?metric_name=TTFT&window={}", "/metrics/all?window={}")
WINDOW_REQUESTS = 200
WARM_UP = 5
CLIENTS = 16
PROCESSES = 2
ROUNDS = 7
BURST_SECONDS = 2.0
# Measured runs: a fleet of endpoints each measured every 30 minutes.
FLEET = {"gpt-4o": "GPT-4o", "haiku": "Claude 3 Haiku", "llama-70b": "Llama 3.1 70B", "gpt-4o-mini": "GPT-4o mini"}
MEASURED_ENDPOINTS = ("/metrics/?metric_name=TTFT&source=measured&group_by=endpoint&window={}",
                      "/metrics/all?source=measured&window={}")  # fmt: skip


def fill_history(environ: dict[str, str], runs: int) -> None:
    """Grow history to `runs` completed runs, copies of run 1 spaced five minutes back in time, and
    build their rollups as migration 0015 does."""
    engine = create_engine(create_app(environ).config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        have = connection.execute(text("SELECT count(*) FROM simulation_runs WHERE status = 'completed'")).scalar()
        newest = connection.execute(text("SELECT max(id) FROM simulation_runs")).scalar()
        connection.execute(
            text(
                "INSERT INTO simulation_runs (seed, samples_per_pair, source, status, created_at, started_at,"
                " finished_at, sample_count)"
                " SELECT seed, samples_per_pair, source, status, created_at - interval '5 minutes' * g,"
                " started_at - interval '5 minutes' * g, finished_at - interval '5 minutes' * g, sample_count"
                " FROM simulation_runs, generate_series(:have, :runs - 1) AS g WHERE id = 1"
            ),
            {"have": have, "runs": runs},
        )
        copy_summaries(connection, newest, literal(1))
        rebuild(connection)
    analyze(engine)


def measure_fleet(environ: dict[str, str]) -> None:
    """One real run of each endpoint of the FLEET, against a local streaming server."""
    benchmarks = create_app(environ).extensions["injector"].get(BenchmarkUseCases)
    with ServerProcess(Schedule(first_token=0.01, gap=0.001, tokens=32)) as server:
        for name, llm in FLEET.items():
            benchmarks.add_endpoint(name, llm, server.base_url, "m", None)
            benchmarks.run_now(name, benchmarks.plan(20, warmup=0))


def fill_measured_history(environ: dict[str, str], runs: int) -> None:
    """Grow measured history to `runs` runs of the FLEET: each endpoint's real run copied with its
    summaries every 30 minutes back in time; their rollups built as migration 0015 does."""
    engine = create_engine(create_app(environ).config["SQLALCHEMY_DATABASE_URI"])
    with engine.begin() as connection:
        have = connection.execute(text("SELECT count(*) FROM simulation_runs WHERE source = 'measured'")).scalar()
        newest = connection.execute(text("SELECT max(id) FROM simulation_runs")).scalar()
        connection.execute(
            text(
                "INSERT INTO simulation_runs (seed, samples_per_pair, source, status, created_at, started_at,"
                " finished_at, sample_count, endpoint_id, details, requested_by)"
                " SELECT seed, samples_per_pair, source, status, created_at - interval '30 minutes' * g,"
                " started_at - interval '30 minutes' * g, finished_at - interval '30 minutes' * g, sample_count,"
                " endpoint_id, details, requested_by"
                " FROM simulation_runs, generate_series(:have, :each - 1) AS g WHERE id IN"
                " (SELECT min(id) FROM simulation_runs WHERE source = 'measured' GROUP BY endpoint_id)"
            ),
            {"have": have // len(FLEET), "each": runs // len(FLEET)},
        )
        runs_table = orm.simulation_runs
        first = runs_table.alias("first")  # each endpoint's real run, the first it had
        real_run = select(func.min(first.c.id)).where(first.c.endpoint_id == runs_table.c.endpoint_id)
        copy_summaries(connection, newest, real_run.scalar_subquery())
        rebuild(connection)
    analyze(engine)


def copy_summaries(connection: Connection, newest: int, original_of: ColumnElement[int]) -> None:
    """Summaries for the runs after `newest`, copies of those of the run `original_of` names (a
    value or an expression of the copy's row). Columns by name: the table holds them in the order
    the migrations added them, not the model's."""
    runs, original = orm.simulation_runs, orm.metric_summaries.alias("original")
    columns = [c.name for c in orm.metric_summaries.c if c.name != "run_id"]
    copies = (
        select(runs.c.id, *(original.c[name] for name in columns))
        .select_from(runs.join(original, original.c.run_id == original_of))
        .where(runs.c.id > newest)
    )
    connection.execute(insert(orm.metric_summaries).from_select(["run_id", *columns], copies))


def analyze(engine: Engine) -> None:
    """As autovacuum does after many inserts: plans read fresh statistics."""
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    engine.dispose()


def window_latencies(environ: dict[str, str], api_key: str, path: str, requests: int = WINDOW_REQUESTS) -> list[float]:
    """Uncached: in process, through the whole Flask stack, with answers kept in the process
    (no Redis) and forgotten before each request, so each is computed again. (A server process
    keeps copies of its answers that nothing outside it can clear; a miss on Redis would add its
    two round trips, about 0.4 ms.)"""
    app = create_app({**environ, "CACHE_REDIS_URL": ""})
    app.warm_up()  # as a gunicorn worker readies itself
    client, answers = app.test_client(), app.extensions["response_cache"]
    samples = []
    for _ in range(WARM_UP):  # a new app's first requests open connections and build validators
        client.get(path, headers={"api-key": api_key})
    for _ in range(requests):
        answers.shared.clear()
        started = time.perf_counter()
        response = client.get(path, headers={"api-key": api_key})
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.headers["X-Cache"] == "miss", response.status_code
    return samples


def latencies(port: int, api_key: str, path: str, uncached: bool = False) -> list[float]:
    """`uncached`: each request for another run (run ids 1 to LATENCY_REQUESTS), so each misses."""
    client = Client(port, api_key)
    samples = []
    client.request("GET", path)  # warm the connection and the cache
    for run_id in range(1, LATENCY_REQUESTS + 1):
        asked = f"{path}{'&' if '?' in path else '?'}run_id={run_id}" if uncached else path
        started = time.perf_counter()
        assert client.request("GET", asked) == 200
        samples.append((time.perf_counter() - started) * 1000)
    client.close()
    return samples


def throughput(port: int, api_key: str, paths: list[str]) -> dict[str, tuple[list[float], Counter[str]]]:
    """Requests/s of each path in every round, and its failures by kind (status or error):
    CLIENTS keep-alive clients in PROCESSES processes (in one, their shared GIL would cap the rate)
    take the paths in turn, a BURST_SECONDS burst each, ROUNDS times. Interleaving puts every path
    under the same noise."""
    bursts = [path for _ in range(ROUNDS) for path in paths]
    start = time.time() + 1.0  # every process ready before the first burst
    with ProcessPoolExecutor(max_workers=PROCESSES) as pool:
        shares = [pool.submit(_clients, port, api_key, bursts, start, CLIENTS // PROCESSES) for _ in range(PROCESSES)]
        counts = [share.result() for share in shares]
    results: dict[str, tuple[list[float], Counter[str]]] = {path: ([], Counter()) for path in paths}
    for index, path in enumerate(bursts):
        rates, failures = results[path]
        rates.append(sum(share[index][0] for share in counts) / BURST_SECONDS)
        for share in counts:
            failures.update(share[index][1])
    return results


def _clients(port: int, api_key: str, bursts: list[str], start: float, count: int) -> list[tuple[int, Counter[str]]]:
    """(answered, failures by kind) per burst, for `count` client threads."""
    tallies: list[tuple[list[int], Counter[str]]] = [([0], Counter()) for _ in bursts]
    lock = threading.Lock()

    def client() -> None:
        connection = Client(port, api_key)
        for index, path in enumerate(bursts):
            done, failures = 0, Counter[str]()
            deadline = start + (index + 1) * BURST_SECONDS
            time.sleep(max(0.0, start + index * BURST_SECONDS - time.time()))
            while time.time() < deadline:
                try:
                    status = connection.request("GET", path)
                except OSError as error:
                    failures[type(error).__name__] += 1
                    continue
                if status == 200:
                    done += 1
                else:
                    failures[str(status)] += 1
            with lock:
                tallies[index][0][0] += done
                tallies[index][1].update(failures)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [(done[0], failures) for done, failures in tallies]


def main() -> None:
    with scratch_environment() as environ:
        api_key = first_run_and_key(environ)
        with gunicorn(environ) as port:
            print(f"gunicorn: 2 workers x 4 threads on 127.0.0.1:{port}; {LATENCY_REQUESTS} requests a row\n")
            print(f"{'runs':>6}  {'endpoint':<28}{'uncached p50':>13}{'p99 ms':>8}{'cached p50':>12}{'p99 ms':>8}")
            windows: dict[int, dict[tuple[str, str], list[float]]] = {}
            for runs in HISTORY_SIZES:
                fill_history(environ, runs)
                floor = latencies(port, api_key, "/health/")  # the host's noise, measured alongside
                print(f"{runs:>6}  {'/health/ (for reference)':<28}{'':>21}{percentile(floor, 50):>12.2f}"
                      f"{percentile(floor, 99):>8.2f}")  # fmt: skip
                for path in ENDPOINTS:
                    uncached = latencies(port, api_key, path, uncached=True)
                    cached = latencies(port, api_key, path)
                    print(
                        f"{runs:>6}  {path:<28}{percentile(uncached, 50):>13.2f}{percentile(uncached, 99):>8.2f}"
                        f"{percentile(cached, 50):>12.2f}{percentile(cached, 99):>8.2f}"
                    )
                windows[runs] = {
                    (window, path): window_latencies(environ, api_key, path.format(window))
                    for path in WINDOW_ENDPOINTS
                    for window in WINDOWS
                }
            print(f"\nwindows, uncached, {WINDOW_REQUESTS} requests each, in process (see window_latencies):")
            print(f"{'runs':>6}  {'endpoint':<44}{'p50 ms':>8}{'p99 ms':>8}")
            for runs, rows in windows.items():
                for (window, path), samples in rows.items():
                    print(
                        f"{runs:>6}  {path.format(window):<44}"
                        f"{percentile(samples, 50):>8.2f}{percentile(samples, 99):>8.2f}"
                    )
            print(
                f"\nthroughput ({HISTORY_SIZES[-1]:,} runs), {CLIENTS} keep-alive clients in {PROCESSES} processes;"
                f" the paths take turns, {BURST_SECONDS:.0f} s each, {ROUNDS} rounds; medians over the rounds:"
            )
            results = throughput(port, api_key, ["/health/", *ENDPOINTS])
            health_rates, _ = results.pop("/health/")
            print(f"  {'/health/':<28}{statistics.median(health_rates):>9,.0f} requests/s")
            for path, (rates, failures) in results.items():
                ratio = statistics.median(rate / health for rate, health in zip(rates, health_rates, strict=True))
                kinds = f" ({', '.join(f'{kind}: {n}' for kind, n in failures.most_common())})" if failures else ""
                print(
                    f"  {path:<28}{statistics.median(rates):>9,.0f} requests/s  {ratio:>5.0%} of /health/"
                    f"  errors: {failures.total()}{kinds}"
                )
        measured_windows(environ, api_key)


def measured_windows(environ: dict[str, str], api_key: str) -> None:
    measure_fleet(environ)
    print(
        f"\nmeasured windows, uncached, in process: runs of {len(FLEET)} endpoints, each measured every 30 minutes;"
        f" {WINDOW_REQUESTS} requests each"
    )
    print(f"{'runs':>6}  {'endpoint':<72}{'p50 ms':>8}{'p99 ms':>8}")
    for runs in HISTORY_SIZES:
        fill_measured_history(environ, runs)
        for path in MEASURED_ENDPOINTS:
            for window in WINDOWS:
                samples = window_latencies(environ, api_key, path.format(window))
                print(f"{runs:>6}  {path.format(window):<72}{percentile(samples, 50):>8.2f}"
                      f"{percentile(samples, 99):>8.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
