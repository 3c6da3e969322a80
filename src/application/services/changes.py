"""Has an endpoint changed? Its latest window's runs against its baseline's.

The runs are the units: an endpoint's hours differ from each other more than its requests alone
say, so a change must stand out from how its runs spread. For one statistic (a run's TTFT median,
say), the test compares the mean of the log of the latest runs' values with the baseline runs'
(their ratio of geometric means) by a permutation test: were nothing changed, the runs would be
exchangeable, and the observed split is one of all the ways of choosing which runs are "latest".
Its p-value is exact (every split, or 9,999 seeded random ones past MAX_SPLITS) and assumes no
distribution, so a false alarm is no likelier than the level says: a normal-theory test with a
window of four runs alarmed 1.7-2.1% of the time at a nominal 1% (`make benchmark-statistics`).

A statistic changed when the p-value is below CHANGE_LEVEL after Bonferroni over the statistics
watched, and the ratio moved by MIN_CHANGE at least: a change too small to matter is not a page at
3 am, however sure. Few runs cannot reach the level (4 statistics at 1% need at least 400 splits:
4 latest runs against 8, or 3 against 12); the change is then not called.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from src.application.domain.model import Interval

CHANGE_LEVEL = 0.01  # the chance, per endpoint, of a false alarm when nothing changed
MIN_CHANGE = 0.10  # the smallest relative move flagged
MAX_SPLITS = 20_000  # every split up to this many; past it, RANDOM_SPLITS drawn
RANDOM_SPLITS = 9_999


@dataclass(frozen=True)
class Estimated:
    """A statistic over a window, with its 95% interval."""

    value: float
    interval: Interval


@dataclass(frozen=True)
class Change:
    baseline: Estimated  # the statistic over the baseline's runs pooled, for showing beside the latest
    relative: float  # the latest runs' geometric mean over the baseline's, less 1
    p_value: float
    changed: bool
    worse: bool  # moved the wrong way (every latency watched is lower-is-better)


def compare_runs(latest: Sequence[float], baseline: Sequence[float], shown: Estimated, tests: int) -> Change:
    """The change of one statistic (each run's value, latest and baseline; all positive), one of
    `tests` watched together."""
    logs = np.log(np.asarray([*latest, *baseline], dtype=float))
    observed = logs[: len(latest)].mean() - logs[len(latest) :].mean()
    p = _permutation_p_value(logs, len(latest), abs(observed))
    relative = math.expm1(observed)
    changed = p < CHANGE_LEVEL / tests and abs(relative) >= MIN_CHANGE
    return Change(shown, relative, p, changed, relative > 0)


def _permutation_p_value(logs: np.ndarray, chosen: int, observed: float) -> float:
    """The share of splits (the observed one among them) whose difference is at least as large."""
    total, count = logs.sum(), logs.size
    if math.comb(count, chosen) <= MAX_SPLITS:
        picks = np.array(list(itertools.combinations(range(count), chosen)))
        extra = 0
    else:
        rng = np.random.default_rng(0)  # seeded: the same runs give the same answer
        picks = np.array([rng.choice(count, chosen, replace=False) for _ in range(RANDOM_SPLITS)])
        extra = 1  # the observed split, counted once more (Phipson and Smyth)
    sums = logs[picks].sum(axis=1)
    differences = np.abs(sums / chosen - (total - sums) / (count - chosen))
    at_least = int(np.count_nonzero(differences >= observed - 1e-12)) + extra
    return at_least / (len(picks) + extra)
