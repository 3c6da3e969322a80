"""Rollups in SQL: a row per pair and hour, its bucket arrays packed into one compressed blob."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import ColumnElement, Connection, Select, and_, delete, func, insert, null, select, text, update
from sqlalchemy.orm import Session

from src.adapters.persistence import orm
from src.adapters.persistence.repositories import completed
from src.application.domain.model import MetricSummary, Run, RunSource, RunStatus
from src.application.domain.rollup import Moments, Rollup, counting, hour_of
from src.application.ports.repositories import AbstractRollupRepository, RunsSince

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
        hour, table, counts = hour_of(run.finished_at), orm.rollups, orm.run_counts
        later = select(counts.c.hour).where(counts.c.source == run.source, counts.c.hour > hour)
        hours = [hour, *self.session.scalars(later.order_by(counts.c.hour))]
        since: dict[Pair, dict[datetime, Rollup]] = {}
        for row in self.session.execute(select(table).where(table.c.source == run.source, table.c.hour >= hour)):
            since.setdefault((row.llm_id, row.metric_id), {})[row.hour] = from_row(row)
        # Every pair with runs before `hour` has a row at the last run hour before it (`counting`).
        last_before = _last_count(counts.c.hour, run.source, hour).scalar_subquery()
        rows_before = select(table).where(table.c.source == run.source, table.c.hour == last_before)
        before = {(row.llm_id, row.metric_id): from_row(row) for row in self.session.execute(rows_before)}
        counted = {(summary.llm_id, summary.metric_id): Rollup.of(summary) for summary in summaries}
        for pair in sorted(counted.keys() | before.keys()):  # the pairs left out carry their totals on
            known = since.get(pair, {})
            for at, rollup in counting(counted.get(pair), hours, before.get(pair), known).items():
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
            before = self.session.scalar(_last_count(counts.c.runs, source, hour)) or 0
            self.session.execute(insert(counts).values(source=source, hour=hour, runs=before + 1))

    def runs(self, source: RunSource, since: datetime | None = None) -> RunsSince:
        counts, runs = orm.run_counts.c.runs, orm.simulation_runs.c
        ever = _last_count(counts, source, None).scalar_subquery()
        before = _last_count(counts, source, since).scalar_subquery() if since is not None else null()
        in_window = [runs.finished_at >= since] if since is not None else []
        first, last = (
            completed(select(end(runs.finished_at)), source).where(*in_window).scalar_subquery()
            for end in (func.min, func.max)
        )
        total, earlier, first_finished, last_finished = self.session.execute(
            select(ever, before, first, last)
        ).one()  # one round trip; min and max keep the column's UTC type
        return RunsSince((total or 0) - (earlier or 0), first_finished, last_finished)

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

    def totals(
        self, source: RunSource, metric_ids: Collection[int] | None = None, since: datetime | None = None
    ) -> dict[Pair, tuple[Rollup, Rollup | None]]:
        # A pair has a row at every hour a run of its source finished in, from its first run on
        # (`counting`), so its newest totals lie at the source's last run hour and its totals before
        # `since` at the source's last run hour before it: one query, however long the history.
        table, hour = orm.rollups, orm.run_counts.c.hour
        newest = _last_count(hour, source, None).scalar_subquery()
        start = _last_count(hour, source, since).scalar_subquery() if since is not None else null()
        query = select(table, newest.label("newest"), start.label("start")).where(
            table.c.source == source, table.c.hour.in_([newest, start])
        )
        if metric_ids is not None:
            query = query.where(table.c.metric_id.in_(metric_ids))
        last: dict[Pair, Rollup] = {}
        first: dict[Pair, Rollup] = {}
        for row in self.session.execute(query):
            rollup, pair = from_row(row), (row.llm_id, row.metric_id)
            if row.hour == row.newest:
                last[pair] = rollup
            if row.hour == row.start:  # the same row when no run finished since
                first[pair] = rollup
        return {pair: (total, first.get(pair)) for pair, total in last.items()}


def _last_count(column: ColumnElement[Any], source: RunSource, before: datetime | None) -> Select[Any]:
    """The query of a run_counts column at the source's last hour before `before` (ever, when None)."""
    counts = orm.run_counts
    query = select(column).where(counts.c.source == source)
    if before is not None:
        query = query.where(counts.c.hour < before)
    return query.order_by(counts.c.hour.desc()).limit(1)


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
    totals: dict[RunSource, dict[Pair, Rollup]] = {}
    hours: dict[RunSource, datetime] = {}
    rows: list[dict[str, Any]] = []
    written = 0

    def close(source: RunSource) -> None:
        """Every pair of the source with runs so far gets a row at its hour (as `counting` does)."""
        nonlocal written
        rows.extend(dict(zip(_KEY, (source, *pair, hours[source]), strict=True), **to_row(total))
                    for pair, total in totals[source].items())  # fmt: skip
        written += len(totals[source])
        if len(rows) >= 1000:
            connection.execute(insert(orm.rollups), rows)
            rows.clear()

    for row in connection.execute(query):
        summary = MetricSummary(**{c.name: row._mapping[c.name] for c in columns}, intervals={})
        source, pair, hour = RunSource(row.source), (row.llm_id, row.metric_id), hour_of(row.finished_at)
        if hours.get(source, hour) != hour:  # that hour's totals are final
            close(source)
        hours[source] = hour
        pair_totals = totals.setdefault(source, {})
        pair_totals[pair] = pair_totals[pair] + Rollup.of(summary) if pair in pair_totals else Rollup.of(summary)
    for source in hours:
        close(source)
    if rows:
        connection.execute(insert(orm.rollups), rows)
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
