"""Rollups in SQL: a row per pair and hour, its bucket arrays packed into one compressed blob."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import Connection, Select, and_, delete, func, insert, null, select, text, true, update
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
        hour, table = hour_of(run.finished_at), orm.rollups
        since: dict[Pair, dict[datetime, Rollup]] = {}
        for row in self.session.execute(select(table).where(table.c.source == run.source, table.c.hour >= hour)):
            since.setdefault((row.llm_id, row.metric_id), {})[row.hour] = from_row(row)
        before = {pair: earlier for pair, (_, earlier) in self.totals(run.source, since=hour).items()}
        for summary in summaries:
            pair = (summary.llm_id, summary.metric_id)
            known = since.get(pair, {})
            for at, rollup in counting(Rollup.of(summary), hour, before.get(pair), known).items():
                self._write(dict(zip(_KEY, (run.source, *pair, at), strict=True)), rollup, exists=at in known)
        self._count(run.source, hour)

    def _write(self, key: dict[str, Any], rollup: Rollup, exists: bool) -> None:
        table = orm.rollups
        if exists:
            where = and_(*(table.c[name] == value for name, value in key.items()))
            self.session.execute(update(table).where(where).values(to_row(rollup)))
        else:
            self.session.execute(insert(table).values({**key, **to_row(rollup)}))

    def _count(self, source: RunSource, hour: datetime) -> None:
        counts = orm.run_counts
        of_source = counts.c.source == source
        self.session.execute(update(counts).where(of_source, counts.c.hour >= hour).values(runs=counts.c.runs + 1))
        if self.session.scalar(select(counts.c.runs).where(of_source, counts.c.hour == hour)) is None:
            before = self.session.scalar(self._runs_before(source, hour)) or 0
            self.session.execute(insert(counts).values(source=source, hour=hour, runs=before + 1))

    def runs(self, source: RunSource, since: datetime | None = None) -> int:
        ever = self._runs_before(source, None)
        before = self._runs_before(source, since) if since is not None else select(null())
        total, earlier = self.session.execute(select(ever.scalar_subquery(), before.scalar_subquery())).one()
        return (total or 0) - (earlier or 0)

    def prune_before(self, hour: datetime) -> int:
        pruned = 0
        for table, key in ((orm.rollups, ("source", "llm_id", "metric_id")), (orm.run_counts, ("source",))):
            later = table.alias("later")
            superseded = (
                select(later.c.hour)
                .where(*(later.c[name] == table.c[name] for name in key), later.c.hour > table.c.hour)
                .where(later.c.hour < hour)
                .exists()
            )
            pruned += self.session.execute(delete(table).where(table.c.hour < hour, superseded)).rowcount
        return pruned

    def _runs_before(self, source: RunSource, hour: datetime | None) -> Select[tuple[int]]:
        """The query of how many runs of the source completed before `hour` (ever, when None)."""
        counts = orm.run_counts
        query = select(counts.c.runs).where(counts.c.source == source)
        if hour is not None:
            query = query.where(counts.c.hour < hour)
        return query.order_by(counts.c.hour.desc()).limit(1)

    def totals(
        self, source: RunSource, metric_ids: Collection[int] | None = None, since: datetime | None = None
    ) -> dict[Pair, tuple[Rollup, Rollup | None]]:
        # Two steps, each reading only the rows it needs however long the history: the newest
        # hours of each catalogue pair (an index lookup each), then the rows of those hours.
        table, llm, metric = orm.rollups, orm.llms.c.id, orm.metrics.c.id
        newest = select(func.max(table.c.hour)).where(
            table.c.source == source, table.c.llm_id == llm, table.c.metric_id == metric
        )
        before = newest.where(table.c.hour < since) if since is not None else select(null())
        pairs = select(llm, metric, newest.scalar_subquery(), before.scalar_subquery()).select_from(
            orm.llms.join(orm.metrics, true())
        )
        if metric_ids is not None:
            pairs = pairs.where(metric.in_(metric_ids))
        hours = {
            (llm_id, pair_metric): (last, first) for llm_id, pair_metric, last, first in self.session.execute(pairs)
        }
        wanted = {hour for both in hours.values() for hour in both if hour is not None}
        if not wanted:
            return {}
        # By hour (its own index) and metric: a list of (LLM, metric, hour) keys costs more to send
        # than the few rows of those hours that no pair asks for.
        query = select(table).where(table.c.source == source, table.c.hour.in_(wanted))
        if metric_ids is not None:  # the other metrics' rows of those hours would be sent for nothing
            query = query.where(table.c.metric_id.in_(metric_ids))
        rows = {(row.llm_id, row.metric_id, row.hour): row for row in self.session.execute(query)}
        return {
            pair: (from_row(rows[(*pair, last)]), from_row(rows[(*pair, first)]) if first is not None else None)
            for pair, (last, first) in hours.items()
            if last is not None
        }


def to_row(rollup: Rollup) -> dict[str, Any]:
    # The cumulative sums rise bucket by bucket: their steps compress far better than they do.
    arrays = np.concatenate([rollup.counts, np.diff(rollup.buckets[1:], axis=1, prepend=0).ravel()])
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
    buckets = np.frombuffer(zlib.decompress(row.buckets[4:]), dtype="<i8").reshape(3, -1).astype(np.int64)
    buckets[1:] = np.cumsum(buckets[1:], axis=1)
    return Rollup(
        runs=row.runs,
        last_run_id=row.last_run_id,
        values=Moments(float(buckets[0].sum()), row.mean, row.m2),
        run_means=Moments(float(row.size_squares), row.run_mean, row.run_m2),
        size_squares=row.size_squares,
        offset=offset,
        buckets=buckets,
    )


def rebuild(connection: Connection) -> int:
    """Write every pair's rollups afresh from the completed runs' summaries; returns the rows."""
    connection.execute(orm.rollups.delete())
    connection.execute(orm.run_counts.delete())
    runs, summaries = orm.simulation_runs, orm.metric_summaries
    columns = [c for c in summaries.columns if c.name != "intervals"]  # rollups need no intervals
    query = (
        select(runs.c.source, runs.c.finished_at, *columns)
        .join(runs, runs.c.id == summaries.c.run_id)
        .where(runs.c.status == RunStatus.COMPLETED)
        .order_by(runs.c.finished_at, runs.c.id)
        .execution_options(yield_per=10_000)  # streamed: a long history need not fit in memory
    )
    current: dict[tuple[RunSource, int, int], tuple[datetime, Rollup]] = {}
    written = 0

    def write(pairs: list[tuple[tuple[RunSource, int, int], tuple[datetime, Rollup]]]) -> None:
        nonlocal written
        if pairs:
            rows = [dict(zip(_KEY, (*key, hour), strict=True), **to_row(rollup)) for key, (hour, rollup) in pairs]
            connection.execute(insert(orm.rollups), rows)
            written += len(rows)

    done = []
    for row in connection.execute(query):
        summary = MetricSummary(**{c.name: row._mapping[c.name] for c in columns}, intervals={})
        key, hour = (RunSource(row.source), row.llm_id, row.metric_id), hour_of(row.finished_at)
        if key not in current:
            current[key] = (hour, Rollup.of(summary))
            continue
        last_hour, total = current[key]
        if last_hour != hour:  # that hour's totals are final
            done.append((key, current[key]))
        current[key] = (hour, total + Rollup.of(summary))
        if len(done) >= 1000:
            write(done)
            done = []
    write(done + list(current.items()))
    _count_runs(connection)
    return written


def _count_runs(connection: Connection) -> None:
    runs = orm.simulation_runs.c
    hourly: dict[tuple[RunSource, datetime], int] = {}
    for source, finished_at in connection.execute(
        select(runs.source, runs.finished_at).where(runs.status == RunStatus.COMPLETED)
    ):
        key = (RunSource(source), hour_of(finished_at))
        hourly[key] = hourly.get(key, 0) + 1
    totals: dict[RunSource, int] = {}
    rows = []
    for (source, hour), count in sorted(hourly.items()):
        totals[source] = totals.get(source, 0) + count
        rows.append({"source": source, "hour": hour, "runs": totals[source]})
    if rows:
        connection.execute(insert(orm.run_counts), rows)
