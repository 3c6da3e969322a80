"""Rollups: running totals whose differences give a window's runs exactly."""

from datetime import UTC, datetime

import numpy as np
import pytest

from src.application.domain.model import Interval, MetricSummary
from src.application.domain.rollup import NO_MOMENTS, Moments, Rollup, counting, hour_of
from src.application.domain.sketch import QuantileSketch, bucket_of
from src.application.services.intervals import cluster_mean_interval, woodruff_interval


def summary(run_id, values):
    return MetricSummary(
        run_id, 1, 1, values.size, values.mean(), values.std(ddof=1), 0, 0, float(np.median(values)), 0, 0, 0,
        QuantileSketch.of(values), {},
    )  # fmt: skip


@pytest.fixture
def samples():
    rng = np.random.default_rng(11)
    return [
        rng.lognormal(np.log(m), s, n) for m, s, n in ((1.0, 0.3, 400), (3.0, 0.1, 50), (0.2, 0.5, 900), (1.1, 0.2, 7))
    ]


def test_moments_add_and_subtract_as_the_values_they_stand_for():
    values = np.random.default_rng(1).normal(5.0, 2.0, 100)
    head, tail = values[:30], values[30:]
    of = lambda v: Moments(v.size, v.mean(), ((v - v.mean()) ** 2).sum())  # noqa: E731
    whole = of(head) + of(tail)
    assert (whole.weight, whole.mean, whole.m2) == (100, pytest.approx(values.mean()), pytest.approx(of(values).m2))
    rest = of(values) - of(head)
    assert (rest.weight, rest.mean, rest.m2) == (70, pytest.approx(tail.mean()), pytest.approx(of(tail).m2))
    assert of(values).spread_about(1.0) == pytest.approx(((values - 1.0) ** 2).sum())
    assert of(head) - of(head) == NO_MOMENTS and NO_MOMENTS + of(head) == of(head)


def test_a_rollups_bucket_totals_are_the_sums_over_its_runs(samples):
    rollup = Rollup.merge([summary(i, v) for i, v in enumerate(samples)])
    assert (rollup.runs, rollup.last_run_id, rollup.n) == (4, 3, sum(v.size for v in samples))
    assert rollup.size_squares == sum(v.size**2 for v in samples)
    log_medians = np.log([np.median(v) for v in samples])  # one weight a run, whatever its size
    assert (rollup.run_log_medians.weight, rollup.run_log_medians.mean, rollup.run_log_medians.m2) == pytest.approx(
        (4, log_medians.mean(), ((log_medians - log_medians.mean()) ** 2).sum()), rel=1e-12
    )
    for value in (0.05, 0.2, 1.0, 2.9, 50.0):
        top = bucket_of(value)
        # A value belongs to the highest bucket whose index its log reaches: count by bucket index.
        at_most = np.array([(np.ceil(np.log(v) / np.log(1.01 / 0.99)) <= top).sum() for v in samples])
        sizes = np.array([v.size for v in samples])
        expected = (at_most.sum(), (at_most**2).sum(), (sizes * at_most).sum())
        assert rollup.at_bucket(top) == expected


def test_the_difference_of_two_rollups_is_the_rollup_of_the_runs_between(samples):
    summaries = [summary(i, v) for i, v in enumerate(samples)]
    before, through = Rollup.merge(summaries[:2]), Rollup.merge(summaries)
    window, direct = through - before, Rollup.merge(summaries[2:])
    assert (window.runs, window.last_run_id, window.size_squares) == (2, 3, direct.size_squares)
    assert window.offset == direct.offset
    for name in ("counts", "squares", "crosses"):
        assert getattr(window, name).tolist() == getattr(direct, name).tolist()
    assert window.values.mean == pytest.approx(direct.values.mean, rel=1e-12)
    assert window.values.m2 == pytest.approx(direct.values.m2, rel=1e-9)
    assert window.run_means.spread_about(1.0) == pytest.approx(direct.run_means.spread_about(1.0), rel=1e-9)
    mean = cluster_mean_interval(direct)
    assert cluster_mean_interval(window) == Interval(
        pytest.approx(mean.low, rel=1e-12), pytest.approx(mean.high, rel=1e-12)
    )
    assert window.run_log_medians.spread_about(0.0) == pytest.approx(direct.run_log_medians.spread_about(0.0))
    for q in (0.5, 0.9, 0.99):
        found, expected = woodruff_interval(window, q), woodruff_interval(direct, q)
        for bound, direct_bound in ((found.low, expected.low), (found.high, expected.high)):
            assert bound == (None if direct_bound is None else pytest.approx(direct_bound, rel=1e-9))


def test_rollups_outside_each_others_range_pad_with_empty_and_full_buckets():
    low, high = summary(1, np.array([1.0, 1.5, 2.0])), summary(2, np.array([100.0, 150.0]))
    both = Rollup.of(low) + Rollup.of(high)
    assert both.offset == low.sketch.offset and both.counts.sum() == 5
    # Past the first run's values its count is whole (3), before the second's it is 0.
    middle = bucket_of(10.0)
    assert both.at_bucket(middle) == (3, 9, 9)
    assert both.at_bucket(bucket_of(0.1)) == (0, 0, 0) and both.at_bucket(bucket_of(1000.0)) == (5, 13, 13)
    assert (both - Rollup.of(low)).offset == high.sketch.offset  # trimmed to the rest's buckets


def test_an_hour_starts_on_the_hour():
    moment = datetime(2026, 12, 4, 14, 37, 12, 345678, tzinfo=UTC)
    assert hour_of(moment) == datetime(2026, 12, 4, 14, 0, tzinfo=UTC)


def test_moments_of_one_value_and_of_nothing_add_and_subtract_exactly():
    one, two = Moments(1, 5.0, 0.0), Moments(2, 2.0, 0.02)  # two values 1.9 and 2.1
    assert one + NO_MOMENTS == one and NO_MOMENTS + one == one
    rest = (one + two) - two
    assert (rest.weight, rest.m2) == (1, 0.0) and rest.mean == pytest.approx(5.0)
    assert ((one + two) - one).m2 == pytest.approx(0.02)  # a spread below 1 survives the subtraction


NOON, ONE_OCLOCK, TWO_OCLOCK = (datetime(2026, 12, 4, hour, tzinfo=UTC) for hour in (12, 13, 14))


def test_a_run_counted_out_of_order_goes_into_its_hour_and_every_later_one():
    first, late, later = (summary(i, np.array([v, v * 2])) for i, v in ((1, 1.0), (2, 3.0), (3, 5.0)))
    rows = {ONE_OCLOCK: Rollup.of(first) + Rollup.of(later)}  # runs 1 and 3 were counted at 13:00
    written = counting(Rollup.of(late), [NOON, ONE_OCLOCK], Rollup.of(first), rows)  # run 2 finished at 12:xx
    assert set(written) == {NOON, ONE_OCLOCK}
    assert (written[NOON].runs, written[NOON].last_run_id, written[NOON].n) == (2, 2, 4)
    assert (written[ONE_OCLOCK].runs, written[ONE_OCLOCK].last_run_id, written[ONE_OCLOCK].n) == (3, 3, 6)
    assert counting(Rollup.of(later), [ONE_OCLOCK], None, {})[ONE_OCLOCK].runs == 1  # a pair's first run


def test_a_pair_has_a_row_at_every_run_hour_from_its_first_run_on():
    first, late = summary(1, np.array([1.0, 2.0])), summary(2, np.array([3.0, 4.0]))
    # Left out of a run at 13:00: its 12:00 totals are carried to 13:00, and only where missing.
    assert counting(None, [ONE_OCLOCK], Rollup.of(first), {})[ONE_OCLOCK].runs == 1
    assert counting(None, [ONE_OCLOCK, TWO_OCLOCK], Rollup.of(first), {TWO_OCLOCK: Rollup.of(first)}).keys() == {
        ONE_OCLOCK
    }
    assert counting(None, [ONE_OCLOCK], None, {}) == {}  # no runs yet: nothing to carry
    # A pair's first run, counted late at 12:xx when a run of other pairs finished at 14:00.
    written = counting(Rollup.of(late), [NOON, TWO_OCLOCK], None, {})
    assert [(at, row.runs, row.last_run_id) for at, row in written.items()] == [(NOON, 1, 2), (TWO_OCLOCK, 1, 2)]


def test_bucket_totals_at_the_first_and_just_past_the_last_bucket():
    values = np.array([1.0, 1.0, 2.0, 4.0])
    rollup = Rollup.of(summary(1, values))
    first, size = rollup.offset, rollup.counts.size
    assert rollup.at_bucket(first) == (2, 4, 8)  # the two 1.0s: A = 2, A^2 = 4, n * A = 8
    assert rollup.at_bucket(first + size) == (4, 16, 16)  # everything, once past the end


def test_a_difference_of_one_filled_bucket_is_trimmed_to_it():
    low, high = summary(1, np.array([1.0, 1.0])), summary(2, np.array([50.0, 50.0]))
    rest = (Rollup.of(low) + Rollup.of(high)) - Rollup.of(low)
    assert (rest.offset, rest.counts.tolist()) == (high.sketch.offset, [2])
