"""Measurements on a schedule (MEASUREMENT_SCHEDULES): watching endpoints without anyone asking.

A schedule measures one endpoint, several each on its own, or several together as a campaign (the
default for several: they are then compared in the same time window). Each firing first waits a
random delay of up to `jitter_s`: schedules on the same minute then do not load the workers and the
endpoints all at once, and an endpoint cannot tell when it will be measured.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from typing import Any

from injector import inject

from src.application.domain import bounds
from src.application.domain.errors import DomainError, InvalidParameter
from src.application.domain.model import SCHEDULE
from src.application.use_cases.benchmarks import BenchmarkUseCases, plan_from
from src.application.use_cases.campaigns import CampaignUseCases

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MeasurementSchedule:
    name: str
    endpoints: tuple[str, ...]
    schedule: str  # a cron expression ("0 */4 * * *") or seconds ("3600")
    plan: dict[str, Any]  # as POST /benchmarks takes it
    jitter_s: float = 0.0
    together: bool = True  # several endpoints: one campaign; False: a run each

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidParameter("a schedule needs a name", parameter="name")
        bounds.SCHEDULED_ENDPOINTS.check(f"schedule {self.name!r}: the number of endpoints", len(self.endpoints))
        bounds.JITTER_S.check(f"schedule {self.name!r}: jitter_seconds", self.jitter_s)

    def delay(self, draw: random.Random) -> float:
        """How long this firing waits first: uniform up to the jitter."""
        return draw.uniform(0.0, self.jitter_s)


class ScheduledMeasurements:
    @inject
    def __init__(self, benchmarks: BenchmarkUseCases, campaigns: CampaignUseCases):
        self.benchmarks = benchmarks
        self.campaigns = campaigns

    def fire(self, schedule: MeasurementSchedule) -> list[int]:
        """Queue the schedule's measurement; the ids of the runs queued. An endpoint that cannot be
        measured (removed, say) is logged and the others are measured still."""
        plan = plan_from(schedule.plan, self.benchmarks.settings)
        if schedule.together and len(schedule.endpoints) > 1:
            report = self.campaigns.request(list(schedule.endpoints), plan, SCHEDULE)
            return [run.id for run in report.runs if run.id is not None]
        queued = []
        for name in schedule.endpoints:
            try:
                run = self.benchmarks.request(name, plan, SCHEDULE)
            except DomainError as error:
                log.warning("schedule %s could not measure %s: %s", schedule.name, name, error)
                continue
            assert run.id is not None
            queued.append(run.id)
        return queued
