"""The overall score: HELM's mean win rate, and the bootstrap intervals of scores and ranks."""

import numpy as np
import pytest

from src.application.domain.model import LLM, Direction, Interval, Metric, RunSource
from src.application.domain.ranking import MetricRanking, PairStatistics, RankingEntry, Statistic, Subject
from src.application.domain.sketch import QuantileSketch
from src.application.services import scores
from src.application.services.scores import mean_win_rates, win_rates

TTFT = Metric("TTFT", "Time to First Token", "seconds", Direction.LOWER_IS_BETTER, 0.01, 60, id=1)
TPS = Metric("TPS", "Tokens Per Second", "tokens/second", Direction.HIGHER_IS_BETTER, 1, 2000, id=2)
NO_STATISTICS = PairStatistics(1, 0, 0, 0, 0, 0, 0, 0, 0, QuantileSketch.of(np.ones(1)), {})


def metric_ranking(metric, values, half=0.0, open_high=()):
    entries = tuple(
        RankingEntry(1, Subject(name, LLM(name, "v")), value,
                     Interval(value - half, None if name in open_high else value + half), NO_STATISTICS, (), (1, 1))
        for name, value in values.items()
    )  # fmt: skip
    return MetricRanking(metric, Statistic.MEAN, None, entries, RunSource.SIMULATED)


def test_win_rates_count_wins_and_half_an_exact_tie_in_the_metric_direction():
    assert win_rates(np.array([1.0, 2.0, 3.0]), lower_is_better=True).tolist() == [1.0, 0.5, 0.0]
    assert win_rates(np.array([1.0, 2.0, 3.0]), lower_is_better=False).tolist() == [0.0, 0.5, 1.0]
    assert win_rates(np.array([1.0, 1.0, 3.0]), lower_is_better=True).tolist() == [0.75, 0.75, 0.0]
    assert win_rates(np.array([[1.0, 2.0], [2.0, 1.0]]), lower_is_better=True).tolist() == [[1, 0], [0, 1]]
    assert win_rates(np.array([5.0]), lower_is_better=True).tolist() == [1.0]
    assert win_rates(np.array([3.0, 1.0, 3.0]), lower_is_better=True).tolist() == [0.25, 1.0, 0.25]
    assert win_rates(np.array([1.0, 1.0, 1.5]), lower_is_better=False).tolist() == [0.25, 0.25, 1.0]
    assert win_rates(np.array([2.0, 2.0, 2.0, 2.0]), lower_is_better=True).tolist() == [0.5] * 4
    # A tie in one resample is half a win there, and leaves the other resamples' counts alone.
    assert win_rates(np.array([[1.0, 1.0, 3.0], [3.0, 2.0, 1.0]]), lower_is_better=True).tolist() == [
        [0.75, 0.75, 0.0],
        [0.0, 0.5, 1.0],
    ]


def test_scores_depend_on_the_order_of_values_not_on_how_far_an_outlier_lies():
    def scored(outlier):
        rankings = [
            metric_ranking(TTFT, {"a": 1.0, "b": 1.1, "c": outlier}),
            metric_ranking(TPS, {"a": 10.0, "b": 12.0, "c": 11}),
        ]
        return mean_win_rates(rankings, {"TTFT": 1, "TPS": 1}).score

    assert scored(9.0) == scored(900.0) == {"a": 0.5, "b": 0.75, "c": 0.25}


def test_scores_are_weighted_and_a_missing_metric_counts_zero():
    result = mean_win_rates(
        [metric_ranking(TTFT, {"a": 1.0, "b": 2.0}), metric_ranking(TPS, {"b": 100.0})], {"TTFT": 3, "TPS": 1}
    )
    assert result.score == {"a": 0.75, "b": 0.25}
    assert result.win_rates == {"a": {"TTFT": 1.0}, "b": {"TTFT": 0.0, "TPS": 1.0}}


def test_score_and_rank_intervals_follow_the_values_uncertainty(monkeypatch):
    sure = mean_win_rates([metric_ranking(TTFT, {"a": 1.0, "b": 2.0, "c": 3.0}, half=0.01)], {"TTFT": 1})
    assert sure.score_interval == {"a": (1.0, 1.0), "b": (0.5, 0.5), "c": (0.0, 0.0)}
    assert sure.rank_interval == {"a": (1, 1), "b": (2, 2), "c": (3, 3)}
    unsure = mean_win_rates([metric_ranking(TTFT, {"a": 1.0, "b": 1.01, "c": 3.0}, half=0.5)], {"TTFT": 1})
    assert unsure.score_interval["a"] == (0.5, 1.0) and unsure.rank_interval["a"] == (1, 2)
    assert unsure.score_interval["c"] == (0.0, 0.0) and unsure.rank_interval["c"] == (3, 3)


def test_an_open_side_is_redrawn_with_the_spread_of_the_metric_and_resamples_repeat():
    rankings = [metric_ranking(TTFT, {"a": 1.0, "b": 2.0, "c": 3.0}, half=0.01, open_high=("a",))]
    result = mean_win_rates(rankings, {"TTFT": 1})
    assert result.rank_interval["a"] == (1, 3)  # a spread of 2 s above 1 s reaches past b and c
    assert mean_win_rates(rankings, {"TTFT": 1}) == result


def test_the_redraws_are_normal_on_each_side_with_the_error_its_interval_implies():
    skewed = RankingEntry(1, Subject("a", LLM("a", "v")), 1.0, Interval(0.8, 1.4), NO_STATISTICS, (), (1, 1))
    open_top = RankingEntry(1, Subject("b", LLM("b", "v")), 4.0, Interval(3.9, None), NO_STATISTICS, (), (1, 1))
    draws = scores._redrawn([skewed, open_top], np.random.default_rng(0))
    z = np.random.default_rng(0).standard_normal((scores.RESAMPLES, 2))
    below, above = np.array([0.2, 0.1]) / 1.959963984540054, np.array([0.4, 3.0]) / 1.959963984540054
    above[1] = 3.0  # an open side: the spread of the metric's values (4 - 1)
    assert draws == pytest.approx(np.array([1.0, 4.0]) + z * np.where(z < 0, below, above), rel=1e-12)


@pytest.mark.parametrize("wins, interval", [(980, (1.0, 1.0)), (950, (0.0, 1.0)), (20, (0.0, 0.0)), (50, (0.0, 1.0))])
def test_the_score_interval_holds_the_middle_95_percent_of_the_resampled_scores(monkeypatch, wins, interval):
    # a beats b in `wins` of the 1,000 resamples.
    redraws = np.array([[1.0, 2.0]] * wins + [[2.0, 1.0]] * (scores.RESAMPLES - wins))
    monkeypatch.setattr(scores, "_redrawn", lambda entries, rng: redraws)
    result = mean_win_rates([metric_ranking(TTFT, {"a": 1.0, "b": 2.0})], {"TTFT": 1})
    assert result.score_interval["a"] == interval
    assert result.rank_interval["a"] == (1 if interval[1] == 1.0 else 2, 2 if interval[0] == 0.0 else 1)
