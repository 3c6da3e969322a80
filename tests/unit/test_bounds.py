"""The ranges callers may ask for: the API document, the CLI and the use cases all read these, so
their edges are what users are promised."""

from __future__ import annotations

import pytest

from src.application.domain import bounds
from src.application.domain.errors import InvalidParameter

DOCUMENTED = [  # bound, lowest value admitted, highest value admitted
    (bounds.SAMPLES_PER_PAIR, 2, 2_000_000),
    (bounds.SEED, 0, 2**63 - 1),
    (bounds.REQUESTS, 1, 10_000),
    (bounds.CONCURRENCY, 1, 256),
    (bounds.STREAMS, 1, 1000),
    (bounds.WARMUP, 0, 100),
    (bounds.MAX_TOKENS, 1, 8192),
    (bounds.ROW_ID, 1, 2**31 - 1),
    (bounds.HISTORY_RUNS, 1, 1000),
    (bounds.PAGE_SIZE, 1, 100),
    (bounds.OFFSET, 0, 10**9),
]


@pytest.mark.parametrize("bound, lowest, highest", DOCUMENTED)
def test_each_whole_bound_admits_its_edges_and_nothing_past_them(bound, lowest, highest):
    assert bound.admits(lowest) and bound.admits(highest)
    assert not bound.admits(lowest - 1) and not bound.admits(highest + 1)
    assert bound.range == f"between {lowest} and {highest}"


def test_a_rate_must_be_above_zero_and_at_most_a_thousand_a_second():
    rate = bounds.RATE
    assert not rate.admits(0) and rate.admits(0.001) and rate.admits(1000) and not rate.admits(1000.001)
    assert rate.range == "above 0 and at most 1000"


def test_a_value_out_of_range_is_refused_naming_the_parameter_its_range_and_the_value():
    with pytest.raises(InvalidParameter) as refused:
        bounds.CONCURRENCY.check("concurrency", 257)
    assert str(refused.value) == "concurrency must be between 1 and 256, got 257"
    assert refused.value.parameter == "concurrency"
    bounds.CONCURRENCY.check("concurrency", 256)  # at the edge: no error
