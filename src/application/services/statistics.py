"""Summary statistics of a run's samples and their intervals, computed once when it is stored."""

from __future__ import annotations

import hashlib

import numpy as np

from src.application.domain.model import Metric, MetricSummary
from src.application.domain.ranking import Statistic
from src.application.domain.sketch import QuantileSketch
from src.application.services.intervals import mean_interval, quantile_interval

TAILS = {statistic.field: statistic.tail for statistic in Statistic if statistic.tail is not None}


def summarize(run_id: int, llm_id: int, metric: Metric, values: np.ndarray) -> MetricSummary:
    """n, mean, sample std, min and max; the percentiles numpy computes (linear interpolation) at
    each tail's raw quantile; and the 95% interval of each."""
    assert metric.id is not None  # read from the catalogue
    ordered = np.sort(values)
    quantiles = {field: metric.raw_quantile(tail) for field, tail in TAILS.items()}
    points = dict(zip(quantiles, np.percentile(ordered, [100 * q for q in quantiles.values()]), strict=True))
    intervals = {field: quantile_interval(ordered, q) for field, q in quantiles.items()}
    intervals["mean"] = mean_interval(values, _seeded_by(values))
    return MetricSummary(
        run_id=run_id,
        llm_id=llm_id,
        metric_id=metric.id,
        n=int(values.size),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        minimum=float(ordered[0]),
        maximum=float(ordered[-1]),
        sketch=QuantileSketch.of(values),
        intervals=intervals,
        **{field: float(value) for field, value in points.items()},
    )


def _seeded_by(values: np.ndarray) -> np.random.Generator:
    """The bootstrap's random stream, drawn from the values: the same samples give the same interval."""
    return np.random.default_rng(int.from_bytes(hashlib.blake2b(values.tobytes(), digest_size=8).digest()))
