"""The domain: plain dataclasses, mapped onto tables by the persistence adapter."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from src.application.domain.errors import Forbidden
from src.application.domain.sketch import QuantileSketch


class Direction(enum.StrEnum):
    """Which way a metric improves; rankings put the best value first."""

    LOWER_IS_BETTER = "lower"
    HIGHER_IS_BETTER = "higher"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RunSource(enum.StrEnum):
    SIMULATED = "simulated"
    MEASURED = "measured"


class Role(enum.StrEnum):
    """What an API key may do; each role may do what the ones before it may."""

    READER = "reader"  # read rankings, runs and pages
    OPERATOR = "operator"  # also start simulations and measured runs
    ADMIN = "admin"  # also manage endpoints and other users' keys

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class Caller:
    """Who asks for work: the name runs and quotas are counted under, and its role. The schedule
    and the command line are the operator's own and count against no quota."""

    identity: str  # "bootstrap", "key:<id>", "schedule", "cli"
    role: Role
    limited: bool = True
    account: int | None = None  # the user whose key it is: quotas count the work of all its keys

    def require(self, needed: Role, action: str) -> None:
        if not self.role.allows(needed):
            allowed = [role.value for role in Role if role.allows(needed)]
            article = "an" if self.role is Role.OPERATOR else "a"  # a reader key, an operator key
            raise Forbidden(f"{action} needs the role {' or '.join(allowed)}; this key is {article} {self.role} key")


SCHEDULE = Caller("schedule", Role.ADMIN, limited=False)
COMMAND_LINE = Caller("cli", Role.ADMIN, limited=False)


@dataclass(eq=False)
class LLM:
    name: str
    vendor: str
    family: str | None = None  # e.g. "Llama 3.1"
    size: str | None = None  # e.g. "70B"
    id: int | None = None


@dataclass(eq=False)
class Metric:
    name: str
    description: str
    unit: str
    direction: Direction
    lower_bound: float
    upper_bound: float
    id: int | None = None

    def is_better(self, a: float, b: float) -> bool:
        """True when value a beats value b for this metric."""
        return a < b if self.direction is Direction.LOWER_IS_BETTER else a > b

    def raw_quantile(self, tail: float) -> float:
        """The quantile of the raw values a tail statistic reads: p99 is the 99th percentile of a
        lower-is-better metric and the 1st of a higher-is-better one (the slow tail of both)."""
        return tail if self.direction is Direction.LOWER_IS_BETTER else round(1.0 - tail, 12)


@dataclass(eq=False)
class Run:
    """A run: simulated (`samples_per_pair` samples drawn from the catalogue's profile of each LLM
    and metric) or measured (requests sent to an endpoint: `endpoint_id`, and the plan in
    `details`). `seed` seeds its random draws: the samples, or the arrival times of a measured run.
    Completed and failed are final."""

    seed: int
    created_at: datetime
    samples_per_pair: int | None = None  # simulated runs only
    source: RunSource = RunSource.SIMULATED
    status: RunStatus = RunStatus.QUEUED
    slot: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    sample_count: int = 0
    error: str | None = None
    endpoint_id: int | None = None  # measured runs: the endpoint measured
    details: dict[str, Any] | None = None  # measured runs: load shape, errors, overhead, tokens
    requested_by: str | None = None  # the Caller's identity
    # A completed run whose measurements cannot be trusted (its client was the bottleneck): why.
    # It is kept and can be ranked by its id, but the latest run and windows leave it out.
    invalid: str | None = None
    sweep_id: int | None = None  # measured runs: the sweep this run is a stage of
    campaign_id: int | None = None  # measured runs: the campaign this run is one endpoint's part of
    id: int | None = None

    @property
    def plan(self) -> dict[str, Any]:
        """A measured run's plan, as its details keep it."""
        plan: dict[str, Any] = (self.details or {})["plan"]
        return plan

    @property
    def requests(self) -> int | None:
        """A measured run's requests, as its plan asks (warm-ups aside); None for a simulated run."""
        return int(self.plan["requests"]) if self.source is RunSource.MEASURED else None

    @property
    def trusted(self) -> bool:
        """Completed, and its client kept up: its figures are the endpoint's."""
        return self.status is RunStatus.COMPLETED and self.invalid is None

    @property
    def is_finished(self) -> bool:
        """Completed or failed: either is final, so a late or repeated message changes nothing."""
        return self.status in (RunStatus.COMPLETED, RunStatus.FAILED)

    @property
    def failed_requests(self) -> str:
        """A measured run's failed requests, told: "3 of 20 failed (http_5xx 3)"; empty if none
        failed. Its figures are its answered requests': they say nothing of the failures."""
        details = self.details or {}
        errors = details.get("errors", {})
        if not errors:
            return ""
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(errors.items()))
        return f"{sum(errors.values())} of {details['requests_sent']} failed ({kinds})"  # written with errors

    def start(self, now: datetime) -> None:
        self.status = RunStatus.RUNNING
        self.started_at = now
        self.finished_at = None
        self.error = None

    def complete(self, now: datetime, sample_count: int, invalid: str | None = None) -> None:
        self.status = RunStatus.COMPLETED
        self.finished_at = now
        self.sample_count = sample_count
        self.invalid = invalid

    def fail(self, now: datetime, error: str) -> None:
        self.status = RunStatus.FAILED
        self.finished_at = now
        self.sample_count = 0
        self.error = error[:500]


class SweepLoad(enum.StrEnum):
    """What a sweep's stages raise: the requests in flight, or the arrival rate."""

    CONCURRENCY = "concurrency"
    RATE = "rate"


@dataclass(eq=False)
class Sweep:
    """Measured runs of one plan at rising loads, run one after another as its stages until
    throughput stops rising, errors pass a threshold, or the loads run out (services/sweeps.py).
    Its stages are the runs whose `sweep_id` is its id."""

    endpoint_id: int
    load: SweepLoad
    loads: list[float]  # the stages' loads, in order
    plan: dict[str, Any]  # each stage's plan but its load, as a run's details hold a plan
    min_gain: float  # a stage whose throughput rose less than this share over the best before ends it
    max_error_rate: float  # a stage with more of its requests failing ends it
    created_at: datetime
    requested_by: str | None = None
    status: RunStatus = RunStatus.QUEUED
    finished_at: datetime | None = None
    stop_reason: str | None = None  # why it ended: what a completed sweep found, or why it failed
    id: int | None = None

    def finish(self, now: datetime, status: RunStatus, reason: str) -> None:
        self.status = status
        self.finished_at = now
        self.stop_reason = reason[:500]


@dataclass(eq=False)
class Campaign:
    """Endpoints measured together: one plan, one seeded workload, one arrival schedule, their
    requests sent side by side in the same time window, so that what the hour does to the network
    and the providers' load falls on all of them alike. Each endpoint's part is a measured run whose
    `campaign_id` is its id; the campaign's state is theirs (use_cases/campaigns.py)."""

    created_at: datetime
    requested_by: str | None = None
    id: int | None = None


class MaxTokensField(enum.StrEnum):
    """The request field an endpoint's API reads the output limit from: most servers (vLLM, SGLang,
    TGI) read max_tokens; OpenAI's reasoning models refuse it and read max_completion_tokens."""

    MAX_TOKENS = "max_tokens"
    MAX_COMPLETION_TOKENS = "max_completion_tokens"


@dataclass(eq=False)
class Endpoint:
    """An OpenAI-compatible API serving one LLM of the catalogue. Its key stays in the environment
    variable it names: keys are never stored."""

    name: str
    llm_id: int
    base_url: str
    model: str
    api_key_env: str | None
    created_at: datetime
    max_tokens_field: MaxTokensField = MaxTokensField.MAX_TOKENS
    # Whether requests ask for token usage in the stream (stream_options): APIs that refuse fields
    # they do not know answer a body with it with a 4xx; without it, the tokenizer counts.
    stream_usage: bool = True
    id: int | None = None


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval. A side is None where the samples are too few to bound it: the
    interval is then insufficient, and what it belongs to is not ranked as a confident order."""

    low: float | None
    high: float | None

    @property
    def sufficient(self) -> bool:
        return self.low is not None and self.high is not None

    def holding(self, value: float) -> Interval:
        """This interval, each bounded side widened as far as `value` where it falls outside."""
        return Interval(
            None if self.low is None else min(self.low, value), None if self.high is None else max(self.high, value)
        )

    def overlaps(self, other: Interval) -> bool:
        below = self.high is None or other.low is None or other.low <= self.high
        above = self.low is None or other.high is None or self.low <= other.high
        return below and above


@dataclass(eq=False)
class MetricSummary:
    """Statistics of one (run, LLM, metric) pair: rankings read these, never raw samples.
    p90, p95 and p99 are tail statistics: read at the metric's raw_quantile, the slow tail."""

    run_id: int
    llm_id: int
    metric_id: int
    n: int
    mean: float
    std: float
    minimum: float
    maximum: float
    p50: float
    p90: float
    p95: float
    p99: float
    sketch: QuantileSketch  # for percentiles and their intervals over any set of runs
    # The 95% intervals of "mean", "p50", "p90", "p95" and "p99", from the raw values.
    intervals: dict[str, Interval]


@dataclass(eq=False)
class User:
    email: str
    password_hash: str
    created_at: datetime
    role: Role = Role.READER  # the most its keys may have
    session_generation: int = 0  # a log-out moves it on, ending every session issued before
    id: int | None = None


@dataclass(eq=False)
class ApiKey:
    name: str
    prefix: str
    key_hash: str
    created_at: datetime
    role: Role
    user_id: int | None  # None: the operator's own key, issued on the command line
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    id: int | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def identity(self) -> str:
        """What the runs it asks for record as `requested_by`."""
        return f"key:{self.id}"
