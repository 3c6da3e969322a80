"""Rollups in SQL: a row per series, pair and hour, its bucket arrays packed into one compressed blob."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import astuple
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    null,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from src.adapters.persistence import orm
from src.adapters.persistence.repositories import completed
from src.application.domain.model import MetricSummary, Run, RunSource
from src.application.domain.rollup import Moments, Rollup, Series, counting, hour_of
from src.application.ports.repositories import AbstractRollupRepository, RunsSince
from src.application.services import plans

ROLLUP_LOCK_ID = 0x524F4C4C  # "ROLL": one writer of rollups at a time (see SIMULATION_LOCK_ID)
_SERIES = ("source", "endpoint_id", "plan_key")
_KEY = (*_SERIES, "llm_id", "metric_id", "hour")

Pair = tuple[int, int]


class SqlAlchemyRollupRepository(AbstractRollupRepository):
    def __init__(self, session: Session):
        self.session = session

    def include(self, series: Series, run: Run, summaries: Sequence[MetricSummary]) -> None:
        assert run.finished_at is not None  # completed
        if self.session.get_bind().dialect.name == "postgresql":  # SQLite serialises writers itself
            self.session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ROLLUP_LOCK_ID})
        hour, table, counts = hour_of(run.finished_at), orm.rollups, orm.run_counts
        later = select(counts.c.hour).where(*_of(counts, series), counts.c.hour > hour)
        hours = [hour, *self.session.scalars(later.order_by(counts.c.hour))]
        since: dict[Pair, dict[datetime, Rollup]] = {}
        for row in self.session.execute(select(table).where(*_of(table, series), table.c.hour >= hour)):
            since.setdefault((row.llm_id, row.metric_id), {})[row.hour] = from_row(row)
        # Every pair with runs before `hour` has a row at the series' last run hour before it (`counting`).
        last_before = _last_count(counts.c.hour, series, hour).scalar_subquery()
        rows_before = select(table).where(*_of(table, series), table.c.hour == last_before)
        before = {(row.llm_id, row.metric_id): from_row(row) for row in self.session.execute(rows_before)}
        counted = {(summary.llm_id, summary.metric_id): Rollup.of(summary) for summary in summaries}
        for pair in sorted(counted.keys() | before.keys()):  # the pairs left out carry their totals on
            known = since.get(pair, {})
            for at, rollup in counting(counted.get(pair), hours, before.get(pair), known).items():
                self._write(dict(zip(_KEY, (*astuple(series), *pair, at), strict=True)), rollup, exists=at in known)
        self._count(series, run, hour)

    def _write(self, key: dict[str, Any], rollup: Rollup, exists: bool) -> None:
        table = orm.rollups
        if exists:
            where = and_(*(table.c[name] == value for name, value in key.items()))
            self.session.execute(update(table).where(where).values(to_row(rollup)))
        else:
            self.session.execute(insert(table).values({**key, **to_row(rollup)}))

    def _count(self, series: Series, run: Run, hour: datetime) -> None:
        counts, finished = orm.run_counts, run.finished_at
        assert finished is not None and run.id is not None
        of_series = _of(counts, series)
        self.session.execute(update(counts).where(*of_series, counts.c.hour >= hour).values(runs=counts.c.runs + 1))
        row = self.session.execute(select(counts).where(*of_series, counts.c.hour == hour)).first()
        if row is None:
            before = self.session.scalar(_last_count(counts.c.runs, series, hour)) or 0
            values = dict(zip(_SERIES, astuple(series), strict=True))
            self.session.execute(insert(counts).values(**values, hour=hour, runs=before + 1, first_finished=finished,
                                                       last_finished=finished, last_run_id=run.id))  # fmt: skip
            return
        self.session.execute(
            update(counts)
            .where(*of_series, counts.c.hour == hour)
            .values(
                first_finished=min(row.first_finished, finished),
                last_finished=max(row.last_finished, finished),
                last_run_id=run.id if finished >= row.last_finished else row.last_run_id,
            )
        )

    def runs(self, source: RunSource, since: datetime | None = None) -> dict[Series, RunsSince]:
        rows = self.session.execute(_runs_query(since is not None), {"source": source, "since": since})
        return {
            _series(row): RunsSince(
                row.total - (row.earlier or 0), row.first, row.last, row.run_id, row.newest, row.start
            )
            for row in rows
        }

    def prune_before(self, hour: datetime) -> int:
        counts, earlier = orm.run_counts, orm.run_counts.alias("earlier")
        # The row kept before `hour` stands for every run before it: it takes their first finish.
        first = select(func.min(earlier.c.first_finished)).where(_joined(earlier, counts), earlier.c.hour < hour)
        self.session.execute(update(counts).where(counts.c.hour < hour).values(first_finished=first.scalar_subquery()))
        pruned = 0
        for table, key in ((orm.rollups, (*_SERIES, "llm_id", "metric_id")), (counts, _SERIES)):
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
        self, series: Mapping[Series, RunsSince], metric_ids: Collection[int] | None = None
    ) -> dict[tuple[Series, int, int], tuple[Rollup, Rollup | None]]:
        # A pair has a row at every hour a run of its series finished in, from its first run on
        # (`counting`), so its totals lie at the two hours `runs` found: one query reads the rows
        # there (by key), however long the history.
        ends = {one: (runs.newest_hour, runs.start_hour) for one, runs in series.items()}
        keys = [(*astuple(one), hour) for one, hours in ends.items() for hour in hours if hour is not None]
        if not keys:
            return {}
        at_keys = {"keys": keys, "metric_ids": list(metric_ids or ())}
        last: dict[tuple[Series, int, int], Rollup] = {}
        first: dict[tuple[Series, int, int], Rollup] = {}
        for row in self.session.execute(_rows_query(metric_ids is not None), at_keys):
            one = _series(row)
            pair, (newest, start) = (one, row.llm_id, row.metric_id), ends[one]
            if row.hour == newest:
                last[pair] = from_row(row)
            if row.hour == start:
                first[pair] = from_row(row)
        return {pair: (total, first.get(pair)) for pair, total in last.items()}


# The read queries are built once per shape, their values bound at each request: building one
# took longer than PostgreSQL takes to run it.


@cache
def _runs_query(windowed: bool) -> Select[Any]:
    """Each series' runs in the window (its newest count less its last before the window), and the
    hours its totals lie at: its newest run hour, and its last before the window."""
    counts = orm.run_counts.c
    return _in_window(windowed).add_columns(
        func.max(counts.runs).label("total"),
        func.min(counts.first_finished).label("first"),
        func.max(counts.last_finished).label("last"),
        _at_last_hour(counts.last_run_id).label("run_id"),
        _before(counts.runs, windowed).label("earlier"),
        func.max(counts.hour).label("newest"),
        _before(counts.hour, windowed).label("start"),
    )


@cache
def _rows_query(of_metrics: bool) -> Select[Any]:
    """The rows at some (series, hour) keys."""
    table = orm.rollups
    at = tuple_(*(table.c[name] for name in (*_SERIES, "hour"))).in_(bindparam("keys", expanding=True))
    query = select(table).where(at)
    return query.where(table.c.metric_id.in_(bindparam("metric_ids", expanding=True))) if of_metrics else query


def _of(table: Any, series: Series) -> list[ColumnElement[bool]]:
    return [table.c[name] == value for name, value in zip(_SERIES, astuple(series), strict=True)]


def _joined(table: Any, other: Any) -> ColumnElement[bool]:
    return and_(*(table.c[name] == other.c[name] for name in _SERIES))


def _series(row: Any) -> Series:
    return Series(RunSource(row.source), row.endpoint_id, row.plan_key)


def _in_window(windowed: bool) -> Select[Any]:
    """The query of each series of the source with runs from the hour `since` on, grouping their
    run counts there: it reads the window's rows, never older ones."""
    counts = orm.run_counts.c
    query = select(*(counts[name] for name in _SERIES)).where(counts.source == bindparam("source"))
    if windowed:
        query = query.where(counts.hour >= bindparam("since"))
    return query.group_by(*(counts[name] for name in _SERIES))


def _at_last_hour(column: ColumnElement[Any], before_since: bool = False) -> ColumnElement[Any]:
    """A run_counts column at the series' (the grouped query's row's) last hour, or its last before
    `since`: one index lookup a series."""
    counts, other = orm.run_counts, orm.run_counts.alias("other")
    latest = select(other.c[column.name]).where(_joined(other, counts))
    if before_since:
        latest = latest.where(other.c.hour < bindparam("since"))
    return latest.order_by(other.c.hour.desc()).limit(1).correlate(counts).scalar_subquery()


def _before(column: ColumnElement[Any], windowed: bool) -> ColumnElement[Any]:
    """The column at the series' last hour before `since` (None without a window)."""
    return _at_last_hour(column, before_since=True) if windowed else cast(null(), column.type)


def _last_count(column: ColumnElement[Any], series: Series, before: datetime) -> Select[Any]:
    """The query of a run_counts column at the series' last hour before `before`."""
    counts = orm.run_counts
    return select(column).where(*_of(counts, series), counts.c.hour < before).order_by(counts.c.hour.desc()).limit(1)


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
        "run_log_median_mean": rollup.run_log_medians.mean,
        "run_log_median_m2": rollup.run_log_medians.m2,
        "buckets": struct.pack("<i", rollup.offset) + zlib.compress(arrays.astype("<i8").tobytes()),
    }


def from_row(row: Any) -> Rollup:
    blob = row.buckets
    (offset,) = struct.unpack_from("<i", blob)
    stored = np.frombuffer(zlib.decompress(blob[4:]), dtype="<i8").reshape(3, -1)
    buckets = np.cumsum(stored, axis=1)  # the counts' too, put back: one operation, one copy
    buckets[0] = stored[0]
    return Rollup(
        runs=row.runs,
        last_run_id=row.last_run_id,
        values=Moments(float(stored[0].sum()), row.mean, row.m2),
        run_means=Moments(float(row.size_squares), row.run_mean, row.run_m2),
        run_log_medians=Moments(float(row.runs), row.run_log_median_mean, row.run_log_median_m2),
        size_squares=row.size_squares,
        offset=offset,
        buckets=buckets,
    )


def rebuild(connection: Connection) -> int:
    """Write every pair's rollups afresh from the valid completed runs' summaries; returns the rows."""
    connection.execute(orm.rollups.delete())
    connection.execute(orm.run_counts.delete())
    runs, summaries = orm.simulation_runs, orm.metric_summaries
    columns = [c for c in summaries.columns if c.name != "intervals"]  # rollups need no intervals
    query = (
        completed(select(runs.c.source, runs.c.endpoint_id, runs.c.details, runs.c.finished_at, *columns), None)
        .join(runs, runs.c.id == summaries.c.run_id)
        .order_by(runs.c.finished_at, runs.c.id)
        .execution_options(yield_per=10_000)  # streamed: a long history need not fit in memory
    )
    totals: dict[Series, dict[Pair, Rollup]] = {}
    hours: dict[Series, datetime] = {}
    of_run: dict[int, Series] = {}
    rows: list[dict[str, Any]] = []
    written = 0

    def close(series: Series) -> None:
        """Every pair of the series with runs so far gets a row at its hour (as `counting` does)."""
        nonlocal written
        rows.extend(dict(zip(_KEY, (*astuple(series), *pair, hours[series]), strict=True), **to_row(total))
                    for pair, total in totals[series].items())  # fmt: skip
        written += len(totals[series])
        if len(rows) >= 1000:
            connection.execute(insert(orm.rollups), rows)
            rows.clear()

    for row in connection.execute(query):
        summary = MetricSummary(**{c.name: row._mapping[c.name] for c in columns}, intervals={})
        if summary.run_id not in of_run:  # its first summary: the run's details are read once
            of_run = {summary.run_id: plans.series(RunSource(row.source), row.endpoint_id, row.details)}
        series, pair, hour = of_run[summary.run_id], (row.llm_id, row.metric_id), hour_of(row.finished_at)
        if hours.get(series, hour) != hour:  # that hour's totals are final
            close(series)
        hours[series] = hour
        pair_totals = totals.setdefault(series, {})
        pair_totals[pair] = pair_totals[pair] + Rollup.of(summary) if pair in pair_totals else Rollup.of(summary)
    for series in hours:
        close(series)
    if rows:
        connection.execute(insert(orm.rollups), rows)
    _count_runs(connection)
    return written


def _count_runs(connection: Connection) -> None:
    runs = orm.simulation_runs.c
    query = completed(select(runs.id, runs.source, runs.endpoint_id, runs.details, runs.finished_at), None)
    hourly: dict[tuple[Series, datetime], dict[str, Any]] = {}
    totals: dict[Series, int] = {}
    for run in connection.execute(query.order_by(runs.finished_at, runs.id)):
        series = plans.series(RunSource(run.source), run.endpoint_id, run.details)
        totals[series] = totals.get(series, 0) + 1
        key = (series, hour_of(run.finished_at))
        row = hourly.setdefault(key, {"first_finished": run.finished_at})
        row.update(runs=totals[series], last_finished=run.finished_at, last_run_id=run.id)  # in finishing order
    rows = [{**dict(zip(_SERIES, astuple(series), strict=True)), "hour": hour, **row}
            for (series, hour), row in hourly.items()]  # fmt: skip
    if rows:
        connection.execute(insert(orm.run_counts), rows)
