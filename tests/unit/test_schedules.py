"""Measurement schedules: their jitter, and the embedded scheduler that fires them."""

from __future__ import annotations

import random
import threading
import time

import pytest
from celery.schedules import BaseSchedule

from src.adapters.tasks.inprocess import InProcessScheduler
from src.application.domain.errors import InvalidParameter
from src.application.domain.model import SCHEDULE
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.schedules import MeasurementSchedule, ScheduledMeasurements
from tests.unit.test_campaigns import campaign_world


def test_a_firing_waits_a_uniform_delay_up_to_the_jitter():
    schedule = MeasurementSchedule("providers", ("a", "b"), "0 * * * *", {"requests": 5}, jitter_s=600)
    delays = [schedule.delay(random.Random(seed)) for seed in range(2000)]
    assert 0 <= min(delays) < 10 and 590 < max(delays) <= 600
    assert sum(delays) / len(delays) == pytest.approx(300, rel=0.05)
    assert MeasurementSchedule("x", ("a",), "60", {}).delay(random.Random(1)) == 0.0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"endpoints": ()}, "the number of endpoints must be between 1 and 100"),
        ({"jitter_s": -1}, "jitter_seconds must be between 0 and 3600"),
        ({"name": " "}, "a schedule needs a name"),
    ],
)
def test_a_schedule_is_checked_and_its_faults_named(fields, message):
    given = {"name": "x", "endpoints": ("a",), "schedule": "60", "plan": {}} | fields
    with pytest.raises(InvalidParameter, match=message) as refused:
        MeasurementSchedule(**given)
    if "name" in fields:
        assert (str(refused.value), refused.value.parameter) == ("a schedule needs a name", "name")


def scheduled() -> tuple[ScheduledMeasurements, CampaignUseCases]:
    campaigns, _, _ = campaign_world()
    return ScheduledMeasurements(campaigns.benchmarks, campaigns), campaigns


def test_a_schedule_of_several_endpoints_measures_them_together_by_default_as_one_campaign():
    measurements, campaigns = scheduled()
    ids = measurements.fire(MeasurementSchedule("fleet", ("fast", "slow"), "60", {"requests": 5}))
    runs = [campaigns.uow.store.runs[run_id] for run_id in ids]
    [campaign_id] = {run.campaign_id for run in runs}
    assert len(runs) == 2 and campaign_id is not None and campaigns.task_queue.enqueued == [campaign_id]
    assert {run.requested_by for run in runs} == {SCHEDULE.identity} and runs[0].plan["requests"] == 5


def test_one_endpoint_or_several_apart_get_a_run_each_and_one_that_cannot_be_measured_is_logged_and_skipped(caplog):
    measurements, campaigns = scheduled()
    apart = MeasurementSchedule("each", ("fast", "nowhere", "slow"), "60", {"requests": 5}, together=False)
    ids = measurements.fire(apart)
    assert len(ids) == 2 and campaigns.benchmarks.task_queue.enqueued == ids
    assert {campaigns.uow.store.runs[run_id].campaign_id for run_id in ids} == {None}
    assert "schedule each could not measure nowhere: no endpoint is named 'nowhere'" in caplog.text
    [alone] = measurements.fire(MeasurementSchedule("one", ("fast",), "60", {"requests": 5}))
    assert campaigns.uow.store.runs[alone].campaign_id is None and campaigns.task_queue.enqueued == []


class DueOnce(BaseSchedule):
    """Due at the first look only."""

    def __init__(self) -> None:
        super().__init__()
        self.looked = False

    def is_due(self, last_run_at):  # type: ignore[no-untyped-def]
        due, self.looked = not self.looked, True
        return due, 1.0


class Recorder:
    def __init__(self) -> None:
        self.fired: list[tuple[str, float]] = []
        self.done = threading.Event()

    def fire(self, schedule: MeasurementSchedule) -> list[int]:
        self.fired.append((schedule.name, time.monotonic()))
        self.done.set()
        return []


class NoSimulations:
    def tick(self, slot: str) -> None: ...

    def purge_expired_samples(self) -> None: ...

    def fail_stale_runs(self) -> None: ...


def test_the_embedded_scheduler_fires_a_measurement_schedule_after_its_jitter():
    schedule = MeasurementSchedule("watch", ("a",), "60", {"requests": 5}, jitter_s=0.3)
    recorder = Recorder()
    began = time.monotonic()
    scheduler = InProcessScheduler(DueOnce(), NoSimulations, [(schedule, DueOnce())], lambda: recorder)  # type: ignore[arg-type, return-value]
    scheduler.start()
    try:
        assert recorder.done.wait(5)
    finally:
        scheduler.stopped.set()
    ((name, at),) = recorder.fired
    assert name == "watch" and at - began <= 0.3 + 0.5
