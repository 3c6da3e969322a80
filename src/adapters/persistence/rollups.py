"""Rollups in SQL: a row per pair and hour, its bucket arrays packed into one compressed blob."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, insert, select, text, true, update
from sqlalchemy.orm import Session

from src.adapters.persistence import orm
from src.application.domain.model import MetricSummary, Run, RunSource, RunStatus
from src.application.domain.rollup import Moments, Rollup, counting, hour_of
from src.application.ports.repositories import AbstractRollupRepository

ROLLUP_LOCK_ID = 0x524F4C4C  # "ROLL": one writer of rollups at a time (see SIMULATION_LOCK_ID)
_KEY = ("source", "llm_id", "metric_id", "hour")

Pair = tuple[int, int]


class SqlAlchemyRollupRepository(AbstractRollupRepository):
    def __init__(self, session: Session):
        self.session = session

    def include(self, run: Run, summaries: Sequence[MetricSummary]) -> None:
        assert run.finished_at is not None  # completed
        if self.session.get_bind().dialect.name == "postgresql":  # SQLite serialises writers itself
            self.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ROLLUP_LOCK_ID})
        hour = hour_of(run.finished_at)
        since: dict[Pair, dict[datetime, Rollup]] = {}
        table = orm.rollups
        for row in self.session.execute(select(table).where(table.c.source == run.source, table.c.hour >= hour)):
            since.setdefault((row.llm_id, row.metric_id), {})[row.hour] = from_row(row)
        before = self.totals(run.source, before=hour)
        for summary in summaries:
            pair = (summary.llm_id, summary.metric_id)
            known = since.get(pair, {})
            for at, rollup in counting(Rollup.of(summary), hour, before.get(pair), known).items():
                values = to_row(rollup)
                key = and_(*(table.c[name] == value for name, value in zip(_KEY, (run.source, *pair, at), strict=True)))
                if at in known:
                    self.session.execute(update(table).where(key).values(values))
                else:
                    self.session.execute(
                        insert(table).values(source=run.source, llm_id=pair[0], metric_id=pair[1], hour=at, **values)
                    )

    def totals(
        self, source: RunSource, metric_id: int | None = None, before: datetime | None = None
    ) -> dict[Pair, Rollup]:
        return {
            (row.llm_id, row.metric_id): from_row(row)
            for row in self.session.execute(newest_rows(source, metric_id, before))
        }


def newest_rows(source: RunSource, metric_id: int | None, before: datetime | None) -> Any:
    """Each catalogue pair's newest row (before `before`): one index lookup per pair, however many
    rows the pair has."""
    table, newer = orm.rollups, orm.rollups.alias("newer")
    llm, metric = orm.llms.c.id, orm.metrics.c.id
    newest = select(func.max(newer.c.hour)).where(
        newer.c.source == source, newer.c.llm_id == llm, newer.c.metric_id == metric
    )
    if before is not None:
        newest = newest.where(newer.c.hour < before)
    query = (
        select(table)
        .select_from(orm.llms.join(orm.metrics, true() if metric_id is None else metric == metric_id))
        .join(table, and_(table.c.source == source, table.c.llm_id == llm, table.c.metric_id == metric))
        .where(table.c.hour == newest.scalar_subquery())
    )
    return query


def to_row(rollup: Rollup) -> dict[str, Any]:
    # The cumulative sums rise bucket by bucket: their steps compress far better than they do.
    arrays = np.concatenate([rollup.counts, np.diff(rollup.squares, prepend=0), np.diff(rollup.crosses, prepend=0)])
    return {
        "runs": rollup.runs,
        "last_run_id": rollup.last_run_id,
        "mean": rollup.values.mean,
        "m2": rollup.values.m2,
        "size_squares": rollup.size_squares,
        "run_mean": rollup.run_means.mean,
        "run_m2": rollup.run_means.m2,
        "buckets": struct.pack("<i", rollup.offset) + zlib.compress(arrays.astype("<i8").tobytes()),
    }


def from_row(row: Any) -> Rollup:
    (offset,) = struct.unpack_from("<i", row.buckets)
    counts, squares, crosses = np.frombuffer(zlib.decompress(row.buckets[4:]), dtype="<i8").reshape(3, -1)
    return Rollup(
        runs=row.runs,
        last_run_id=row.last_run_id,
        values=Moments(float(counts.sum()), row.mean, row.m2),
        run_means=Moments(float(row.size_squares), row.run_mean, row.run_m2),
        size_squares=row.size_squares,
        offset=offset,
        counts=counts.astype(np.int64),
        squares=np.cumsum(squares),
        crosses=np.cumsum(crosses),
    )


def rebuild(connection: Connection) -> int:
    """Write every pair's rollups afresh from the completed runs' summaries; returns the rows."""
    connection.execute(orm.rollups.delete())
    runs, summaries = orm.simulation_runs, orm.metric_summaries
    query = (
        select(runs.c.source, runs.c.finished_at, summaries)
        .join(runs, runs.c.id == summaries.c.run_id)
        .where(runs.c.status == RunStatus.COMPLETED)
        .order_by(runs.c.finished_at, runs.c.id)
    )
    totals: dict[tuple[RunSource, int, int], Rollup] = {}
    rows: dict[tuple[RunSource, int, int, datetime], dict[str, Any]] = {}
    for row in connection.execute(query):
        summary = MetricSummary(**{c.name: row._mapping[c.name] for c in summaries.columns})
        key = (RunSource(row.source), row.llm_id, row.metric_id)
        totals[key] = totals[key] + Rollup.of(summary) if key in totals else Rollup.of(summary)
        rows[(*key, hour_of(row.finished_at))] = to_row(totals[key])  # the hour's last totals stay
    batch = [dict(zip(_KEY, key, strict=True), **values) for key, values in rows.items()]
    for start in range(0, len(batch), 1000):
        connection.execute(insert(orm.rollups), batch[start : start + 1000])
    return len(batch)
