"""The production shape withstands clients that send their requests slowly: gunicorn's threads
alone are held by them, the buffering proxy in front (nginx, as compose ships it) is not."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts.harness import gunicorn
from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]
# gunicorn as shipped has 2 workers x 4 threads; which worker takes a connection is up to the
# kernel, so slow clients are added until both are held (16 usually do it), at most this many.
MOST_SLOW_CLIENTS = 128
pytestmark = pytest.mark.slow


@contextlib.contextmanager
def nginx(upstream_port: int, tmp_path: Path) -> Iterator[int]:
    """nginx with the compose file's configuration, in front of 127.0.0.1:upstream_port."""
    port = free_port()
    config = (ROOT / "deployment/nginx/jounce.conf").read_text()
    config = config.replace("${JOUNCE_UPSTREAM}", f"127.0.0.1:{upstream_port}")
    config = config.replace("${JOUNCE_PROXY_PORT}", f"127.0.0.1:{port}")
    (tmp_path / "jounce.conf").write_text(config)
    server = subprocess.Popen(
        ["/usr/sbin/nginx", "-p", str(tmp_path), "-c", str(tmp_path / "jounce.conf"),
         "-g", f"pid {tmp_path}/nginx.pid; daemon off;"],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(port)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def slow_client(port: int) -> socket.socket:
    """A client that sends the start of a request's headers and then nothing."""
    client = socket.create_connection(("127.0.0.1", port), timeout=5)
    client.sendall(b"GET /health/ HTTP/1.1\r\nHost: jounce\r\nX-Slow: ")
    return client


def health_answers_within(port: int, seconds: float) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=seconds) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def served(environ) -> Iterator[int]:
    with gunicorn(environ) as port:
        yield port


def held(port: int) -> bool:
    """Nothing answered: three probes in a row (each lands on a worker the kernel picks)."""
    return not any(health_answers_within(port, 1.0) for _ in range(3))


def test_slow_clients_hold_every_gunicorn_thread_when_nothing_stands_in_front(served):
    clients: list[socket.socket] = []
    try:
        # Held once is the finding: probing again would ask the same of a server whose slow
        # clients may by then have been let go.
        while not (now_held := held(served)) and len(clients) < MOST_SLOW_CLIENTS:
            clients += [slow_client(served) for _ in range(8)]
            time.sleep(0.3)  # let the workers take them in
        assert now_held, f"{len(clients)} slow clients held nothing"
    finally:
        for client in clients:
            client.close()
    assert health_answers_within(served, 5.0)  # and it recovers once they go


def test_behind_the_buffering_proxy_slow_clients_hold_nothing(served, tmp_path):
    with nginx(served, tmp_path) as port:
        clients = [slow_client(port) for _ in range(MOST_SLOW_CLIENTS)]
        try:
            time.sleep(0.5)
            started = time.monotonic()
            assert health_answers_within(port, 2.0) and time.monotonic() - started < 1.0
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/metrics", timeout=2) as response:
                pytest.fail(f"the proxy routed the metrics ({response.status})")
        except urllib.error.HTTPError as error:
            assert error.code == 404
        finally:
            for client in clients:
                client.close()
