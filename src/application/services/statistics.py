"""Summary statistics of samples, computed with numpy in one place."""

from __future__ import annotations

import numpy as np

from src.application.domain.model import MetricSummary
from src.application.domain.sketch import QuantileSketch

PERCENTILES = (50, 90, 95, 99)


def summarize(run_id: int, llm_id: int, metric_id: int, values: np.ndarray) -> MetricSummary:
    """n, mean, sample std, min, max and the percentiles numpy computes (linear interpolation)."""
    p50, p90, p95, p99 = np.percentile(values, PERCENTILES)
    return MetricSummary(
        run_id=run_id,
        llm_id=llm_id,
        metric_id=metric_id,
        n=int(values.size),
        mean=float(values.mean()),
        std=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        minimum=float(values.min()),
        maximum=float(values.max()),
        p50=float(p50),
        p90=float(p90),
        p95=float(p95),
        p99=float(p99),
        sketch=QuantileSketch.of(values),
    )
