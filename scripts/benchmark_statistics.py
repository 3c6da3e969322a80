"""Do the intervals and ties mean what they say? Monte-Carlo over seeds, with the simulator's
profiles as the known truth (their quantiles and means from 5 million draws each).

    make benchmark-statistics                                   # or:
    .venv/bin/python -m scripts.benchmark_statistics --seeds 200 --sizes 20,100,1000

Prints, per metric, statistic and n: the share of intervals reported sufficient, and how often
those cover the truth (target 93-97%), with the misses above and below; for the mean also the
normal interval's coverage, for comparison. Then the tie test (overlapping 95% intervals): how
often two runs of one profile are called different (target at most 5%), and the share of truly
different adjacent pairs on the TTFT median reported tied at n=1000 (target at most 5%).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
from collections import defaultdict

import numpy as np

from src.application.domain.catalogue import LatencyProfile, load_catalogue
from src.application.domain.model import Interval
from src.application.services.intervals import Z_95
from src.application.services.simulator import draw_llm_samples
from src.application.services.statistics import TAILS, summarize

CATALOGUE = load_catalogue()
METRICS = [dataclasses.replace(m, id=i) for i, m in enumerate(CATALOGUE.metrics, start=1)]
FIELDS = ["mean", *TAILS]
TRUTH_DRAWS = 1_000_000
TRUTH_SEEDS = 5


def truth(profile: LatencyProfile, position: int) -> dict[str, dict[str, float]]:
    """Each metric's true mean and tail statistics for a profile, from 5 million draws."""
    drawn = [draw_llm_samples(profile, CATALOGUE.workload, CATALOGUE.metrics, 2**40 + s, position, TRUTH_DRAWS)
             for s in range(TRUTH_SEEDS)]  # fmt: skip
    known = {}
    for metric in METRICS:
        values = np.concatenate([d.by_metric[metric.name] for d in drawn])
        quantiles = {field: float(np.quantile(values, metric.raw_quantile(tail))) for field, tail in TAILS.items()}
        known[metric.name] = {"mean": float(values.mean()), **quantiles}
    return known


def run_summaries(profile: LatencyProfile, position: int, seed: int, n: int) -> dict[str, dict[str, Interval]]:
    drawn = draw_llm_samples(profile, CATALOGUE.workload, CATALOGUE.metrics, seed, position, n)
    summaries = {}
    for metric in METRICS:
        values = drawn.by_metric[metric.name]
        summary = summarize(1, 1, metric, values)
        half = Z_95 * summary.std / np.sqrt(n)
        summaries[metric.name] = {
            **summary.intervals,
            "normal mean": Interval(summary.mean - half, summary.mean + half),
        }
    return summaries


def coverage(profiles: list[tuple[int, LatencyProfile]], sizes: list[int], seeds: int) -> None:
    print(f"Coverage of 95% intervals ({len(profiles)} profiles x {seeds} seeds per cell; target 93-97%)")
    print(f"{'metric':12} {'statistic':12} {'n':>6} {'sufficient':>10} {'covers':>7} {'above':>6} {'below':>6}")
    truths = {position: truth(profile, position) for position, profile in profiles}
    # (metric, n, statistic): [sufficient, truth above, truth below]
    tallies: dict[tuple[str, int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for n in sizes:
        for position, profile in profiles:
            for seed in range(seeds):
                for name, intervals in run_summaries(profile, position, seed, n).items():
                    for field, interval in intervals.items():
                        true = truths[position][name]["mean" if field == "normal mean" else field]
                        if interval.low is not None and interval.high is not None:
                            tally = tallies[name, n, field]
                            tally[0] += 1
                            tally[1] += true > interval.high
                            tally[2] += true < interval.low
    total = len(profiles) * seeds
    for metric in METRICS:
        for n in sizes:
            for field in [*FIELDS, "normal mean"]:
                sufficient, above, below = tallies[metric.name, n, field]
                covers = f"{1 - (above + below) / sufficient:7.1%}" if sufficient else "      -"
                miss = f"{above / sufficient:6.1%} {below / sufficient:6.1%}" if sufficient else ""
                print(f"{metric.name:12} {field:12} {n:>6} {sufficient / total:10.0%} {covers} {miss}")


def tie_test(profiles: list[tuple[int, LatencyProfile]], n: int, seeds: int) -> None:
    print(f"\nTie test: overlapping 95% intervals, n={n}, {seeds} seeds")
    different = {field: 0 for field in FIELDS}
    for position, profile in profiles:
        for seed in range(seeds):
            one = run_summaries(profile, position, seed, n)["TTFT"]
            two = run_summaries(profile, position, seed + 10**6, n)["TTFT"]
            for field in FIELDS:
                different[field] += not one[field].overlaps(two[field])
    total = len(profiles) * seeds
    print("identical profiles called different (TTFT; target at most 5%): "
          + ", ".join(f"{field} {count / total:.1%}" for field, count in different.items()))  # fmt: skip
    everyone = list(enumerate(CATALOGUE.profiles))
    medians = {position: truth(profile, position)["TTFT"]["p50"] for position, profile in everyone}
    order = sorted(medians, key=medians.get)  # type: ignore[arg-type]
    pairs = [(a, b) for a, b in itertools.pairwise(order) if medians[a] < medians[b]]
    tied = 0
    for seed in range(seeds):
        intervals = {p: run_summaries(CATALOGUE.profiles[p], p, seed, n)["TTFT"]["p50"] for p in order}
        tied += sum(intervals[a].overlaps(intervals[b]) for a, b in pairs)
    print(f"truly different adjacent pairs on the TTFT median reported tied (target at most 5%): "
          f"{tied / (len(pairs) * seeds):.1%} of {len(pairs)} pairs x {seeds} seeds")  # fmt: skip
    print("rank-interval coverage: not measured yet (rank intervals are not built)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--sizes", default="20,100,1000")
    parser.add_argument("--profiles", default="Gemini 1.5 Flash,Llama 3.1 70B,GPT-4o,Claude 3 Haiku",
                        help="comma-separated names: the heaviest and lightest TTFT tails by default")  # fmt: skip
    args = parser.parse_args()
    names = args.profiles.split(",")
    profiles = [(i, p) for i, p in enumerate(CATALOGUE.profiles) if p.llm_name in names]
    began = time.perf_counter()
    coverage(profiles, [int(size) for size in args.sizes.split(",")], args.seeds)
    tie_test(profiles, 1000, args.seeds)
    print(f"\n{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
