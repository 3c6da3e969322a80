"""What the benchmark and load scripts share: a scratch database, a gunicorn server (and a Celery
worker), and small HTTP helpers. Everything runs on this machine's loopback."""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import redis
from sqlalchemy import create_engine, text

from src.infrastructure.app import create_app
from src.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
API_KEY = "bench-key"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def scratch_environment(**overrides: str) -> Iterator[dict[str, str]]:
    """A migrated, seeded scratch database and a private Redis prefix; both removed afterwards."""
    admin = create_engine(Settings.from_env({"DATABASE_URL": ADMIN_URL}).database_url, isolation_level="AUTOCOMMIT")
    name = f"jounce_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    prefix = f"jounce-bench-{uuid.uuid4().hex[:6]}:"
    environ = {
        "DATABASE_URL": str(admin.url.set(database=name).render_as_string(hide_password=False)),
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": prefix,
        "API_KEY": API_KEY,
        "LOG_LEVEL": "warning",
        "RATE_LIMIT": "1000000/minute",  # measure the service, not its limiter's refusals
        **overrides,
    }
    cache = redis.Redis.from_url(REDIS_URL)
    try:
        runner = create_app(environ).test_cli_runner()
        for command in (["db", "upgrade"], ["seed"]):
            result = runner.invoke(args=command)
            assert result.exit_code == 0, result.output
        yield environ
    finally:
        keys = list(cache.scan_iter(match=prefix + "*"))  # cache entries and rate-limit counters
        if keys:
            cache.delete(*keys)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def gunicorn(environ: dict[str, str], workers: int = 2, threads: int = 8) -> Iterator[int]:
    """gunicorn serving create_app() with `environ` on a free loopback port; yields the port."""
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers), "--threads", str(threads),
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "app:create_app()"],
        cwd=ROOT, env={**os.environ, **environ}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_until_up(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def celery_worker(environ: dict[str, str]) -> Iterator[None]:
    worker = subprocess.Popen(
        [str(Path(sys.executable).with_name("celery")), "-A", "src.celery", "worker", "--pool=solo",
         "--loglevel=WARNING", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env={**os.environ, **environ}, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield
    finally:
        worker.terminate()
        worker.wait(timeout=30)


def request(connection: http.client.HTTPConnection, method: str, path: str, body: str | None = None) -> int:
    headers = {"api-key": API_KEY}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if request(http.client.HTTPConnection("127.0.0.1", port, timeout=1), "GET", "/health/") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")
