"""The catalogue of metrics and LLMs, with each LLM's latency profile.

The figures live in catalogue.json (data, versioned with the code); this module only reads them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources

from src.application.domain.model import LLM, Direction, Metric


@dataclass(frozen=True)
class LatencyProfile:
    """How one LLM behaves: medians and spreads that the simulator draws samples from."""

    llm_name: str
    ttft_median_s: float
    ttft_sigma: float  # log-normal shape of TTFT
    tail_probability: float  # share of requests that hit a slow path (queueing, cold cache)
    tail_alpha: float  # Pareto shape of that slow path: smaller is heavier
    tps_median: float  # the output speed of a request served alone
    tps_sigma: float  # log-normal shape of output speed
    capacity_tps: float  # output tokens/s the whole deployment can decode, over all its streams

    def speed_share(self, concurrency: int) -> float:
        """How much of its single-stream speed each of `concurrency` streams gets: all of it
        until together they would pass the deployment's capacity, then an equal share of that."""
        return min(1.0, self.capacity_tps / (concurrency * self.tps_median))


@dataclass(frozen=True)
class LoadModel:
    """How waiting for the first token grows with the requests a deployment serves at once."""

    ttft_growth: float
    sources: str

    def ttft_factor(self, concurrency: int) -> float:
        return 1.0 + self.ttft_growth * (math.sqrt(concurrency) - 1.0)


@dataclass(frozen=True)
class Workload:
    """The requests every LLM answers in a simulation: the same for all, so rankings are fair."""

    output_tokens_median: float
    output_tokens_sigma: float
    output_tokens_min: int
    output_tokens_max: int


@dataclass(frozen=True)
class Catalogue:
    version: int
    metrics: tuple[Metric, ...]
    llms: tuple[LLM, ...]
    profiles: tuple[LatencyProfile, ...]
    workload: Workload
    load: LoadModel


_PROFILE_FIELDS = [field.name for field in fields(LatencyProfile) if field.name != "llm_name"]


@cache
def load_catalogue() -> Catalogue:
    raw = json.loads(resources.files(__package__).joinpath("catalogue.json").read_text())
    return Catalogue(
        version=raw["version"],
        metrics=tuple(
            Metric(
                name=m["name"],
                description=m["description"],
                unit=m["unit"],
                direction=Direction(m["direction"]),
                lower_bound=m["lower_bound"],
                upper_bound=m["upper_bound"],
            )
            for m in raw["metrics"]
        ),
        llms=tuple(LLM(name=m["name"], vendor=m["vendor"]) for m in raw["llms"]),
        profiles=tuple(LatencyProfile(llm_name=m["name"], **{f: m[f] for f in _PROFILE_FIELDS}) for m in raw["llms"]),
        workload=Workload(**raw["workload"]),
        load=LoadModel(**raw["load"]),
    )
