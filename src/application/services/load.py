"""Load shapes for measured runs: a fixed number of requests in flight, or Poisson arrivals."""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from src.application.ports.llm_client import RequestOutcome


@dataclass(frozen=True)
class LoadShape:
    concurrency: int  # requests in flight at once (for Poisson arrivals: the most at once)
    rate: float | None = None  # Poisson arrivals per second; None: each slot sends back to back

    def describe(self) -> dict[str, object]:
        if self.rate is None:
            return {"shape": "fixed_concurrency", "concurrency": self.concurrency}
        return {"shape": "poisson", "rate_per_second": self.rate, "max_concurrency": self.concurrency}


def drive(
    send: Callable[[], RequestOutcome],
    total: int,
    shape: LoadShape,
    seed: int = 0,
    on_done: Callable[[RequestOutcome], None] | None = None,
    max_seconds: float = math.inf,
) -> tuple[list[RequestOutcome], float]:
    """Send `total` requests in the given shape; the outcomes (in finishing order) and wall seconds.
    No request starts after `max_seconds`: those are left out of the outcomes."""
    outcomes: list[RequestOutcome] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + max_seconds

    def one() -> None:
        if time.perf_counter() > deadline:
            return
        outcome = send()
        with lock:
            outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    with ThreadPoolExecutor(max_workers=shape.concurrency, thread_name_prefix="load") as pool:
        if shape.rate is None:
            for _ in range(total):
                pool.submit(one)
        else:
            # Arrival times, not secrets: a seeded generator keeps runs reproducible.
            arrivals = random.Random(seed)  # nosec B311
            next_at = started
            for _ in range(total):
                next_at += arrivals.expovariate(shape.rate)
                if next_at > deadline:
                    break
                time.sleep(max(0.0, next_at - time.perf_counter()))
                pool.submit(one)
    return outcomes, time.perf_counter() - started
