"""A measured run split across workers: each shard sends its share of the load, starting at an
agreed moment, and their requests are merged into one run.

- Shares: shard i of k sends requests i, i + k, i + 2k, ... of the run's (the same prompts, in
  the same order, as one worker would), with its share of the concurrency and warm-ups and 1/k
  of the arrival rate; its arrivals are seeded by the run's seed plus i.
- Time: each shard's monotonic clock is its own (another process, maybe another host). A shard
  reads the wall clock and its monotonic clock at the same moment, when its measured requests
  may start; the merge puts every shard's times on one timeline by those wall-clock origins, so
  hosts must keep their clocks in step (NTP: a few milliseconds), which moves no latency: each is
  a difference on one clock.
- Together: shards wait, after their warm-ups, for the run's start moment; a shard that could not
  start within START_SPREAD_S of the others (its worker was busy) left the load short of whole,
  and the run is marked invalid with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from src.application.ports.llm_client import Chunk, RequestOutcome

START_SPREAD_S = 1.0  # shards that started further apart than this did not load the endpoint together


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    start_at: float | None = None  # wall-clock seconds (Unix time) when measured requests may start

    def share(self, total: int) -> int:
        """This shard's share of `total`: as even as whole numbers allow, the first shards one more."""
        return total // self.count + (1 if self.index < total % self.count else 0)

    def picks(self, items: Sequence[Any]) -> list[Any]:
        """Its items of a run's ordered items: i, i + k, i + 2k, ..."""
        return list(items[self.index :: self.count])


WHOLE = Shard(0, 1)


@dataclass(frozen=True)
class ShardResult:
    """What a shard measured, for the merge: its outcomes on its own monotonic clock, and where
    that clock stood (`origin`) at the wall-clock moment `origin_wall`."""

    index: int
    worker: str
    outcomes: list[RequestOutcome]
    origin: float
    origin_wall: float
    wall: float
    lags: list[float]
    lateness: list[float]
    cpu_s: float
    error: str | None = None  # the shard could not measure: why
    held: int = 0  # arrivals that waited for a slot (`Driven.held`)

    def as_message(self) -> dict[str, Any]:
        """Plain JSON for the task queue."""
        return asdict(self)

    @classmethod
    def of_message(cls, message: dict[str, Any]) -> ShardResult:
        outcomes = [
            RequestOutcome(**(o | {"chunks": tuple(Chunk(**c) for c in o["chunks"])})) for o in message["outcomes"]
        ]
        return cls(**(message | {"outcomes": outcomes}))


@dataclass(frozen=True)
class Merged:
    outcomes: list[RequestOutcome]  # on one timeline, whose 0 is the earliest shard's start
    wall: float  # from the first shard's start to the last one's end
    starts: list[float]  # each shard's start on that timeline, by shard


def merge(results: Sequence[ShardResult]) -> Merged:
    first = min(result.origin_wall for result in results)
    outcomes: list[RequestOutcome] = []
    starts, ends = [], []
    for result in sorted(results, key=lambda r: r.index):
        start = result.origin_wall - first
        outcomes += [shifted(o, start - result.origin) for o in result.outcomes]
        starts.append(start)
        ends.append(start + result.wall)
    return Merged(outcomes, max(ends) if ends else 0.0, starts)


def shifted(outcome: RequestOutcome, by: float) -> RequestOutcome:
    """The outcome with every moment moved by `by` seconds (its durations unchanged)."""

    def moved(moment: float | None) -> float | None:
        return None if moment is None else moment + by

    return replace(
        outcome,
        started=outcome.started + by,
        finished=outcome.finished + by,
        first_token_at=moved(outcome.first_token_at),
        headers_at=moved(outcome.headers_at),
        first_chunk_at=moved(outcome.first_chunk_at),
        first_reasoning_at=moved(outcome.first_reasoning_at),
        chunks=tuple(replace(c, at=c.at + by) for c in outcome.chunks),
    )
