"""Waiting for work handed to the workers, or to other processes, to finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until_finished(client: Any, headers: dict[str, str], path: str, timeout: float = 30.0) -> dict[str, Any]:
    """GET `path` until what it answers (a run or a sweep: the body's one member) is completed or
    failed, and return it."""
    return wait_for_status(client, headers, path, {"completed", "failed"}, timeout)


def wait_for_status(
    client: Any, headers: dict[str, str], path: str, statuses: set[str], timeout: float = 30.0
) -> dict[str, Any]:
    """GET `path` until what it answers (the body's one member) has one of `statuses`, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        (found,) = client.get(path, headers=headers).json.values()
        if found["status"] in statuses:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} still {found['status']}, not one of {sorted(statuses)}, after {timeout} s")
        time.sleep(0.05)


def eventually(check: Callable[[], T], timeout: float = 15.0) -> T:
    """`check()` once it is true, or its last (false) answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.25)
