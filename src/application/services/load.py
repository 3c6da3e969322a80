"""Load shapes for measured runs, on one event loop: a fixed number of requests in flight, or
arrivals at a rate (at most a set number in flight): Poisson, or gamma-distributed gaps whose
burstiness sets how they bunch (1: Poisson; below 1, bursts and lulls; above 1, evener)."""

from __future__ import annotations

import asyncio
import gc
import math
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from src.application.ports.llm_client import RequestOutcome
from src.application.services.measures import LAG_PROBE_S

T = TypeVar("T")


def on_own_loop(
    coroutine: Coroutine[Any, Any, T], new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
) -> T:
    """Runs `coroutine` on a new event loop in a thread of its own: the caller's thread may have
    a loop running already (a browser driver's, an async server's), and a run's timings should not
    share one anyway."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="measure") as thread:
        return thread.submit(asyncio.run, coroutine, loop_factory=new_loop).result()


@dataclass(frozen=True)
class LoadShape:
    concurrency: int  # requests in flight at once (for Poisson arrivals: the most at once)
    rate: float | None = None  # arrivals per second; None: each slot sends back to back
    burstiness: float = 1.0  # the gamma shape of the gaps between arrivals (mean gap 1 / rate)

    def describe(self) -> dict[str, object]:
        if self.rate is None:
            return {"shape": "fixed_concurrency", "concurrency": self.concurrency}
        if self.burstiness == 1.0:
            return {"shape": "poisson", "rate_per_second": self.rate, "max_concurrency": self.concurrency}
        return {"shape": "gamma", "rate_per_second": self.rate, "burstiness": self.burstiness,
                "max_concurrency": self.concurrency}  # fmt: skip

    def gap(self, arrivals: random.Random) -> float:
        """Seconds to the next arrival: exponential (Poisson) at burstiness 1, gamma otherwise."""
        assert self.rate is not None
        if self.burstiness == 1.0:
            return arrivals.expovariate(self.rate)  # as before gamma arrivals: seeds keep their schedules
        return arrivals.gammavariate(self.burstiness, 1 / (self.rate * self.burstiness))


class Driven(NamedTuple):
    outcomes: list[RequestOutcome]  # in finishing order
    wall: float  # seconds from the first request's start to the last one's end
    lateness: list[float]  # arrivals at a rate: how late each request left after its time (seconds)
    held: int  # arrivals at a rate that found the plan's most in flight sending, and waited for a slot


async def drive(
    send: Callable[[], Awaitable[RequestOutcome]],
    total: int,
    shape: LoadShape,
    seed: int = 0,
    on_done: Callable[[RequestOutcome], None] | None = None,
    max_seconds: float = math.inf,
) -> Driven:
    """Send `total` requests in the given shape. No request starts after `max_seconds`: those are
    left out of the outcomes."""
    outcomes: list[RequestOutcome] = []
    lateness: list[float] = []
    held = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    slots = asyncio.Semaphore(shape.concurrency)

    async def one() -> None:
        try:
            outcome = await send()
        finally:
            slots.release()
        outcomes.append(outcome)  # one event loop: no lock needed
        if on_done:
            on_done(outcome)

    # Arrival times, not secrets: a seeded generator keeps runs reproducible.
    arrivals = random.Random(seed)  # nosec B311
    next_at = free_at = started  # free_at: when the last arrival found a free slot
    async with asyncio.TaskGroup() as requests:
        for _ in range(total):
            if shape.rate is not None:
                next_at += shape.gap(arrivals)
                if next_at > deadline:
                    break
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                # The event loop's doing only: an arrival due while the one before waited for a slot
                # (the plan's most in flight) was held back by the plan, not by the client.
                lateness.append(time.perf_counter() - max(next_at, free_at))
            if shape.rate is not None and slots.locked():
                held += 1
            await slots.acquire()  # fixed concurrency: the next request as soon as one ends
            free_at = time.perf_counter()
            if time.perf_counter() > deadline:
                slots.release()
                break
            requests.create_task(one())
            if shape.rate is None:
                # One request begins a turn of the event loop, and reads that arrived meanwhile are
                # stamped between them: when 512 streams ended together, starting all their
                # successors at once held every other stream's stamps 30-65 ms.
                await asyncio.sleep(0)
    return Driven(outcomes, time.perf_counter() - started, lateness, held)


@dataclass(frozen=True)
class Watched(Generic[T]):
    """Requests driven (one drive, or several side by side), with what the client saw of itself
    meanwhile (services/measures.py's self-check reads it)."""

    driven: T
    origin: float  # when the first could be sent (monotonic)
    origin_wall: float  # the same moment on the wall clock (Unix time): shards of a run line up by it
    cpu_s: float  # CPU time of the event loop's thread over the run
    lags: list[float]  # each lag probe's lateness, seconds


async def watched(driving: Awaitable[T]) -> Watched[T]:
    """Drives the requests (a `drive(...)` not yet awaited, or several gathered) with the event loop's lag probed and
    its thread's CPU time counted.

    Python's cyclic garbage collector is paused meanwhile: a full collection walks every object
    the run has kept (its timelines grow by a chunk a token). At 1,000 streams the median first
    token was stamped 13-18 ms late with it running (the loop's lag reached 215 ms), 1 ms with it
    paused. A run is bounded in requests and time, so what it leaves for the collector is too."""
    lags: list[float] = []
    probe = asyncio.create_task(_probe_lag(lags))
    origin, origin_wall, cpu = time.perf_counter(), time.time(), time.thread_time()  # the loop's thread: this one
    collecting = gc.isenabled()
    gc.disable()
    try:
        driven = await driving
    finally:
        if collecting:
            gc.enable()
        probe.cancel()
    return Watched(driven, origin, origin_wall, time.thread_time() - cpu, lags)


async def _probe_lag(lags: list[float]) -> None:
    while True:
        due = time.perf_counter() + LAG_PROBE_S
        await asyncio.sleep(LAG_PROBE_S)
        lags.append(time.perf_counter() - due)
