"""The embedded default that `make run` starts: SQLite, in-process cache and scheduler, no servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.support.network import free_port

ROOT = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).with_name("flask"))


def get_json(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_serve_migrates_seeds_simulates_at_once_then_on_its_schedule(tmp_path):
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CACHE_REDIS_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"}
    }
    environment |= {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'jounce.db'}",
        "API_KEY": "embedded-key",
        "FLASK_APP": "app",
        # On every minute (the default is every fifth): the test waits for the next, 30 s on average.
        "SIMULATION_SCHEDULE": "* * * * *",
    }
    subprocess.run([FLASK, "db", "upgrade"], cwd=ROOT, env=environment, check=True, capture_output=True)
    server = subprocess.Popen(
        [FLASK, "serve", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = get_json(f"http://127.0.0.1:{port}/ready")
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "the server did not start"
                time.sleep(0.2)
        assert (status, body["checks"]) == (200, {"database": "ok", "cache": "ok"})
        assert get_json(f"http://127.0.0.1:{port}/health/")[0] == 200
        status, runs = get_json(f"http://127.0.0.1:{port}/runs", {"api-key": "embedded-key"})
        assert status == 200
        assert runs["runs"][-1]["status"] == "completed"  # the first start's, before the schedule's first
        # Past SQLite's integers an id in a path is still a 404, not an error of the database's.
        assert get_json(f"http://127.0.0.1:{port}/runs/{2**63}", {"api-key": "embedded-key"})[0] == 404

        def completed_runs() -> int:
            runs = get_json(f"http://127.0.0.1:{port}/runs?status=completed", {"api-key": "embedded-key"})[1]
            return runs["total"]

        deadline = time.monotonic() + 150
        while completed_runs() < 2:
            assert time.monotonic() < deadline and server.poll() is None, "no scheduled run completed"
            time.sleep(1)
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode()
    assert f"http://127.0.0.1:{port}" in output and "embedded-key" in output
    assert "first start: simulated run 1 (" in output and "(simulations on schedule '* * * * *')" in output
    assert "Traceback" not in output and "failed" not in output
