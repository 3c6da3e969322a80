"""The simulator's samples: realistic per model, reproducible, and statistically sound."""

import dataclasses
import itertools

import numpy as np
import pytest

from src.application.domain.catalogue import load_catalogue
from src.application.services.simulator import draw_llm_samples
from src.application.services.statistics import summarize

METRICS = {m.name: dataclasses.replace(m, id=i) for i, m in enumerate(load_catalogue().metrics, start=1)}

CATALOGUE = load_catalogue()
PROFILES = {p.llm_name: p for p in CATALOGUE.profiles}


def draw(llm_name: str, seed: int, n: int = 1000, concurrency: int = 1):
    """Samples of one LLM; alone on its deployment unless a concurrency is given."""
    position = [p.llm_name for p in CATALOGUE.profiles].index(llm_name)
    profile, catalogue = PROFILES[llm_name], CATALOGUE
    return draw_llm_samples(
        profile, catalogue.workload, catalogue.load, catalogue.metrics, seed, position, n, concurrency
    ).by_metric


def test_every_metric_stays_within_its_documented_bounds():
    for name in PROFILES:
        samples = draw(name, seed=7, n=20_000)
        for metric in CATALOGUE.metrics:
            values = samples[metric.name]
            assert values.min() >= metric.lower_bound and values.max() <= metric.upper_bound, metric.name


def test_the_same_seed_gives_bit_identical_samples_and_another_seed_does_not():
    first, again, other = draw("GPT-4o", 42), draw("GPT-4o", 42), draw("GPT-4o", 43)
    for metric in first:
        assert first[metric].tobytes() == again[metric].tobytes()
        assert first[metric].tobytes() != other[metric].tobytes()


def test_llms_get_independent_streams_from_one_seed():
    assert not np.allclose(draw("GPT-4o", 1)["TPS"] / 95.0, draw("GPT-4o mini", 1)["TPS"] / 110.0)


def test_ttft_is_log_normal_around_the_profile_median_with_a_heavy_tail():
    profile = PROFILES["Gemini 1.5 Pro"]
    ttft = draw("Gemini 1.5 Pro", seed=3, n=50_000)["TTFT"]
    assert np.median(ttft) == pytest.approx(profile.ttft_median_s, rel=0.03)
    # The slow path stretches the top: p99 sits well beyond what the log-normal body alone gives.
    body_p99 = profile.ttft_median_s * np.exp(2.326 * profile.ttft_sigma)
    assert np.percentile(ttft, 99.5) > 1.3 * body_p99


def test_e2e_latency_is_consistent_with_each_samples_ttft_and_speed():
    samples = draw("Claude 3.5 Sonnet", seed=5, n=5000)
    streaming = samples["e2e_latency"] - samples["TTFT"]  # time spent producing the output tokens
    tokens = streaming * samples["TPS"]
    workload = CATALOGUE.workload
    assert tokens.min() >= workload.output_tokens_min - 1e-6
    assert tokens.max() <= workload.output_tokens_max + 1e-6
    assert np.allclose(tokens, np.rint(tokens), atol=1e-6)  # whole tokens


def test_rps_is_one_value_a_run_the_concurrency_over_the_mean_latency():
    for concurrency in (1, 16):
        samples = draw("Llama 3.1 8B", seed=9, n=5000, concurrency=concurrency)
        assert samples["RPS"].tolist() == [concurrency / samples["e2e_latency"].mean()]  # Little's law


def test_load_slows_the_first_token_and_shares_capacity_among_the_streams():
    profile = PROFILES["Llama 3.1 8B"]  # 180 tokens/s alone, 1,400 tokens/s for the deployment
    alone, some, many = (draw("Llama 3.1 8B", seed=4, n=20_000, concurrency=c) for c in (1, 4, 16))
    assert np.median(some["TPS"]) == pytest.approx(np.median(alone["TPS"]))  # 4 x 180 fits in 1,400
    assert np.median(many["TPS"]) == pytest.approx(np.median(alone["TPS"]) * 1400 / (16 * 180), rel=1e-9)
    assert np.median(many["TTFT"]) == pytest.approx(np.median(alone["TTFT"]) * (1 + 0.64 * 3), rel=1e-9)
    assert profile.speed_share(16) == pytest.approx(1400 / (16 * 180))


def test_the_load_model_reproduces_the_public_sweep_it_is_fitted_to():
    """Llama 3.1 8B on one H100 (InferenceBench, catalogue.json "load"): per-token time and TTFT
    p50 at concurrency 1, 4, 16 and 64."""
    alone_tpot_ms, capacity, alone_ttft_ms = 6.48, 1384.2, 13.98
    sweep = dataclasses.replace(PROFILES["Llama 3.1 8B"], tps_median=1000 / alone_tpot_ms, capacity_tps=capacity)
    measured = {1: (6.48, 13.98), 4: (6.59, 22.75), 16: (10.94, 41.69), 64: (46.91, 86.92)}
    for concurrency, (tpot_ms, ttft_ms) in measured.items():
        modelled_tpot = alone_tpot_ms / sweep.speed_share(concurrency)
        modelled_ttft = alone_ttft_ms * CATALOGUE.load.ttft_factor(concurrency)
        assert modelled_tpot == pytest.approx(tpot_ms, rel=0.07), concurrency
        assert modelled_ttft == pytest.approx(ttft_ms, rel=0.12), concurrency


def test_models_trade_speed_against_capacity_so_none_wins_everything():
    def winners(concurrency):
        medians = {name: draw(name, seed=2, n=2000, concurrency=concurrency) for name in PROFILES}
        return (
            min(medians, key=lambda name: np.median(medians[name]["TTFT"])),
            max(medians, key=lambda name: np.median(medians[name]["TPS"])),
            max(medians, key=lambda name: medians[name]["RPS"][0]),
        )

    alone, loaded = winners(1), winners(16)
    assert alone[:2] == ("Llama 3.1 8B", "Llama 3.1 8B")  # fastest alone on its deployment
    assert len(set(loaded)) > 1 and loaded[1] != "Llama 3.1 8B"  # but its deployment is small


def test_summaries_match_numpy_on_the_raw_samples():
    values = draw("Mixtral 8x22B", seed=11)["TTFT"]
    summary = summarize(1, 2, METRICS["TTFT"], values)
    assert summary.n == 1000
    assert summary.mean == values.mean()
    assert summary.std == values.std(ddof=1)
    assert (summary.minimum, summary.maximum) == (values.min(), values.max())
    assert [summary.p50, summary.p90, summary.p95, summary.p99] == list(np.percentile(values, [50, 90, 95, 99]))


@pytest.mark.parametrize("metric, field", [("TTFT", "ttft_median_s"), ("TPS", "tps_median")])
def test_with_1000_samples_the_ranking_recovers_the_profile_order_of_medians_10_percent_apart(metric, field):
    """Over many seeds, every pair of LLMs whose profile medians differ by 10% or more comes out
    of the simulation in the profile's order."""
    pairs = [
        (a, b)
        for a, b in itertools.permutations(PROFILES, 2)
        if getattr(PROFILES[b], field) >= 1.1 * getattr(PROFILES[a], field)
    ]
    assert len(pairs) > 30
    for seed in range(40):
        medians = {name: np.median(draw(name, seed)[metric]) for name in PROFILES}
        misordered = [(a, b) for a, b in pairs if medians[a] >= medians[b]]
        assert misordered == [], f"seed {seed}"


def test_a_summary_of_one_or_two_samples_has_the_sample_standard_deviation_or_none():
    assert summarize(1, 2, METRICS["TTFT"], np.array([0.5])).std == 0.0
    assert summarize(1, 2, METRICS["TTFT"], np.array([0.5, 1.5])).std == pytest.approx(np.sqrt(0.5))


def test_the_mean_interval_is_bootstrapped_with_a_stream_seeded_by_the_values():
    import hashlib

    from src.application.services.intervals import mean_interval

    values = draw("GPT-4o", seed=3, n=200)["TTFT"]
    seed = int.from_bytes(hashlib.blake2b(values.tobytes(), digest_size=8).digest())
    expected = mean_interval(values, np.random.default_rng(seed))
    assert summarize(1, 2, METRICS["TTFT"], values).intervals["mean"] == expected
    assert summarize(9, 9, METRICS["TTFT"], values.copy()).intervals["mean"] == expected  # the same data, anywhere


def test_a_slow_request_waits_its_ttft_times_one_plus_a_lomax_draw():
    every_one_slow = dataclasses.replace(PROFILES["GPT-4o"], ttft_sigma=1e-9, tail_probability=1.0, tail_alpha=3.0)
    ttft = draw_llm_samples(every_one_slow, CATALOGUE.workload, CATALOGUE.load, CATALOGUE.metrics, 5, 0, 200_000,
                            1).by_metric["TTFT"]  # fmt: skip
    # numpy's pareto draws Lomax, whose mean is 1 / (alpha - 1): half the median above it, on average.
    assert ttft.min() >= every_one_slow.ttft_median_s * (1 - 1e-6)
    assert ttft.mean() / every_one_slow.ttft_median_s == pytest.approx(1.5, rel=0.02)
    none_slow = dataclasses.replace(every_one_slow, tail_probability=0.0)
    steady = draw_llm_samples(none_slow, CATALOGUE.workload, CATALOGUE.load, CATALOGUE.metrics, 5, 0, 1000, 1)
    assert steady.by_metric["TTFT"] == pytest.approx(np.full(1000, none_slow.ttft_median_s), rel=1e-6)
