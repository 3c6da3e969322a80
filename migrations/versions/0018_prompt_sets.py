"""Given prompts are kept once, apart from the runs: a run's plan names them by the SHA-256 of their
JSON list and their count. Inline, a 5 MB prompt file made each of its runs' answers (the run list,
a ranking's run) 5 MB, and a campaign kept it once per endpoint. A run's plan key changes with
its plan's form, so its series' rollups are filed under the new key.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

runs = sa.table(
    "simulation_runs", sa.column("id"), sa.column("source"), sa.column("endpoint_id"), sa.column("details", sa.JSON)
)
prompt_sets = sa.table("prompt_sets", sa.column("sha256"), sa.column("prompts", sa.JSON))


def upgrade() -> None:
    op.create_table(
        "prompt_sets",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("prompts", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_prompt_sets"),
    )
    connection = op.get_bind()
    kept: set[str] = set()

    def named(prompts: Any) -> Any:
        if not isinstance(prompts, list) or not prompts:
            return prompts
        digest = hashlib.sha256(json.dumps(prompts, separators=(",", ":")).encode()).hexdigest()
        if digest not in kept:
            connection.execute(prompt_sets.insert().values(sha256=digest, prompts=prompts))
            kept.add(digest)
        return {"sha256": digest, "count": len(prompts)}

    rewrite_plans(named)


def downgrade() -> None:
    connection = op.get_bind()

    def inline(prompts: Any) -> Any:
        if not isinstance(prompts, dict):
            return prompts
        found = prompt_sets.c.prompts
        return connection.execute(sa.select(found).where(prompt_sets.c.sha256 == prompts["sha256"])).scalar_one()

    rewrite_plans(inline)
    op.drop_table("prompt_sets")


def rewrite_plans(rewritten: Callable[[Any], Any]) -> None:
    """Each measured run's plan with its prompts rewritten, and its series' rollups and run counts
    filed under the plan's new key. Runs are read one at a time: each may hold megabytes."""
    connection = op.get_bind()
    measured = connection.execute(sa.select(runs.c.id).where(runs.c.source == "measured").order_by(runs.c.id))
    for run_id in measured.scalars().all():
        endpoint_id, details = connection.execute(
            sa.select(runs.c.endpoint_id, runs.c.details).where(runs.c.id == run_id)
        ).one()
        plan = (details or {}).get("plan")
        if not plan or (prompts := rewritten(plan.get("prompts"))) is plan.get("prompts"):
            continue
        new_plan = plan | {"prompts": prompts}
        connection.execute(runs.update().where(runs.c.id == run_id).values(details=details | {"plan": new_plan}))
        old_key, new_key = plan_key(plan), plan_key(new_plan)
        for table in ("rollups", "run_counts"):
            series = sa.table(table, sa.column("source"), sa.column("endpoint_id"), sa.column("plan_key"))
            connection.execute(
                series.update()
                .where(series.c.source == "measured", series.c.endpoint_id == endpoint_id, series.c.plan_key == old_key)
                .values(plan_key=new_key)
            )


def plan_key(plan: dict[str, Any]) -> str:
    """services/plans.py's plan_key as of this revision: migrations keep what they ran with."""
    fields = {name: value for name, value in plan.items() if name not in ("load", "prompt_tokens")}
    if fields.get("workload"):
        fields["workload"] = {name: value for name, value in fields["workload"].items() if name != "seed"}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]
