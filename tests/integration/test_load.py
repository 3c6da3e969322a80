"""The load script's short version: 32 clients for 10 s while runs are triggered and simulated."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ADMIN_DATABASE_URL, DATABASE_PREFIX, REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_ten_seconds_of_mixed_load_while_simulating_cause_no_errors(admin_engine, redis_client):
    result = subprocess.run(
        [sys.executable, "-m", "scripts.load_test", "--clients", "32", "--seconds", "10", "--trigger-every", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "BENCH_DATABASE_URL": ADMIN_DATABASE_URL, "BENCH_REDIS_URL": REDIS_URL,
             "BENCH_DATABASE_PREFIX": DATABASE_PREFIX},  # the servers (and prefix) the suite was given
    )  # fmt: skip
    print(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.splitlines()[-1].split()
    assert summary[0] == "all" and int(summary[1]) > 1000 and summary[-1] == "0"
    trigger = next(line.split() for line in result.stdout.splitlines() if line.startswith("trigger"))
    assert int(trigger[1]) >= 3 and trigger[-1] == "0"  # runs were asked for, and accepted
