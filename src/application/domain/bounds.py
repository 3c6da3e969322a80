"""The ranges of what callers may ask for, in one place: the use cases enforce them, and the API
models and the CLI read them (the API document shows them)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from src.application.domain.errors import InvalidParameter


@dataclass(frozen=True)
class Bound:
    """low <= value <= high, or low < value <= high when `open_below`."""

    low: int | float
    high: int | float
    open_below: bool = False

    def admits(self, value: int | float) -> bool:
        above = self.low < value if self.open_below else self.low <= value
        return above and value <= self.high

    @property
    def range(self) -> str:
        low, high = _shown(self.low), _shown(self.high)
        if self.open_below:
            return f"above {low} and at most {high}"
        return f"between {low} and {high}"

    def explained(self, name: str) -> str:
        return f"{name} must be {self.range}"

    def check(self, name: str, value: int | float, parameter: str | None = None) -> None:
        """`parameter`: the field at fault, where `name` says more than its name."""
        if not self.admits(value):
            raise InvalidParameter(f"{self.explained(name)}, got {value}", parameter=parameter or name)


def _shown(end: int | float) -> int | float:
    return int(end) if isinstance(end, float) and end.is_integer() else end


# Memory grows with samples per pair (one LLM is drawn at a time): this cap keeps a run under
# 300 MB peak (296 MB measured at the cap, 96 million samples, intervals included).
SAMPLES_PER_PAIR = Bound(2, 2_000_000)
SEED = Bound(0, 2**63 - 1)  # numpy's seeds, and PostgreSQL's BIGINT


def fresh_seed() -> int:
    """A random seed within SEED, for a run asked for without one."""
    return secrets.randbits(63)


# A measured run's plan.
REQUESTS = Bound(1, 10_000)
CONCURRENCY = Bound(1, 256)  # a simulated run's load (the load model's calibrated range)
STREAMS = Bound(1, 1000)  # a measured run's requests in flight: one worker's event loop holds them
RATE = Bound(0, 1000, open_below=True)  # requests per second
BURSTINESS = Bound(0, 100, open_below=True)  # the gamma shape of the gaps between arrivals
WARMUP = Bound(0, 100)
MAX_TOKENS = Bound(1, 8192)
INPUT_TOKENS = Bound(1, 131_072)  # a measured prompt's length in tokens
PROMPTS = Bound(1, 10_000)  # prompts a plan may carry (a JSONL prompt file's lines)
PROMPT_CHARS = Bound(1, 5_000_000)  # their characters together: they are stored with the run
INPUT_SPREAD = Bound(0, INPUT_TOKENS.high - 1)  # its spread, and its shared prefix
SLO_MS = Bound(0, 3_600_000, open_below=True)  # a service-level objective's latency threshold
ATTAINMENT = Bound(0, 1, open_below=True)  # the share of requests an SLO asks to meet it
CAMPAIGN_ENDPOINTS = Bound(2, 16)  # endpoints measured together: one worker sends to them all
SCHEDULED_ENDPOINTS = Bound(1, 100)  # a schedule's endpoints (at most CAMPAIGN_ENDPOINTS together)
JITTER_S = Bound(0, 3600)  # a firing's delay: below the broker's visibility timeout, which redelivers later ones
SWEEP_STAGES = Bound(2, 12)  # a sweep's loads: enough to find a knee, few enough to bound its cost
MIN_GAIN = Bound(0.0, 1.0)  # the throughput gain below which a sweep stops
MAX_ERROR_RATE = Bound(0.0, 1.0)  # the share of failed requests above which a sweep stops

# Reading.
ROW_ID = Bound(1, 2**31 - 1)  # a stored run's, sweep's, campaign's or key's id: PostgreSQL's INTEGER
HISTORY_RUNS = Bound(1, 1000)
RUNS_READ = Bound(1, 1000)  # measured runs read one by one at most: an endpoint's baseline of its status
PAGE_SIZE = Bound(1, 100)
OFFSET = Bound(0, 10**9)
