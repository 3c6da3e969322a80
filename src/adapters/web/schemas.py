"""How domain objects look in JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from src.application.domain.model import SimulationRun


def timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def run_json(run: SimulationRun) -> dict[str, Any]:
    duration = (
        (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    )
    return {
        "id": run.id,
        "status": str(run.status),
        "source": str(run.source),
        "seed": run.seed,
        "samples_per_pair": run.samples_per_pair,
        "sample_count": run.sample_count,
        "slot": run.slot,
        "created_at": timestamp(run.created_at),
        "started_at": timestamp(run.started_at),
        "finished_at": timestamp(run.finished_at),
        "duration_seconds": duration,
        "error": run.error,
    }
