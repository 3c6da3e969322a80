"""Has an endpoint changed? Its latest window against its baseline, beyond their uncertainty.

Each side is the endpoint's runs of one plan pooled with each run a cluster (the run-level
intervals of windows, services/intervals.py), so that the hour-to-hour spread of a healthy endpoint
counts as noise. A statistic changed when the two-sided test of "latest and baseline estimate the
same thing" (services/comparisons.py, the same test rankings use) rejects at CHANGE_LEVEL after
Bonferroni over the statistics watched, and when it moved by MIN_CHANGE at least: a change too
small to matter is not a page at 3 am, however sure.
"""

from __future__ import annotations

from dataclasses import dataclass

from src.application.domain.model import Direction, Interval
from src.application.services.comparisons import Estimate, p_value

CHANGE_LEVEL = 0.01  # the chance, per endpoint, of a false alarm when nothing changed
MIN_CHANGE = 0.10  # the smallest relative move flagged


@dataclass(frozen=True)
class Estimated:
    """A statistic over a window, with its 95% interval."""

    value: float
    interval: Interval


@dataclass(frozen=True)
class Change:
    latest: Estimated
    baseline: Estimated
    relative: float  # (latest - baseline) / baseline
    p_value: float
    changed: bool
    worse: bool  # moved the wrong way for the metric's direction


def compare_windows(latest: Estimated, baseline: Estimated, direction: Direction, tests: int) -> Change:
    """The change of one statistic, one of `tests` watched together (Bonferroni)."""
    p = p_value(Estimate(latest.value, latest.interval), Estimate(baseline.value, baseline.interval))
    relative = (latest.value - baseline.value) / baseline.value if baseline.value else 0.0
    changed = p < CHANGE_LEVEL / tests and abs(relative) >= MIN_CHANGE
    worse = relative > 0 if direction is Direction.LOWER_IS_BETTER else relative < 0
    return Change(latest, baseline, relative, p, changed, worse)
