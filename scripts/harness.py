"""What the benchmark and load scripts share: a scratch database, a gunicorn server (and a Celery
worker), and small HTTP helpers. Everything runs on this machine's loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import redis
from sqlalchemy import create_engine, text

from src.application.domain.model import Role
from src.application.use_cases.accounts import AccountUseCases
from src.application.use_cases.simulation import SimulationUseCases
from src.infrastructure.app import create_app
from src.infrastructure.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASE_PREFIX = os.environ.get("BENCH_DATABASE_PREFIX", "jounce_bench_")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def scratch_environment(**overrides: str) -> Iterator[dict[str, str]]:
    """A migrated, seeded scratch database and a private Redis prefix; both removed afterwards."""
    admin = create_engine(Settings.from_env({"DATABASE_URL": ADMIN_URL}).database_url, isolation_level="AUTOCOMMIT")
    name = f"{DATABASE_PREFIX}{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    own = f"jounce-bench-{uuid.uuid4().hex[:6]}"  # in every Redis key this environment makes
    environ = {
        "DATABASE_URL": str(admin.url.set(database=name).render_as_string(hide_password=False)),
        "CACHE_REDIS_URL": REDIS_URL,
        "CACHE_KEY_PREFIX": own + ":",
        "CELERY_QUEUE": own + "-runs",
        "LOG_LEVEL": "warning",
        "RATE_LIMIT": "1000000/minute",  # measure the service, not its limiter's refusals
        "QUOTA_QUEUED_RUNS": "1000000",  # nor its quotas'
        "QUOTA_SAMPLES_PER_DAY": str(10**12),
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
        # Cache entries, rate-limit counters, and the queue's broker keys (bindings, messages).
        keys = list(cache.scan_iter(match=f"*{own}*"))
        if keys:
            cache.delete(*keys)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def first_run_and_key(environ: dict[str, str]) -> str:
    """A first simulated run (seed 1, as every benchmark's history starts from) and an issued key."""
    create_app(environ).extensions["injector"].get(SimulationUseCases).run_now(seed=1)
    return issue_api_key(environ)


def issue_api_key(environ: dict[str, str]) -> str:
    """A key issued as users get theirs (verified against the database), not the bootstrap key; an
    operator's, as the load triggers runs."""
    accounts = create_app(environ).extensions["injector"].get(AccountUseCases)
    return accounts.issue_api_key("benchmark", role=Role.OPERATOR).secret


@contextlib.contextmanager
def gunicorn(environ: dict[str, str], workers: int = 2) -> Iterator[int]:
    """gunicorn as shipped (gunicorn.conf.py: gthread workers of 4 threads) serving create_app()
    with `environ` on a free loopback port, every worker booted; yields the port."""
    port = free_port()
    with tempfile.TemporaryFile("w+") as log:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers),
             "--bind", f"127.0.0.1:{port}", "--log-level", "info", "app:create_app()"],
            cwd=ROOT, env={**os.environ, **environ}, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        try:
            wait_until_booted(log, workers)
            wait_until_up(port)
            yield port
        finally:
            server.terminate()
            server.wait(timeout=30)


def wait_until_booted(log: IO[str], workers: int) -> None:
    """Until gunicorn's log says every worker is ready (gunicorn.conf.py's post_worker_init)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log.seek(0)
        if log.read().count("Worker ready") >= workers:
            return
        time.sleep(0.2)
    log.seek(0)
    raise SystemExit(f"gunicorn's workers did not boot:\n{log.read()}")


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


class Client:
    """A keep-alive HTTP/1.1 client on a raw socket, sending the API key.

    It does a fraction of http.client's work a request: on a 2-core machine every cycle the load
    generator spends is taken from the server it measures.
    """

    def __init__(self, port: int, api_key: str | None = None, timeout: float = 10.0):
        self.address = ("127.0.0.1", port)
        self.headers = f"Host: 127.0.0.1:{port}\r\n" + (f"api-key: {api_key}\r\n" if api_key else "")
        self.timeout = timeout
        self.connection: socket.socket | None = None
        self.received = b""

    def request(self, method: str, path: str, body: bytes | None = None) -> int:
        """The response's status, its body read; OSError when the connection fails (then closed)."""
        message = f"{method} {path} HTTP/1.1\r\n{self.headers}"
        if body is not None:
            message += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        try:
            if self.connection is None:
                self.connection = socket.create_connection(self.address, timeout=self.timeout)
            self.connection.sendall(message.encode() + b"\r\n" + (body or b""))
            return self._response()
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection, self.received = None, b""

    def _response(self) -> int:
        while b"\r\n\r\n" not in self.received:
            self._receive()
        head, self.received = self.received.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.split(b"\r\n")
        headers = {name.strip().lower(): value.strip() for name, _, value in (h.partition(b":") for h in header_lines)}
        if b"transfer-encoding" in headers:
            raise OSError("chunked responses are not read by this client")
        length = int(headers.get(b"content-length", 0))
        while len(self.received) < length:
            self._receive()
        self.received = self.received[length:]
        if headers.get(b"connection", b"").lower() == b"close":
            self.close()
        return int(status_line.split()[1])

    def _receive(self) -> None:
        assert self.connection is not None
        chunk = self.connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self.received += chunk


def wait_until_up(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if Client(port, timeout=1).request("GET", "/health/") == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else float("nan")
