"""Pairwise tests between a ranking's LLMs (Holm-corrected) and the rank intervals they give."""

import pytest
from scipy.stats import norm

from src.application.domain.model import Interval
from src.application.services.comparisons import Estimate, compare, holm, p_value

Z = norm.ppf(0.975)


def test_the_p_value_is_a_two_sided_z_test_on_the_difference_with_errors_from_the_95_percent_intervals():
    a, b = Estimate(1.0, Interval(0.9, 1.1)), Estimate(1.3, Interval(1.2, 1.4))
    z = 0.3 / ((0.1 / Z) ** 2 + (0.1 / Z) ** 2) ** 0.5
    assert p_value(a, b) == pytest.approx(2 * norm.sf(z), rel=1e-9)
    assert p_value(b, a) == p_value(a, b)


def test_each_estimate_lends_the_half_of_its_interval_that_faces_the_other():
    a, b = Estimate(1.0, Interval(0.99, 1.5)), Estimate(2.0, Interval(1.2, 2.01))
    z = 1.0 / ((0.5 / Z) ** 2 + (0.8 / Z) ** 2) ** 0.5
    assert p_value(a, b) == pytest.approx(2 * norm.sf(z), rel=1e-9)


def test_an_open_side_facing_the_other_never_differs_and_equal_values_never_do():
    assert p_value(Estimate(1.0, Interval(0.9, None)), Estimate(9.0, Interval(8.9, 9.1))) == 1.0
    assert p_value(Estimate(1.0, Interval(None, 1.1)), Estimate(9.0, Interval(8.9, 9.1))) < 1e-12
    assert p_value(Estimate(1.0, Interval(0.5, 1.5)), Estimate(1.0, Interval(0.9, 1.1))) == 1.0
    assert p_value(Estimate(1.0, Interval(1.0, 1.0)), Estimate(2.0, Interval(2.0, 2.0))) == 0.0


def test_holm_steps_down_until_a_p_value_passes_its_share_of_alpha():
    assert holm({("a", "b"): 0.01, ("a", "c"): 0.04, ("b", "c"): 0.03}) == {("a", "b")}  # 0.03 > 0.05 / 2
    assert holm({("a", "b"): 0.001, ("a", "c"): 0.04, ("b", "c"): 0.02}) == {("a", "b"), ("a", "c"), ("b", "c")}
    assert holm({("a", "b"): 0.02, ("a", "c"): 0.03, ("b", "c"): 0.04}) == set()  # 0.02 > 0.05 / 3
    assert holm({("a", "b"): 0.05}) == {("a", "b")} and holm({("a", "b"): 0.0501}) == set()


def test_ties_and_rank_intervals_follow_the_significant_differences():
    estimates = {
        "a": Estimate(1.0, Interval(0.9, 1.1)),
        "b": Estimate(1.05, Interval(0.95, 1.15)),
        "c": Estimate(3.0, Interval(2.9, 3.1)),
        "d": Estimate(3.1, Interval(2.7, None)),  # too few samples to bound it above
    }
    comparison = compare(estimates, ["a", "b", "c", "d"])
    assert comparison.tied_with == {"a": ("b",), "b": ("a",), "c": ("d",), "d": ("c",)}
    assert comparison.rank_intervals == {"a": (1, 2), "b": (1, 2), "c": (3, 4), "d": (3, 4)}


def test_a_chain_of_near_neighbours_gives_overlapping_rank_intervals_without_transitive_ties():
    estimates = {name: Estimate(value, Interval(value - 0.1, value + 0.1)) for name, value in
                 (("a", 1.0), ("b", 1.15), ("c", 1.3))}  # fmt: skip
    comparison = compare(estimates, ["a", "b", "c"])
    assert comparison.tied_with == {"a": ("b",), "b": ("a", "c"), "c": ("b",)}
    assert comparison.rank_intervals == {"a": (1, 2), "b": (1, 3), "c": (2, 3)}


def test_two_means_use_their_standard_errors_and_anything_else_the_facing_halves_of_their_intervals():
    a, b = Estimate(1.0, Interval(0.0, 2.0), error=0.1), Estimate(1.3, Interval(0.3, 2.3), error=0.1)
    assert p_value(a, b) == pytest.approx(2 * norm.sf(0.3 / 0.02**0.5), rel=1e-9)
    without = Estimate(1.3, Interval(1.2, 1.4))
    from_intervals = 2 * norm.sf(0.3 / ((1.0 / Z) ** 2 + (0.1 / Z) ** 2) ** 0.5)
    assert p_value(a, without) == pytest.approx(from_intervals, rel=1e-9)
    assert p_value(without, a) == pytest.approx(from_intervals, rel=1e-9)
