"""Which LLMs of a ranking differ, at a stated level, and the ranks each could hold.

Every pair is tested: the difference of two independent estimates over its standard error gives
a two-sided z test. A mean brings its standard error (s/sqrt(n): under "no difference" the
difference of two means is symmetric however skewed the data, as Welch's test assumes); a
quantile's is read from the half of its 95% interval that faces the other (so a skewed interval
counts its long side where it matters). Holm's step-down correction over all
pairs keeps the chance of calling any equal pair different at 5% (the family-wise error rate).
An open side (too few samples) has no standard error: such a pair is never called different.

From the differences, each LLM's 95% rank interval: from 1 + the number of LLMs significantly
better than it, to the number not significantly worse (the ranks of the ranking's LLMs that the
tests cannot tell it apart from).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from src.application.domain.model import Interval
from src.application.services.intervals import ALPHA, Z_95


@dataclass(frozen=True)
class Estimate:
    value: float
    interval: Interval
    error: float | None = None  # its standard error, where known (a mean's)


def p_value(a: Estimate, b: Estimate) -> float:
    """Two-sided p-value of "a and b estimate the same thing"."""
    if a.value == b.value:
        return 1.0
    low, high = (a, b) if a.value < b.value else (b, a)
    if a.error is not None and b.error is not None:
        errors = [a.error, b.error]
    else:
        errors = [_error(low.value, low.interval.high), _error(high.value, high.interval.low)]
    if math.inf in errors:
        return 1.0
    spread = math.hypot(*errors)
    return 0.0 if spread == 0 else math.erfc(abs(a.value - b.value) / spread / math.sqrt(2))


def _error(value: float, side: float | None) -> float:
    return math.inf if side is None else abs(side - value) / Z_95


def holm(p_values: dict[tuple[str, str], float], alpha: float = ALPHA) -> set[tuple[str, str]]:
    """The pairs whose difference is significant at family-wise level alpha (Holm's step-down)."""
    ordered = sorted(p_values, key=lambda pair: (p_values[pair], pair))
    significant = set()
    for position, pair in enumerate(ordered):
        if p_values[pair] > alpha / (len(ordered) - position):
            break
        significant.add(pair)
    return significant


@dataclass(frozen=True)
class Comparison:
    """Per name: the names it cannot be told apart from, and its 95% rank interval."""

    tied_with: dict[str, tuple[str, ...]]
    rank_intervals: dict[str, tuple[int, int]]


def compare(estimates: dict[str, Estimate], order: list[str]) -> Comparison:
    """`order`: the names best first (as ranked)."""
    pairs = {(a, b): p_value(estimates[a], estimates[b]) for a, b in itertools.combinations(order, 2)}
    apart: dict[str, set[str]] = {name: set() for name in order}  # the names each differs from
    for a, b in holm(pairs):
        apart[a].add(b)
        apart[b].add(a)
    position = {name: index for index, name in enumerate(order)}
    tied = {a: tuple(b for b in order if b != a and b not in apart[a]) for a in order}
    ranks = {}
    for name in order:
        better = sum(1 for other in apart[name] if position[other] < position[name])
        ranks[name] = (1 + better, len(order) - (len(apart[name]) - better))
    return Comparison(tied, ranks)
