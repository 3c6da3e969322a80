"""Rate limits hold across gunicorn workers: their counters are shared in Redis."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def status(port: int, path: str, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)  # a new connection each time
    try:
        connection.request("GET", path, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize(
    "rate, requests, accepted",
    [
        ("10/minute", 30, 10),
        ("400/minute", 450, 400),
    ],
)
def test_an_allowance_holds_whichever_worker_answers(
    environ, clean_app, api_headers, tmp_path, rate, requests, accepted
):
    port = free_port()
    access_log = tmp_path / "access.log"
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("gunicorn")), "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--access-logfile", str(access_log), "--access-logformat", "%(p)s %(s)s", "app:create_app()"],
        cwd=ROOT, env={**os.environ, **environ, "RATE_LIMIT": rate},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while len(answering_workers(access_log)) < 2:  # until both workers have booted and answered
            assert time.monotonic() < deadline, "gunicorn did not start two workers"
            try:
                with ThreadPoolExecutor(max_workers=4) as clients:
                    list(clients.map(lambda _: status(port, "/health/", {}), range(8)))
            except OSError:
                time.sleep(0.2)
        access_log.write_text("")
        with ThreadPoolExecutor(max_workers=10) as clients:  # concurrent, so both workers take some
            statuses = list(clients.map(lambda _: status(port, "/runs", api_headers), range(requests)))  # not cached
    finally:
        server.terminate()
        server.wait(timeout=20)
    assert statuses.count(200) == accepted and statuses.count(429) == requests - accepted
    assert len(answering_workers(access_log)) == 2, "both workers should have answered"


def answering_workers(access_log: Path) -> set[str]:
    lines = access_log.read_text().splitlines() if access_log.exists() else []
    return {line.split()[0] for line in lines if line.strip()}
