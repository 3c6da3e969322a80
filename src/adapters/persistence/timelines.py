"""Request timelines in SQL: a row per measured run, its records as zlib-compressed JSON Lines
(a 256-token reply's record is about 6 KB of JSON, 2 KB compressed)."""

from __future__ import annotations

import json
import zlib
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from src.adapters.persistence.orm import request_timelines
from src.application.ports.repositories import AbstractTimelineRepository


class SqlAlchemyTimelineRepository(AbstractTimelineRepository):
    def __init__(self, session: Session):
        self.session = session

    def add(self, run_id: int, records: list[dict[str, Any]], recorded_on: date) -> None:
        lines = "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records)
        values = {"run_id": run_id, "recorded_on": recorded_on, "requests": len(records)}
        self.session.execute(insert(request_timelines).values(**values, records=zlib.compress(lines.encode())))

    def get(self, run_id: int) -> list[dict[str, Any]] | None:
        stored = self.session.scalar(select(request_timelines.c.records).where(request_timelines.c.run_id == run_id))
        if stored is None:
            return None
        return [json.loads(line) for line in zlib.decompress(stored).decode().splitlines()]

    def purge_before(self, day: date) -> int:
        return self.session.execute(delete(request_timelines).where(request_timelines.c.recorded_on < day)).rowcount
