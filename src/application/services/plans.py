"""Which measured runs may be compared: runs of the same plan.

A plan's key is a hash of what it sends and how: the load shape, the number of requests and
warm-ups, the output length and whether it is forced, connection reuse, the SLO, the workload's
distribution and the given prompts. Only the workload's seed is left out: two runs that draw
their prompts from one distribution with different seeds measure the same thing (monitoring sends
fresh prompts each time, so that no cache answers them), and their runs are samples of it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from src.application.domain.model import Run, RunSource
from src.application.domain.ranking import PlanChoice
from src.application.domain.rollup import SIMULATED, Series

DERIVED = ("load", "prompt_tokens")  # follow from the rest, and prompt_tokens from the seed too


def plan_key(plan: dict[str, Any]) -> str:
    """12 hex digits naming the plan as a run's details hold it, the workload's seed aside."""
    fields = {name: value for name, value in plan.items() if name not in DERIVED}
    if fields.get("workload"):
        fields["workload"] = {name: value for name, value in fields["workload"].items() if name != "seed"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def prompts_digest(prompts: Sequence[str]) -> str:
    """Names given prompts by their content: the SHA-256 of their JSON list. A plan holds them by
    it and their count, and they are kept once, apart (a campaign's runs share them)."""
    return hashlib.sha256(json.dumps(list(prompts), separators=(",", ":")).encode()).hexdigest()


def describe(plan: dict[str, Any]) -> str:
    """A plan in a line, for people choosing one: "20 requests, concurrency 4, 256 tokens out, ..."."""
    load = plan.get("load") or {}
    parts = [f"{plan['requests']} requests"]
    if load.get("shape") == "fixed_concurrency":
        parts.append(f"concurrency {load['concurrency']}")
    elif load:
        parts.append(f"{load['shape']} arrivals at {load['rate_per_second']:g}/s")
    parts.append(f"{'exactly ' if plan.get('force_output') else 'up to '}{plan['max_tokens']} tokens out")
    if workload := plan.get("workload"):
        parts.append(f"{workload['distribution']} inputs of {workload['input_tokens']} tokens")
    elif plan.get("prompts"):
        parts.append(f"{plan['prompts']['count']} given prompts")
    if not plan.get("reuse_connections", True):
        parts.append("a fresh connection each")
    return ", ".join(parts)


def by_plan(runs: Sequence[Run]) -> dict[str, list[Run]]:
    """Measured runs by their plan's key, each list in the runs' order."""
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(plan_key(run.plan), []).append(run)
    return grouped


def choice(runs: Sequence[Run]) -> PlanChoice:
    """Runs of one plan, as the plan a ranking or a status reads."""
    return PlanChoice(plan_key(runs[0].plan), describe(runs[0].plan), len(runs))


def series_of(run: Run) -> Series:
    """The series whose totals count a completed run: simulated runs all count together, a measured
    run with its endpoint's runs of its plan."""
    return series(run.source, run.endpoint_id, run.details)


def series(source: RunSource, endpoint_id: int | None, details: dict[str, Any] | None) -> Series:
    if source is RunSource.SIMULATED:
        return SIMULATED
    assert endpoint_id is not None and details is not None  # a measured run
    return Series(source, endpoint_id, plan_key(details["plan"]))
