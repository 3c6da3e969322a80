"""Storing one pair's samples and its summary: shared by simulated and measured runs."""

from __future__ import annotations

from datetime import date

import numpy as np

from src.application.domain.model import MetricSummary
from src.application.ports.unit_of_work import AbstractUnitOfWork
from src.application.services.statistics import summarize


def store_pair(
    uow: AbstractUnitOfWork, run_id: int, llm_id: int, metric_id: int, values: np.ndarray, day: date, chunk: int
) -> MetricSummary:
    """Write the values in chunks of `chunk` and return their summary (not yet added)."""
    for index, start in enumerate(range(0, values.size, chunk)):
        uow.samples.add_batch(run_id, llm_id, metric_id, index, values[start : start + chunk], day)
    return summarize(run_id, llm_id, metric_id, values)
