"""What a measured run reports, defined once. DEFINITIONS_VERSION is stored with each run
(`details.definitions`), so a run measured under other definitions is never mixed up with it.

All times are seconds on the client's monotonic clock; a request begins when the client starts
sending it: when it opens the request's connection (its set-up inside its times), or, on a
kept-alive connection, when it writes the request's headers.

Versions: 1 (to 2026-12-04) began a request when the client started building it, which counted
its own time building the request (0.2-0.5 ms a request, and up to hundreds of ms behind a burst
of a thousand) as the endpoint's; 2 begins it as above.

- TTFT: from the request's start to its first content token. Reasoning tokens, where the API
  streams them, come before it and are timed apart (`first_reasoning_s` of its record).
- e2e latency: from the request's start to the end of its stream ([DONE]).
- ITL (inter-token latency), per request: (e2e - TTFT) / (output tokens - 1), the mean time
  between its output tokens after the first. A request of one token has none.
- TPS (per-request output speed): its inverse, (output tokens - 1) / (e2e - TTFT).
- Inter-chunk latency: every gap between consecutive streamed events that carried text, pooled
  over the run's requests. A chunk may carry several tokens: this is the pace a reader sees.
- Output tokens: a reply's completion tokens from the API's usage report; without one, its
  content counted by the tokenizer (cl100k_base, offline) after the run, never while it is timed.
  Where both exist, their difference is reported (another model's tokenizer differs), and so is
  the difference between the prompt tokens the usage report counts and a workload's prompt length
  (the endpoint's chat template and tokenizer add to it).
- Output throughput: the output tokens of the run's completed requests over its duration.
- RPS (request throughput): completed requests over the run's duration, one value per run.
- Duration: wall seconds from the first measured request's start to the last one's end.
- Mean in flight (the concurrency achieved): the requests in flight averaged over the duration,
  every sent request's time from its start to its end or failure, summed, over the duration
  (Little's law). A run at a fixed concurrency holds it only while requests wait their turn: as
  the last ones drain it falls, and the run's throughput understates what that concurrency
  sustains. Under arrivals at a rate, it is the load the endpoint was under.
- Arrivals held back (at a rate): arrivals that found the plan's most in flight (`concurrency`)
  sending and waited for a slot. Past a few, the run measured that concurrency, not its rate.
  Their waits are the plan's, never counted in the self-check's lateness below.
- SLO (a plan's service-level objective): thresholds on a request's TTFT, ITL and e2e latency,
  and the share of requests that must meet all of them (default 95%: "TTFT p95 <= 1 s" is a
  TTFT threshold of 1 s met by 95%). A good request completed and met every threshold given (a
  request of one token has no ITL to miss). Attainment: good requests over requests sent (an
  error is never good); goodput: good requests per second of the run's duration. The run meets
  its SLO when its attainment reaches the share asked.
- Self-check: the client's event-loop lag (how late a timer due every 10 ms fires, its quantiles
  over time: a firing counts for the time it stood for), the CPU time of the loop's thread over
  the duration, and how late Poisson arrivals left; a run past ClientLimits was limited by its
  client (client-bound).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from src.application.domain import bounds
from src.application.domain.errors import InvalidParameter
from src.application.ports.llm_client import AbstractTokenizer, RequestOutcome

DEFINITIONS_VERSION = 2


@dataclass(frozen=True)
class Slo:
    """Per-request thresholds (None: not asked) and the share of requests that must meet them."""

    ttft_ms: float | None = None
    itl_ms: float | None = None
    e2e_ms: float | None = None
    attainment: float = 0.95

    def __post_init__(self) -> None:
        for name in ("ttft_ms", "itl_ms", "e2e_ms"):
            if (value := getattr(self, name)) is not None:
                bounds.SLO_MS.check(f"slo.{name}", value)
        if self.ttft_ms is self.itl_ms is self.e2e_ms is None:
            raise InvalidParameter("an SLO needs at least one of ttft_ms, itl_ms and e2e_ms")
        bounds.ATTAINMENT.check("slo.attainment", self.attainment)

    def met_by(self, outcome: RequestOutcome) -> bool:
        if outcome.error is not None:
            return False
        times = {"ttft_ms": outcome.ttft_s, "e2e_ms": outcome.e2e_s}
        if timed_speed(outcome):
            times["itl_ms"] = itl_s(outcome)
        return all(limit is None or times.get(name, 0.0) * 1000 <= limit for name, limit in self._limits())

    def _limits(self) -> list[tuple[str, float | None]]:
        return [("ttft_ms", self.ttft_ms), ("itl_ms", self.itl_ms), ("e2e_ms", self.e2e_ms)]


def slo_report(outcomes: Sequence[RequestOutcome], wall: float, slo: Slo) -> dict[str, Any]:
    good = sum(slo.met_by(o) for o in outcomes)
    attainment = good / len(outcomes) if outcomes else 0.0
    return {
        "good_requests": good,
        "attainment": attainment,
        "goodput_rps": good / wall if wall else 0.0,
        "met": attainment >= slo.attainment,
    }


def count_tokens(outcomes: Sequence[RequestOutcome], tokenizer: AbstractTokenizer) -> list[RequestOutcome]:
    """The outcomes with their replies' tokens counted (each chunk's, and the whole reply's), and
    output_tokens taken from that count where the API sent no usage report."""
    # One batch for the tokenizer (its threads), read back in the order it was made.
    texts = [
        text
        for o in outcomes
        for text in [*(t for c in o.chunks for t in (c.content, c.reasoning)), "".join(c.content for c in o.chunks)]
    ]
    counts = iter(tokenizer.counts(texts))
    counted = []
    for outcome in outcomes:
        chunks = tuple(replace(c, content_tokens=next(counts), reasoning_tokens=next(counts)) for c in outcome.chunks)
        reply = next(counts)
        tokens = outcome.output_tokens if outcome.tokens_from_usage or outcome.error else reply
        counted.append(replace(outcome, chunks=chunks, tokenizer_tokens=reply, output_tokens=tokens))
    return counted


def timed_speed(outcome: RequestOutcome) -> bool:
    """Whether a completed request has an ITL and a TPS: tokens after the first, and time between."""
    return outcome.output_tokens > 1 and outcome.decode_s > 0


def itl_s(outcome: RequestOutcome) -> float:
    return outcome.decode_s / (outcome.output_tokens - 1)


def requests_per_second(succeeded: Sequence[RequestOutcome], wall: float) -> float:
    return len(succeeded) / wall if wall else 0.0


def mean_in_flight(outcomes: Sequence[RequestOutcome], wall: float) -> float:
    return sum(o.e2e_s for o in outcomes) / wall if wall else 0.0


def arrivals_held_back(rate: float | None, held: int) -> dict[str, int]:
    """The count for a run's details: at a rate only (back to back, every request waits its turn)."""
    return {} if rate is None else {"arrivals_held_back": held}


def samples(succeeded: Sequence[RequestOutcome], wall: float) -> dict[str, np.ndarray]:
    """The ranked metrics' samples: one a completed request, and RPS one a run."""
    return {
        "TTFT": np.array([o.ttft_s for o in succeeded]),
        "e2e_latency": np.array([o.e2e_s for o in succeeded]),
        "TPS": np.array([1 / itl_s(o) for o in succeeded if timed_speed(o)]),
        "RPS": np.array([requests_per_second(succeeded, wall)]),
    }


def measurement_details(outcomes: Sequence[RequestOutcome], wall: float, tokenizer: str) -> dict[str, Any]:
    """What a measured run reports beside its samples: errors, throughput, latencies between
    tokens and chunks, tokens, and the client's own time."""
    succeeded = [o for o in outcomes if o.error is None]
    chunk_gaps = [np.diff([c.at for c in o.chunks]) for o in succeeded if len(o.chunks) > 1]
    output_tokens = sum(o.output_tokens for o in succeeded)
    # What the endpoint's usage report says less what the tokenizer counts, per reply with both.
    differences = [
        float(o.output_tokens - o.tokenizer_tokens)
        for o in succeeded
        if o.tokens_from_usage and o.tokenizer_tokens is not None
    ]
    return {
        "definitions": DEFINITIONS_VERSION,
        "requests_sent": len(outcomes),
        "completed": len(succeeded),
        "errors": dict(Counter(o.error for o in outcomes if o.error)),
        "first_errors": first_errors(outcomes),
        "wall_seconds": wall,
        "requests_per_second": requests_per_second(succeeded, wall),
        "output_tokens_per_second": output_tokens / wall if wall else 0.0,
        "mean_in_flight": mean_in_flight(outcomes, wall),
        "ttft_ms": _quantiles([o.ttft_s * 1000 for o in succeeded]),
        "e2e_latency_ms": _quantiles([o.e2e_s * 1000 for o in succeeded]),
        "inter_token_latency_ms": _quantiles([itl_s(o) * 1000 for o in succeeded if timed_speed(o)]),
        "inter_chunk_latency_ms": _quantiles(list(np.concatenate(chunk_gaps) * 1000) if chunk_gaps else []),
        "output_tokens": _quantiles([float(o.output_tokens) for o in succeeded]),
        "input_tokens": _quantiles([float(o.input_tokens) for o in succeeded if o.input_tokens is not None]),
        "tokens_counted_by": "usage" if succeeded and all(o.tokens_from_usage for o in succeeded) else "tokenizer",
        "tokenizer": tokenizer,
        "usage_minus_tokenizer_tokens": _quantiles(differences),
        # The prompt tokens the usage report counts less the prompt's own (a chat template adds some).
        "usage_minus_prompt_tokens": _quantiles(
            [float(o.input_tokens - o.prompt_tokens) for o in succeeded if o.input_tokens and o.prompt_tokens]
        ),
        "client_overhead_ms": _quantiles([o.client_overhead_s * 1000 for o in outcomes]),
    }


def first_errors(outcomes: Sequence[RequestOutcome]) -> dict[str, str]:
    """What the server said at the first error of each kind that it said something at: why
    requests failed, without keeping every answer."""
    said: dict[str, str] = {}
    for outcome in sorted(outcomes, key=lambda outcome: outcome.started):
        if outcome.error and outcome.error_detail:
            said.setdefault(outcome.error, outcome.error_detail)
    return said


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    array = np.array(values)
    p50, p99 = np.percentile(array, [50, 99])
    return {"mean": float(array.mean()), "p50": float(p50), "p99": float(p99)}


@dataclass(frozen=True)
class ClientLimits:
    """Past these, the client was the bottleneck of its own run: its timings are its own delays
    as much as the endpoint's, and the run is marked client-bound."""

    loop_lag_ms: float = 20.0  # the event loop's lag at p99 of the run's time (Poisson arrivals' lateness at p95)
    cpu_share: float = 0.9  # of one core, by the thread that runs the event loop


LAG_PROBE_S = 0.01  # the event loop's lag is how late a timer due this often fires


def self_check(lags_s: Sequence[float], cpu_s: float, wall: float, lateness_s: Sequence[float],
               limits: ClientLimits) -> dict[str, Any]:  # fmt: skip
    """Whether the client kept up: its event loop's lag (a timer due every LAG_PROBE_S, how late
    each firing was), the CPU its loop used over the run, and how late Poisson arrivals left.
    `reasons` says what made the run client-bound, if anything did.

    The loop's lag is a share of time, not of firings: a probe that waited 200 ms stood for 20
    times the time a punctual one did, and every token arriving meanwhile was stamped late; counted
    once, a few such stalls would hide behind punctual firings. Its p99 is checked: a token stamped
    that late is in the run's p99 latencies."""
    lag = _lag_quantiles(lags_s, weights=[LAG_PROBE_S + lag for lag in lags_s])
    late = _lag_quantiles(lateness_s)
    cpu_share = cpu_s / wall if wall else 0.0
    reasons = []
    if lag and lag["p99"] > limits.loop_lag_ms:
        reasons.append(f"the client's event loop lagged {lag['p99']:.0f} ms at p99 (limit {limits.loop_lag_ms:g} ms)")
    if late and late["p95"] > limits.loop_lag_ms:
        reasons.append(f"arrivals left {late['p95']:.0f} ms late at p95 (limit {limits.loop_lag_ms:g} ms)")
    if cpu_share > limits.cpu_share:
        reasons.append(f"the client's event loop used {cpu_share:.0%} of a core (limit {limits.cpu_share:.0%})")
    return {"loop_lag_ms": lag, "arrival_lateness_ms": late, "client_cpu": cpu_share, "reasons": reasons}


def worst_check(checks: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    """One self-check of a run sent by several clients (its shards): each figure the worst of
    theirs, and every reason, named by the client that met it."""

    def worst(key: str, quantile: str) -> dict[str, float] | None:
        return max((c[key] for c in checks if c[key]), key=lambda q: q[quantile], default=None)

    return {
        "loop_lag_ms": worst("loop_lag_ms", "p99"),
        "arrival_lateness_ms": worst("arrival_lateness_ms", "p95"),
        "client_cpu": max(c["client_cpu"] for c in checks),
        "reasons": [
            f"{name}: {reason}" for name, check in zip(names, checks, strict=True) for reason in check["reasons"]
        ],
    }


def _lag_quantiles(seconds: Sequence[float], weights: Sequence[float] | None = None) -> dict[str, float] | None:
    if not seconds:
        return None
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000, [50, 95, 99], weights=weights, method="inverted_cdf")
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(max(seconds) * 1000)}
