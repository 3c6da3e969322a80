"""Each summary keeps its 95% intervals; tail statistics of higher-is-better metrics read the slow tail.

Until now p90, p95 and p99 of TPS and RPS were the fast tail (the 90th to 99th percentiles of the
raw values); they become the 10th to 1st percentiles. Summaries written before this revision get
both from their sketch (`services.ranking.from_sketch`: tails and their intervals within the
sketch's 1%, a normal interval of the mean); new runs compute them from their raw values.

Downgrading drops the intervals; the tails stay the slow ones.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from src.application.domain.model import Direction, Metric, MetricSummary
from src.application.domain.sketch import QuantileSketch
from src.application.services.ranking import from_sketch

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

summaries = sa.table(
    "metric_summaries",
    *(sa.column(name) for name in ("run_id", "llm_id", "metric_id", "n", "mean", "std", "minimum", "maximum")),
    *(sa.column(name) for name in ("p50", "p90", "p95", "p99", "sketch")),
    sa.column("intervals", sa.JSON),
)
metrics = sa.table("metrics", *(sa.column(name) for name in ("id", "name", "direction")))


def upgrade() -> None:
    with op.batch_alter_table("metric_summaries") as batch:
        batch.add_column(sa.Column("intervals", sa.JSON()))
    connection = op.get_bind()
    directions = {row.id: Direction(row.direction) for row in connection.execute(sa.select(metrics))}
    for row in connection.execute(sa.select(summaries)).all():
        stats = from_sketch(_metric(directions[row.metric_id]), _summary(row))
        tails = {} if directions[row.metric_id] is Direction.LOWER_IS_BETTER else {
            field: getattr(stats, field) for field in ("p90", "p95", "p99")
        }  # fmt: skip
        connection.execute(
            summaries.update()
            .where(summaries.c.run_id == row.run_id, summaries.c.llm_id == row.llm_id)
            .where(summaries.c.metric_id == row.metric_id)
            .values(intervals={name: [i.low, i.high] for name, i in stats.intervals.items()}, **tails)
        )
    with op.batch_alter_table("metric_summaries") as batch:
        batch.alter_column("intervals", nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("metric_summaries") as batch:
        batch.drop_column("intervals")


def _metric(direction: Direction) -> Metric:
    return Metric("", "", "", direction, 0.0, 0.0)


def _summary(row: sa.Row) -> MetricSummary:  # type: ignore[type-arg]
    return MetricSummary(
        row.run_id, row.llm_id, row.metric_id, row.n, row.mean, row.std, row.minimum, row.maximum,
        row.p50, row.p90, row.p95, row.p99, QuantileSketch.from_bytes(bytes(row.sketch)), intervals={},
    )  # fmt: skip
