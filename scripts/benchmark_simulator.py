"""Simulator benchmark: samples/s and peak memory of simulation runs on real PostgreSQL, beside
the naive approach of the original service (Python-generated rows, ORM bulk insert).

    make benchmark-simulator            # or: .venv/bin/python -m scripts.benchmark_simulator
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres  (admin URL; a scratch
    database is created and dropped)

Each measurement runs in a fresh process, so its peak resident memory is its own.
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Float, Integer, MetaData, String, Table, create_engine, text
from sqlalchemy.orm import Session

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RUNS = {"default": 1000, "large": 277_778}  # per (LLM, metric) pair, RPS one a run: 36,012 and 10,000,020 samples
NAIVE_SAMPLES_PER_PAIR = 1000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_run(database_url: str, samples_per_pair: int) -> dict[str, float]:
    from src.application.use_cases.simulation import SimulationUseCases
    from src.infrastructure.app import create_app

    app = create_app({"DATABASE_URL": database_url, "LOG_LEVEL": "warning"})
    simulations = app.extensions["injector"].get(SimulationUseCases)
    baseline = peak_rss_mb()
    started = time.perf_counter()
    run = simulations.run_now(seed=1, samples_per_pair=samples_per_pair)
    seconds = time.perf_counter() - started
    return {
        "samples": run.sample_count,
        "seconds": seconds,
        "baseline_mb": baseline,
        "peak_mb": peak_rss_mb(),
    }


def measure_naive(database_url: str, samples_per_pair: int) -> dict[str, float]:
    """What the original did: a Python loop of uniform draws, one ORM object per sample."""
    from sqlalchemy.orm import registry

    metadata = MetaData()
    table = Table(
        "naive_samples", metadata,
        Column("id", Integer, primary_key=True), Column("llm", String(100)), Column("metric", String(50)),
        Column("value", Float), Column("created_at", DateTime(timezone=True)),
    )  # fmt: skip

    class Row:
        def __init__(self, **fields: object):
            self.__dict__.update(fields)

    registry().map_imperatively(Row, table)
    engine = create_engine(database_url)
    metadata.create_all(engine)
    llms = [f"llm-{i}" for i in range(12)]
    metrics = ["TTFT", "TPS", "e2e_latency", "RPS"]
    started = time.perf_counter()
    with Session(engine) as session:
        rows = [
            Row(llm=llm, metric=metric, value=random.uniform(0.1, 100.0), created_at=datetime.now(UTC))
            for llm in llms
            for metric in metrics
            for _ in range(samples_per_pair)
        ]
        session.add_all(rows)
        session.commit()
    seconds = time.perf_counter() - started
    return {"samples": len(rows), "seconds": seconds, "baseline_mb": 0.0, "peak_mb": peak_rss_mb()}


def in_fresh_process(kind: str, database_url: str, samples_per_pair: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, "-m", "scripts.benchmark_simulator", kind, database_url, str(samples_per_pair)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(output.splitlines()[-1])


def main() -> None:
    from src.infrastructure.app import create_app
    from src.infrastructure.settings import Settings

    admin = create_engine(Settings.from_env({"DATABASE_URL": ADMIN_URL}).database_url, isolation_level="AUTOCOMMIT")
    name = f"jounce_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = str(admin.url.set(database=name).render_as_string(hide_password=False))
    try:
        app = create_app({"DATABASE_URL": database_url, "LOG_LEVEL": "warning"})
        runner = app.test_cli_runner()
        for command in (["db", "upgrade"], ["seed"]):
            assert runner.invoke(args=command).exit_code == 0
        results = {"naive (ORM rows, original)": in_fresh_process("naive", database_url, NAIVE_SAMPLES_PER_PAIR)}
        for label, samples_per_pair in RUNS.items():
            results[f"{label} run"] = in_fresh_process("run", database_url, samples_per_pair)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    header = ("measurement", "samples", "seconds", "samples/s", "peak RSS MB", "over baseline")
    print(f"{header[0]:<28}{header[1]:>12}{header[2]:>10}{header[3]:>14}{header[4]:>13}{header[5]:>15}")
    for label, r in results.items():
        rate = r["samples"] / r["seconds"]
        extra = f"{r['peak_mb'] - r['baseline_mb']:>15.1f}" if r["baseline_mb"] else f"{'':>15}"
        print(f"{label:<28}{r['samples']:>12,.0f}{r['seconds']:>10.3f}{rate:>14,.0f}{r['peak_mb']:>13.1f}{extra}")
    naive_rate = results["naive (ORM rows, original)"]["samples"] / results["naive (ORM rows, original)"]["seconds"]
    large = results["large run"]
    print(f"\nlarge run vs naive: {large['samples'] / large['seconds'] / naive_rate:.0f} times the rate")


if __name__ == "__main__":
    if len(sys.argv) == 4:
        kind, url, per_pair = sys.argv[1], sys.argv[2], int(sys.argv[3])
        measure = measure_run if kind == "run" else measure_naive
        print(json.dumps(measure(url, per_pair)))
    else:
        main()
