"""What a sweep's stages say, defined once: when the sweep stops, where its knee is, and the
largest load that met its SLO. Each stage is a measured run; these read its details.

- Throughput: a stage's output tokens per second (services/measures.py).
- Stop: after a stage that failed, whose client was the bottleneck (its measurements say nothing
  of the endpoint), whose failed requests passed `max_error_rate` of those sent, or whose
  throughput rose less than `min_gain` over the best stage before it (the endpoint is saturated:
  more load only queues), provided it raised the requests in flight over that stage's by at least
  half as much as its load rose: one whose last requests drained for long (64 requests at
  concurrency 48 are a round and a third) held fewer than its load, and its throughput, flat or
  not, says nothing of saturation. Or after a stage at a rate whose arrivals waited for a slot
  (more than HELD_BACK of them found the plan's most in flight sending): it measured that most, not
  its rate, and higher rates would only wait more. Otherwise the next load, until the loads run out.
- Knee: the stage of the most throughput per second of median e2e latency (Kleinrock's power,
  throughput / delay): past it, latency grows faster than throughput.
- Largest load meeting the SLO: the highest load of a trusted stage whose run met its SLO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from src.application.domain.model import Run, RunStatus, Sweep

HELD_BACK = 0.05  # of a stage's arrivals, waiting for a slot, past which it measured its concurrency


@dataclass(frozen=True)
class Stage:
    """One stage of a sweep: its load and what its run measured (None: not measured)."""

    load: float
    run_id: int
    status: RunStatus
    invalid: str | None
    error: str | None
    requests_sent: int
    failed_requests: int
    output_tokens_per_second: float | None
    requests_per_second: float | None
    mean_in_flight: float | None  # the concurrency its run held (None: measured before it was reported)
    arrivals_held_back: int | None  # at a rate: arrivals that waited for a slot (None: back to back)
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    e2e_p50_ms: float | None
    slo_met: bool | None  # None: the plan has no SLO, or the stage did not complete

    @classmethod
    def of(cls, run: Run, load: float) -> Stage:
        assert run.id is not None
        details = run.details or {}
        completed = run.status is RunStatus.COMPLETED
        sent = int(details.get("requests_sent", 0))
        return cls(
            load=load,
            run_id=run.id,
            status=run.status,
            invalid=run.invalid,
            error=run.error,
            requests_sent=sent,
            failed_requests=sent - int(details.get("completed", 0)),
            output_tokens_per_second=details.get("output_tokens_per_second") if completed else None,
            requests_per_second=details.get("requests_per_second") if completed else None,
            mean_in_flight=details.get("mean_in_flight") if completed else None,
            arrivals_held_back=details.get("arrivals_held_back") if completed else None,
            ttft_p50_ms=_quantile(details, "ttft_ms", "p50"),
            ttft_p99_ms=_quantile(details, "ttft_ms", "p99"),
            itl_p50_ms=_quantile(details, "inter_token_latency_ms", "p50"),
            e2e_p50_ms=_quantile(details, "e2e_latency_ms", "p50"),
            slo_met=details["slo"]["met"] if completed and "slo" in details else None,
        )

    @property
    def trusted(self) -> bool:
        """As its run's (`Run.trusted`), from the stage's copy of its status."""
        return self.status is RunStatus.COMPLETED and self.invalid is None

    @property
    def error_rate(self) -> float:
        return self.failed_requests / self.requests_sent if self.requests_sent else 0.0

    @property
    def power(self) -> float | None:
        """Throughput per second of median latency: highest at the knee."""
        if not self.trusted or not self.output_tokens_per_second or not self.e2e_p50_ms:
            return None
        return self.output_tokens_per_second / (self.e2e_p50_ms / 1000)


def _quantile(details: dict[str, Any], name: str, which: str) -> float | None:
    quantiles = details.get(name)
    return float(quantiles[which]) if quantiles else None


def stop_reason(sweep: Sweep, stages: Sequence[Stage]) -> str | None:
    """Why the sweep ends after its last stage, or None to go on to the next load."""
    last, before = stages[-1], stages[:-1]
    at = f"at {sweep.load} {last.load:g}"
    if last.status is RunStatus.FAILED:
        return f"the stage {at} failed: {last.error}"
    if last.invalid is not None:
        return f"the client was the bottleneck {at} ({last.invalid}): its figures are not the endpoint's"
    if last.error_rate > sweep.max_error_rate:
        return f"{last.error_rate:.0%} of the requests failed {at} (more than {sweep.max_error_rate:.0%})"
    best = max(before, key=lambda s: s.output_tokens_per_second or 0.0, default=None)
    if best is not None and best.output_tokens_per_second and last.output_tokens_per_second is not None:
        gain = last.output_tokens_per_second / best.output_tokens_per_second - 1
        if gain < sweep.min_gain and _loaded_more(last, best):
            return (
                f"saturated: throughput {at} ({last.output_tokens_per_second:,.0f} tokens/s) rose {gain:+.1%} "
                f"over {sweep.load} {best.load:g}'s (less than {sweep.min_gain:.0%})"
            )
    if last.arrivals_held_back and last.arrivals_held_back > HELD_BACK * last.requests_sent:
        return (
            f"{last.arrivals_held_back} of {last.requests_sent} arrivals {at} waited for a slot: the stage measured "
            f"the plan's concurrency ({sweep.plan.get('concurrency')}), not its rate; give a higher one"
        )
    if len(stages) == len(sweep.loads):
        return "every load was measured"
    return None


def _loaded_more(last: Stage, best: Stage) -> bool:
    """Whether the last stage raised the requests in flight over the best's by half its load's rise
    at least. Unsaturated, throughput rises as the requests in flight do, so with load steps over
    twice `min_gain` a flat throughput is never a drain's. Stages measured before runs reported
    what they held count as loaded."""
    if last.mean_in_flight is None or not best.mean_in_flight:
        return True
    return last.mean_in_flight / best.mean_in_flight - 1 >= (last.load / best.load - 1) / 2


def knee(stages: Sequence[Stage]) -> Stage | None:
    powered = [stage for stage in stages if stage.power is not None]
    return max(powered, key=lambda stage: stage.power or 0.0, default=None)


def largest_load_meeting_slo(stages: Sequence[Stage]) -> float | None:
    return max((stage.load for stage in stages if stage.trusted and stage.slo_met), default=None)


def doubling(start: float, up_to: float) -> list[float]:
    """start, 2 x start, 4 x start, ... while at most up_to."""
    loads = [start]
    while loads[-1] * 2 <= up_to:
        loads.append(loads[-1] * 2)
    return loads
