"""Uncached rankings of several commits, alternated in one sitting on one history: tells a change
of the code from the host's. On these 2-core hosts the same code's latency moves by a third from
one round to the next and doubles from one day to another, so figures of runs apart compare
hosts, not code.

    .venv/bin/python -m scripts.alternate_windows 5414537 HEAD [--rounds 5] [--runs 10000]

A history of --runs runs is made once (as `make benchmark-api` makes it). Then, each round, every
commit measures every path in a process of its own (in reverse order every other round), from a
git worktree of it, with this checkout's virtualenv (a commit whose locked requirements differ may
fail to import). A cell is the median of --requests uncached requests (`window_latencies`: in
process, the whole Flask stack, each answer computed again). Prints each commit's cell per round
and the median over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PATHS = ("/metrics/?metric_name=TTFT&window=latest", "/metrics/?metric_name=TTFT&window=24h", "/metrics/all?window=24h")


def measure() -> None:
    """In a commit's process: its latencies, as JSON on the last line."""
    from scripts.benchmark_api import window_latencies  # the commit's, from its worktree

    environ, key = json.loads(os.environ["ALTERNATE_ENVIRON"]), os.environ["ALTERNATE_KEY"]
    requests = int(os.environ["ALTERNATE_REQUESTS"])
    paths = json.loads(os.environ["ALTERNATE_PATHS"])
    print(json.dumps({path: statistics.median(window_latencies(environ, key, path, requests)) for path in paths}))


def alternate(commits: list[str], rounds: int, runs: int, requests: int, paths: list[str]) -> None:
    from scripts.benchmark_api import fill_history
    from scripts.harness import first_run_and_key, scratch_environment

    with tempfile.TemporaryDirectory() as folder, scratch_environment() as environ:
        trees = {commit: Path(folder) / str(n) for n, commit in enumerate(commits)}
        try:  # a commit that does not exist leaves no worktree of the others behind
            for commit, tree in trees.items():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(tree), commit],
                               check=True)  # fmt: skip
            key = first_run_and_key(environ)
            fill_history(environ, runs)
            cells: dict[str, dict[str, list[float]]] = {path: {commit: [] for commit in commits} for path in paths}
            for round_ in range(1, rounds + 1):
                order = list(trees.items())  # every other round in reverse: no commit always goes first
                for commit, tree in order if round_ % 2 else order[::-1]:
                    for path, median in _measured(tree, environ, key, requests, paths).items():
                        cells[path][commit].append(median)
                print(f"round {round_} of {rounds} done", file=sys.stderr, flush=True)
        finally:
            for tree in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    print(f"median ms of {requests} uncached requests, {runs:,} runs of history, commits alternated each round")
    for path, by_commit in cells.items():
        print(path)
        for commit, medians in by_commit.items():
            rounds_text = " ".join(f"{median:6.2f}" for median in medians)
            print(f"  {commit:<12}{rounds_text}   median {statistics.median(medians):6.2f}")


def _measured(tree: Path, environ: dict[str, str], key: str, requests: int, paths: list[str]) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(tree), "ALTERNATE_ENVIRON": json.dumps(environ), "ALTERNATE_KEY": key,
           "ALTERNATE_REQUESTS": str(requests), "ALTERNATE_PATHS": json.dumps(paths)}  # fmt: skip
    done = subprocess.run([sys.executable, __file__, "--measure"], cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{tree}: the commit's code failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commits", nargs="*", help="two or more commits (HEAD: the last commit, not the work tree)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=10_000, help="runs of history")
    parser.add_argument("--requests", type=int, default=200, help="uncached requests a cell")
    parser.add_argument(
        "--path", action="append", dest="paths", help=f"a ranking to time (default: {', '.join(PATHS)})"
    )
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure()
    elif len(args.commits) < 2:
        parser.error("name two or more commits to alternate")
    else:
        alternate(args.commits, args.rounds, args.runs, args.requests, args.paths or list(PATHS))


if __name__ == "__main__":
    main()
