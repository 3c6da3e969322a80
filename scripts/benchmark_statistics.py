"""Do the intervals and ties mean what they say? Monte-Carlo over seeds, with the simulator's
profiles as the known truth (their quantiles and means from 5 million draws each).

    make benchmark-statistics                                   # or:
    .venv/bin/python -m scripts.benchmark_statistics --seeds 200 --sizes 20,100,1000
    .venv/bin/python -m scripts.benchmark_statistics --seeds 1600 --sizes '' --blocks windows   # one block

Prints, per metric, statistic and n: the share of intervals reported sufficient, and how often
those cover the truth (target 93-97%), with the misses above and below; for the mean also the
normal interval's coverage, for comparison. Then the pairwise tests the rankings make: how often
two runs of one profile are called different (target at most 5%); for all twelve LLMs ranked as
the API ranks them, the share of truly adjacent pairs reported tied (target at most 5% on the
TTFT median at n=1000) and how often the 95% rank intervals hold the true rank; and how often a
window's RPS (one value per run) covers the true throughput.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import itertools
import time
from collections import defaultdict

import numpy as np

from src.application.domain.catalogue import LatencyProfile, load_catalogue
from src.application.domain.model import LLM, Direction, Interval, Metric, RunSource
from src.application.domain.ranking import MetricRanking, RankingEntry, Statistic, Subject
from src.application.services import ranking
from src.application.services.intervals import Z_95
from src.application.services.scores import mean_win_rates
from src.application.services.simulator import LLMSamples, draw_llm_samples
from src.application.services.statistics import TAILS, summarize
from src.application.use_cases.monitoring import latency_status
from src.application.use_cases.rankings import metric_weights
from src.application.use_cases.simulation import SimulationSettings

CATALOGUE = load_catalogue()
METRICS = [dataclasses.replace(m, id=i) for i, m in enumerate(CATALOGUE.metrics, start=1)]
FIELDS = ["mean", *TAILS]
TRUTH_DRAWS = 1_000_000
TRUTH_SEEDS = 5
UNKNOWN = Interval(None, None)
STATISTIC_OF = {statistic.field: statistic for statistic in Statistic}
LOAD = SimulationSettings().concurrency  # the load of scheduled runs
PER_REQUEST = [m for m in METRICS if m.name != "RPS"]  # RPS is one value per run: it has no interval of its own


def draw(profile: LatencyProfile, seed: int, position: int, n: int) -> LLMSamples:
    return draw_llm_samples(profile, CATALOGUE.workload, CATALOGUE.load, CATALOGUE.metrics, seed, position, n, LOAD)


@functools.cache
def truth(profile: LatencyProfile, position: int) -> dict[str, dict[str, float]]:
    """Each metric's true mean and tail statistics for a profile, from 5 million draws."""
    drawn = [draw(profile, 2**40 + s, position, TRUTH_DRAWS)
             for s in range(TRUTH_SEEDS)]  # fmt: skip
    known = {}
    for metric in PER_REQUEST:
        values = np.concatenate([d.by_metric[metric.name] for d in drawn])
        quantiles = {field: float(np.quantile(values, metric.raw_quantile(tail))) for field, tail in TAILS.items()}
        known[metric.name] = {"mean": float(values.mean()), **quantiles}
    return known


def run_summaries(profile: LatencyProfile, position: int, seed: int, n: int) -> dict[str, dict[str, Interval]]:
    drawn = draw(profile, seed, position, n)
    summaries = {}
    for metric in PER_REQUEST:
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
    for metric in PER_REQUEST:
        for n in sizes:
            for field in [*FIELDS, "normal mean"]:
                sufficient, above, below = tallies[metric.name, n, field]
                covers = f"{1 - (above + below) / sufficient:7.1%}" if sufficient else "      -"
                miss = f"{above / sufficient:6.1%} {below / sufficient:6.1%}" if sufficient else ""
                print(f"{metric.name:12} {field:12} {n:>6} {sufficient / total:10.0%} {covers} {miss}")


def ranked(seed: int, n: int, metric: Metric, statistic: Statistic, positions: list[int]) -> dict[int, RankingEntry]:
    """One simulated run of the LLMs at `positions`, ranked as the API ranks it, by position."""
    table = {}
    for position in positions:
        profile = CATALOGUE.profiles[position]
        values = draw(profile, seed, position, n)
        summary = summarize(1, 1, metric, values.by_metric[metric.name])
        table[str(position)] = (Subject(str(position), LLM(str(position), "")), ranking.combine(metric, [summary]))
    return {int(entry.subject.name): entry for entry in ranking.rank(metric, table, statistic)}


def rank_two(one: RankingEntry, two: RankingEntry, metric: Metric, statistic: Statistic) -> tuple[str, ...]:
    """Whom the first is tied with when the two runs are ranked side by side."""
    table = {"one": (LLM("one", ""), one.statistics), "two": (LLM("two", ""), two.statistics)}
    return next(e.tied_with for e in ranking.rank(metric, table, statistic) if e.subject.name == "one")


def tie_test(profiles: list[tuple[int, LatencyProfile]], n: int, seeds: int) -> None:
    print(f"\nTies: pairwise tests at 5%, Holm-corrected over every pair; n={n}, {seeds} seeds")
    ttft = METRICS[0]
    different = {statistic: 0 for statistic in Statistic}
    for position, _ in profiles:  # two runs of one profile, as two LLMs
        for seed in range(seeds):
            for statistic in Statistic:
                one = ranked(seed, n, ttft, statistic, [position])[position]
                two = ranked(seed + 10**6, n, ttft, statistic, [position])[position]
                different[statistic] += not rank_two(one, two, ttft, statistic)
    total = len(profiles) * seeds
    print("identical profiles called different (TTFT; target at most 5%): "
          + ", ".join(f"{statistic} {count / total:.1%}" for statistic, count in different.items()))  # fmt: skip
    everyone = list(range(len(CATALOGUE.profiles)))
    truths = {position: truth(CATALOGUE.profiles[position], position) for position in everyone}
    for metric, statistic in ((ttft, Statistic.MEDIAN), (ttft, Statistic.MEAN), (METRICS[1], Statistic.P99)):
        true = {p: truths[p][metric.name][statistic.field] for p in everyone}
        order = sorted(everyone, key=lambda p: true[p] if metric.direction is Direction.LOWER_IS_BETTER else -true[p])
        true_rank = {p: 1 + order.index(p) for p in everyone}
        pairs = list(itertools.pairwise(order))
        tied = covered = all_covered = 0
        for seed in range(seeds):
            entries = ranked(seed, n, metric, statistic, everyone)
            tied += sum(str(b) in entries[a].tied_with for a, b in pairs)
            hits = [entries[p].rank_interval[0] <= true_rank[p] <= entries[p].rank_interval[1] for p in everyone]
            covered += sum(hits)
            all_covered += all(hits)
        print(f"{metric.name} {statistic}: adjacent pairs reported tied {tied / (len(pairs) * seeds):.1%} "
              f"(target at most 5% on the TTFT median); rank intervals cover the true rank "
              f"{covered / (len(everyone) * seeds):.1%} per LLM, all at once in {all_covered / seeds:.1%} "
              "of runs")  # fmt: skip


RUN_SPREAD = 0.15  # sigma of the log of each run's factor on TTFT: runs differ as hours of an endpoint do
WINDOW_RUN_SIZE = 200


def run_factors(seed: int, runs: int) -> np.ndarray:
    return np.random.default_rng([seed, 7]).lognormal(0.0, RUN_SPREAD, runs)


def window_truth(profile: LatencyProfile, position: int) -> dict[str, float]:
    """The TTFT statistics of the population of runs: factors times draws."""
    values = draw(profile, 2**41, position, 4_000_000).by_metric
    ttft = values["TTFT"] * run_factors(2**41, 4_000_000)
    return {"mean": float(ttft.mean()), **{f: float(np.quantile(ttft, q)) for f, q in TAILS.items()}}


def window_test(profiles: list[tuple[int, LatencyProfile]], seeds: int) -> None:
    """Windows of runs that differ from each other: clusters against requests taken as independent."""
    print(f"\nWindows of k runs of {WINDOW_RUN_SIZE} requests whose TTFT differs from run to run by a lognormal "
          f"factor (sigma {RUN_SPREAD}); {len(profiles)} profiles x {seeds} seeds; target 93-97%")  # fmt: skip
    ttft = METRICS[0]
    for k in (5, 10, 20):
        clusters = dict.fromkeys(FIELDS, 0)
        above = dict.fromkeys(FIELDS, 0)  # the truth above the interval
        resolved = dict.fromkeys(FIELDS, 0)  # within the interval widened by the reported resolution
        independent = dict.fromkeys(FIELDS, 0)
        sufficient = dict.fromkeys(FIELDS, 0)
        for position, profile in profiles:
            true = window_truth(profile, position)
            for seed in range(seeds):
                factors = run_factors(seed, k)
                summaries = []
                for run, factor in enumerate(factors):
                    drawn = draw(profile, seed * 1000 + run,
                                             position, WINDOW_RUN_SIZE)  # fmt: skip
                    summaries.append(summarize(run + 1, 1, ttft, drawn.by_metric["TTFT"] * factor))
                window = ranking.combine(ttft, summaries)
                # The window's requests as one run's, as windows were ranked before.
                as_one = ranking.from_sketch(ttft, dataclasses.replace(
                    summaries[0], n=window.n, mean=window.mean, std=window.std, sketch=window.sketch))  # fmt: skip
                for field in FIELDS:
                    interval = window.intervals[field]
                    if interval.sufficient:
                        sufficient[field] += 1
                        low, high, r = interval.low, interval.high, window.resolution(STATISTIC_OF[field])
                        clusters[field] += low <= true[field] <= high  # type: ignore[operator]
                        above[field] += true[field] > high  # type: ignore[operator]
                        resolved[field] += low * (1 - r) <= true[field] <= high * (1 + r)  # type: ignore[operator]
                    naive = as_one.intervals[field]
                    independent[field] += naive.low <= true[field] <= naive.high  # type: ignore[operator]
        total = len(profiles) * seeds
        for field in FIELDS:
            shown = sufficient[field] or 1
            below = shown - clusters[field] - above[field] if sufficient[field] else 0
            print(f"k={k:<3} {field:5} clusters: sufficient {sufficient[field] / total:4.0%}, cover "
                  f"{clusters[field] / shown:6.1%} (above {above[field] / shown:4.1%}, below {below / shown:4.1%}; "
                  f"{resolved[field] / shown:6.1%} within the resolution); "
                  f"requests as independent: cover {independent[field] / total:.1%}")  # fmt: skip


BASELINE_RUNS, LATEST_RUNS, RUN_REQUESTS = 12, 4, 20  # 72 h and 24 h of runs every 6 h, of the default 20 requests


def change_test(profiles: list[tuple[int, LatencyProfile]], seeds: int) -> None:
    """The change detector (use_cases/monitoring.py) on windows of runs that differ from each other:
    how often it flags an endpoint that did not change (target at most 1%), and how often one
    whose TTFT rose by a factor in the latest window."""
    ttft, tps = METRICS[0], next(m for m in METRICS if m.name == "TPS")
    print(f"\nChange detector: {BASELINE_RUNS} baseline runs against {LATEST_RUNS} latest, {RUN_REQUESTS} requests "
          f"each, runs differing by a lognormal factor (sigma {RUN_SPREAD}); {len(profiles)} profiles x {seeds} "
          "seeds; flagged when TTFT or ITL (median or p90) changed")  # fmt: skip
    for slower in (1.0, 1.2, 1.5, 2.0):
        flagged = 0
        for position, profile in profiles:
            for seed in range(seeds):
                factors = run_factors(seed + 10_000, BASELINE_RUNS + LATEST_RUNS)
                by_metric: dict[str, list] = {"TTFT": [], "TPS": []}
                for run, factor in enumerate(factors):
                    drawn = draw(profile, seed * 1000 + run + 500_000, position, RUN_REQUESTS).by_metric
                    late = slower if run >= BASELINE_RUNS else 1.0
                    by_metric["TTFT"].append(summarize(run + 1, 1, ttft, drawn["TTFT"] * factor * late))
                    by_metric["TPS"].append(summarize(run + 1, 1, tps, drawn["TPS"] / factor))
                statuses = [
                    latency_status(name, metric, by_metric[metric.name][BASELINE_RUNS:],
                                   by_metric[metric.name][:BASELINE_RUNS])
                    for name, metric in (("TTFT", ttft), ("ITL", tps))
                ]  # fmt: skip
                flagged += any(change.changed for status in statuses for change in status.changes.values())
        total = len(profiles) * seeds
        label = "no change (false alarms)" if slower == 1.0 else f"TTFT x{slower:g} (detected)"
        print(f"  {label:26} flagged {flagged / total:6.1%}")


def rps_test(profiles: list[tuple[int, LatencyProfile]], seeds: int) -> None:
    """RPS, one value per run, ranked across runs: the window's mean interval (its runs as clusters)
    against the true throughput, concurrency / true mean e2e latency."""
    rps = next(m for m in METRICS if m.name == "RPS")
    for k in (5, 20):
        covered = 0
        for position, profile in profiles:
            true = LOAD / truth(profile, position)["e2e_latency"]["mean"]
            for seed in range(seeds):
                runs = [draw(profile, seed * 1000 + run, position, WINDOW_RUN_SIZE) for run in range(k)]
                summaries = [summarize(i + 1, 1, rps, d.by_metric["RPS"]) for i, d in enumerate(runs)]
                interval = ranking.combine(rps, summaries).intervals["mean"]
                covered += interval.low <= true <= interval.high  # type: ignore[operator]
        print(f"RPS over k={k} runs of {WINDOW_RUN_SIZE} requests at concurrency {LOAD}: the mean interval covers "
              f"the true throughput {covered / (len(profiles) * seeds):.1%} (target 93-97%)")  # fmt: skip


def overall_test(n: int, seeds: int) -> None:
    """The overall score's and rank's 95% intervals against the true mean win rates (default weights)."""
    everyone = list(range(len(CATALOGUE.profiles)))
    truths = {position: truth(CATALOGUE.profiles[position], position) for position in everyone}
    weights = metric_weights({}, [m.name for m in METRICS])
    metrics = [m for m in METRICS if weights[m.name] > 0]
    for statistic in (Statistic.MEDIAN, Statistic.MEAN, Statistic.P99):
        true = [
            MetricRanking(m, statistic, None, tuple(
                RankingEntry(1, LLM(str(p), ""), truths[p][m.name][statistic.field], UNKNOWN, None, (), (1, 1))  # type: ignore[arg-type]
                for p in everyone), RunSource.SIMULATED)
            for m in metrics
        ]  # fmt: skip
        true_score = {int(name): score for name, score in mean_win_rates(true, weights).score.items()}
        true_rank = {p: 1 + sum(true_score[o] > true_score[p] for o in everyone) for p in everyone}
        scores_covered = ranks_covered = 0
        for seed in range(seeds):
            rankings = [
                MetricRanking(
                    m, statistic, None, tuple(ranked(seed, n, m, statistic, everyone).values()), RunSource.SIMULATED
                )
                for m in metrics
            ]
            for entry in ranking.overall(rankings, weights):
                p = int(entry.subject.name)
                scores_covered += entry.score_interval[0] <= true_score[p] <= entry.score_interval[1]
                ranks_covered += entry.rank_interval[0] <= true_rank[p] <= entry.rank_interval[1]
        total = len(everyone) * seeds
        print(f"overall ({statistic}, weights {', '.join(m.name for m in metrics)}): score intervals cover the "
              f"true mean win rate {scores_covered / total:.1%}, rank intervals the true rank "
              f"{ranks_covered / total:.1%}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--sizes", default="20,100,1000")
    parser.add_argument("--blocks", default="windows,changes,rps,ties,overall", help="the tests after coverage")
    parser.add_argument("--profiles", default="Gemini 1.5 Flash,Llama 3.1 70B,GPT-4o,Claude 3 Haiku",
                        help="comma-separated names: the heaviest and lightest TTFT tails by default")  # fmt: skip
    args = parser.parse_args()
    names = args.profiles.split(",")
    profiles = [(i, p) for i, p in enumerate(CATALOGUE.profiles) if p.llm_name in names]
    began = time.perf_counter()
    if args.sizes:  # --sizes '' prints the tests alone
        coverage(profiles, [int(size) for size in args.sizes.split(",")], args.seeds)
    blocks = {
        "windows": lambda: window_test(profiles, args.seeds),
        "changes": lambda: change_test(profiles, args.seeds),
        "rps": lambda: rps_test(profiles, args.seeds),
        "ties": lambda: tie_test(profiles, 1000, args.seeds),
        "overall": lambda: overall_test(1000, args.seeds),
    }
    asked = args.blocks.split(",") if args.blocks else []
    if unknown := [block for block in asked if block not in blocks]:
        parser.error(f"unknown blocks {', '.join(unknown)}; choose from {', '.join(blocks)}")
    for block in asked:
        blocks[block]()
    print(f"\n{time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
