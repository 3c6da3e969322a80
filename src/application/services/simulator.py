"""Draws realistic samples of the four metrics for one LLM from its latency profile.

Each LLM gets its own random stream derived from (seed, LLM position), so a run's samples depend
only on the seed and the sample count: not on chunk sizes, worker counts or the order of writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src.application.domain.catalogue import LatencyProfile, Workload
from src.application.domain.model import Metric


@dataclass(frozen=True)
class LLMSamples:
    """The n samples of each metric for one LLM, by metric name."""

    by_metric: dict[str, np.ndarray]


def draw_llm_samples(
    profile: LatencyProfile,
    workload: Workload,
    metrics: tuple[Metric, ...],
    seed: int,
    llm_position: int,
    n: int,
) -> LLMSamples:
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(llm_position,)))
    # The draws happen in a fixed order: changing it changes every seeded run.
    ttft = rng.lognormal(np.log(profile.ttft_median_s), profile.ttft_sigma, n)
    slow = rng.random(n) < profile.tail_probability
    ttft = np.where(slow, ttft * (1.0 + rng.pareto(profile.tail_alpha, n)), ttft)
    tps = rng.lognormal(np.log(profile.tps_median), profile.tps_sigma, n)
    tokens = np.clip(
        np.rint(rng.lognormal(np.log(workload.output_tokens_median), workload.output_tokens_sigma, n)),
        workload.output_tokens_min,
        workload.output_tokens_max,
    )
    bounds = {m.name: (m.lower_bound, m.upper_bound) for m in metrics}
    ttft = np.clip(ttft, *bounds["TTFT"])
    tps = np.clip(tps, *bounds["TPS"])
    # A request's latency is its wait for the first token plus the time to stream the rest.
    e2e = np.clip(ttft + tokens / tps, *bounds["e2e_latency"])
    # A deployment serving `concurrency` requests at once completes concurrency/latency per second;
    # a little jitter stands for the rest of the serving stack.
    rps = np.clip(profile.concurrency / e2e * rng.lognormal(0.0, 0.05, n), *bounds["RPS"])
    return LLMSamples(by_metric={"TTFT": ttft, "TPS": tps, "e2e_latency": e2e, "RPS": rps})
