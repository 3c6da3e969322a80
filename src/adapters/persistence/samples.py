"""Raw sample storage: a row per chunk of one (run, LLM, metric) pair, its values in one array.

A row per sample costs PostgreSQL about 60 bytes and a microsecond of COPY work each; a chunk row
holds the same values as an 8-byte-per-value float8[] (SQLite: a float64 BLOB), so runs store ten
times faster in a seventh of the space, and SQL can still read them (`unnest(sample_values)`).
On PostgreSQL the table is range-partitioned by recorded_on, one partition a day, so retention
drops whole partitions instead of deleting rows.
"""

from __future__ import annotations

import io
import struct
from datetime import date, timedelta

import numpy as np
from sqlalchemy import delete, distinct, func, insert, select, text
from sqlalchemy.orm import Session

from src.adapters.persistence.orm import samples
from src.application.ports.repositories import AbstractSampleRepository

_PG_EPOCH = date(2000, 1, 1)
_FLOAT8_OID = 701
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_COPY_SQL = (
    "COPY samples (run_id, llm_id, metric_id, chunk, recorded_on, n, sample_values) FROM STDIN WITH (FORMAT binary)"
)
# A float8[] element in binary COPY: its length (8), then the big-endian value.
_ARRAY_ELEMENT = np.dtype([("length", ">i4"), ("value", ">f8")])


def encode_copy_row(run_id: int, llm_id: int, metric_id: int, chunk: int, day: date, values: np.ndarray) -> bytes:
    """One row of PostgreSQL's binary COPY format; the array is built by numpy, not a loop."""
    elements = np.empty(values.size, dtype=_ARRAY_ELEMENT)
    elements["length"] = 8
    elements["value"] = values
    array = struct.pack(">iiiii", 1, 0, _FLOAT8_OID, values.size, 1) + elements.tobytes()
    return b"".join(
        (
            struct.pack(">h", 7),
            struct.pack(">ii", 4, run_id),
            struct.pack(">ih", 2, llm_id),
            struct.pack(">ih", 2, metric_id),
            struct.pack(">ii", 4, chunk),
            struct.pack(">ii", 4, (day - _PG_EPOCH).days),
            struct.pack(">ii", 4, values.size),
            struct.pack(">i", len(array)),
            array,
        )
    )


def partition_name(day: date) -> str:
    return f"samples_{day:%Y%m%d}"


class _SampleReads(AbstractSampleRepository):
    """Reading samples is the same SQL on every database."""

    def __init__(self, session: Session):
        self.session = session

    def count(self, run_id: int | None = None) -> int:
        query = select(func.coalesce(func.sum(samples.c.n), 0))
        if run_id is not None:
            query = query.where(samples.c.run_id == run_id)
        return int(self.session.scalar(query) or 0)

    def values(self, run_id: int, llm_id: int, metric_id: int) -> np.ndarray:
        """The stored values of one pair, in the order they were drawn."""
        chunks = self.session.scalars(
            select(samples.c.sample_values)
            .where(samples.c.run_id == run_id, samples.c.llm_id == llm_id, samples.c.metric_id == metric_id)
            .order_by(samples.c.chunk)
        ).all()
        return np.concatenate(chunks) if chunks else np.empty(0)


class PostgresSampleRepository(_SampleReads):
    def __init__(self, session: Session):
        super().__init__(session)
        self._days_ready: set[date] = set()

    def add_batch(
        self, run_id: int, llm_id: int, metric_id: int, chunk: int, values: np.ndarray, recorded_on: date
    ) -> None:
        self._ensure_partition(recorded_on)
        payload = _COPY_HEADER + encode_copy_row(run_id, llm_id, metric_id, chunk, recorded_on, values)
        with self.session.connection().connection.cursor() as cursor:
            cursor.copy_expert(_COPY_SQL, io.BytesIO(payload + _COPY_TRAILER))

    def _ensure_partition(self, day: date) -> None:
        if day in self._days_ready:
            return
        self.session.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF samples "
                f"FOR VALUES FROM ('{day.isoformat()}') TO ('{(day + timedelta(days=1)).isoformat()}')"
            )
        )
        self._days_ready.add(day)

    def purge_before(self, day: date) -> int:
        partitions = self.session.scalars(
            text(
                "SELECT child.relname FROM pg_inherits"
                " JOIN pg_class parent ON parent.oid = pg_inherits.inhparent"
                " JOIN pg_class child ON child.oid = pg_inherits.inhrelid"
                " WHERE parent.relname = 'samples'"
            )
        ).all()
        expired = [name for name in partitions if name < partition_name(day)]
        for name in expired:
            self.session.execute(text(f"DROP TABLE {name}"))
        return len(expired)


class SqlSampleRepository(_SampleReads):
    """Portable storage for the embedded SQLite default: plain inserts and row deletes."""

    def add_batch(
        self, run_id: int, llm_id: int, metric_id: int, chunk: int, values: np.ndarray, recorded_on: date
    ) -> None:
        self.session.execute(
            insert(samples).values(
                run_id=run_id,
                llm_id=llm_id,
                metric_id=metric_id,
                chunk=chunk,
                recorded_on=recorded_on,
                n=values.size,
                sample_values=values,
            )
        )

    def purge_before(self, day: date) -> int:
        days = self.session.scalar(
            select(func.count(distinct(samples.c.recorded_on))).where(samples.c.recorded_on < day)
        )
        self.session.execute(delete(samples).where(samples.c.recorded_on < day))
        return days or 0
