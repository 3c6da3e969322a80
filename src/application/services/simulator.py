"""Draws realistic samples of the four metrics for one LLM from its latency profile, at a load.

A run serves `concurrency` requests at once on each LLM's deployment (closed loop: each client
sends its next request when the last one ends). Load slows a request down as the catalogue's load
model says (catalogue.json "load"): TTFT grows with the square root of the concurrency, and the
output speed is shared once the streams reach the deployment's capacity. RPS is one value per run:
the requests completed per second, concurrency / mean e2e latency (Little's law), so it rises with
concurrency until capacity caps it, and models trade speed against capacity.

Each LLM gets its own random stream derived from (seed, LLM position), so a run's samples depend
only on the seed, the sample count and the load: not on chunk sizes, worker counts or the order of
writes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from src.application.domain.catalogue import LatencyProfile, LoadModel, Workload
from src.application.domain.model import Metric


@dataclass(frozen=True)
class LLMSamples:
    """The n samples of each metric for one LLM, by metric name."""

    by_metric: dict[str, np.ndarray]  # RPS: one value, the run's


def draw_llm_samples(
    profile: LatencyProfile,
    workload: Workload,
    load: LoadModel,
    metrics: tuple[Metric, ...],
    seed: int,
    llm_position: int,
    n: int,
    concurrency: int,
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
    ttft = np.clip(ttft * load.ttft_factor(concurrency), *bounds["TTFT"])
    tps = np.clip(tps * profile.speed_share(concurrency), *bounds["TPS"])
    # A request's latency is its wait for the first token plus the time to stream the rest.
    e2e = np.clip(ttft + tokens / tps, *bounds["e2e_latency"])
    rps = np.clip(np.array([concurrency / e2e.mean()]), *bounds["RPS"])
    return LLMSamples(by_metric={"TTFT": ttft, "TPS": tps, "e2e_latency": e2e, "RPS": rps})
