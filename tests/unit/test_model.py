"""The domain's own rules: a run's states, the words the API and the database use for them, roles."""

from datetime import UTC, datetime, timedelta

import pytest

from src.application.domain.errors import Forbidden
from src.application.domain.model import (
    COMMAND_LINE,
    SCHEDULE,
    Caller,
    Direction,
    Role,
    Run,
    RunSource,
    RunStatus,
    Sweep,
    SweepLoad,
)
from src.application.domain.ranking import GroupBy, Scope, Window

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_words_for_states_sources_directions_and_roles_are_the_apis_and_the_databases():
    assert [s.value for s in RunStatus] == ["queued", "running", "completed", "failed"]
    assert [s.value for s in RunSource] == ["simulated", "measured"]
    assert [d.value for d in Direction] == ["lower", "higher"]
    assert [r.value for r in Role] == ["reader", "operator", "admin"]
    assert [g.value for g in GroupBy] == ["llm", "endpoint"]
    assert [w.value for w in Window] == ["latest", "24h", "72h", "7d", "30d", "all"]


def test_a_ranking_asked_for_with_nothing_is_of_the_latest_simulated_run_by_llm():
    scope = Scope()
    assert (scope.run_id, scope.window, scope.source, scope.group_by) == (
        None, Window.LATEST, RunSource.SIMULATED, GroupBy.LLM,
    )  # fmt: skip
    assert (scope.plan, scope.campaign_id) == (None, None)


def test_a_new_run_is_queued_with_nothing_yet():
    run = Run(seed=1, samples_per_pair=10, created_at=NOW)
    assert (run.status, run.source, run.sample_count, run.id) == (RunStatus.QUEUED, RunSource.SIMULATED, 0, None)
    assert (run.started_at, run.finished_at, run.error, run.slot, run.requested_by) == (None,) * 5
    assert not run.is_finished


def test_a_run_completes_with_its_samples_or_fails_with_its_reason_and_either_is_final():
    run = Run(seed=1, samples_per_pair=10, created_at=NOW)
    run.start(NOW)
    assert (run.status, run.started_at, run.finished_at, run.error) == (RunStatus.RUNNING, NOW, None, None)
    assert not run.is_finished
    run.complete(NOW + timedelta(seconds=3), 480)
    assert (run.status, run.finished_at, run.sample_count) == (RunStatus.COMPLETED, NOW + timedelta(seconds=3), 480)
    assert run.is_finished

    failed = Run(seed=2, samples_per_pair=10, created_at=NOW)
    failed.start(NOW)
    failed.fail(NOW + timedelta(seconds=1), "x" * 600)
    assert (failed.status, failed.finished_at, failed.sample_count) == (RunStatus.FAILED, NOW + timedelta(seconds=1), 0)
    assert failed.error == "x" * 500 and failed.is_finished


def test_a_measured_runs_failed_requests_are_told_by_kind_with_the_requests_sent():
    run = Run(seed=1, samples_per_pair=20, created_at=NOW, source=RunSource.MEASURED,
              details={"requests_sent": 20, "errors": {"timeout": 1, "http_5xx": 3}})  # fmt: skip
    assert run.failed_requests == "4 of 20 failed (http_5xx 3, timeout 1)"
    for details in ({"requests_sent": 20, "errors": {}}, {"requests_sent": 20}, None):
        assert Run(seed=1, samples_per_pair=20, created_at=NOW, details=details).failed_requests == ""


def test_a_sweep_ends_at_a_time_with_its_reason_cut_to_500_characters():
    sweep = Sweep(1, SweepLoad.CONCURRENCY, [1, 2], {}, 0.1, 0.05, NOW)
    later = NOW + timedelta(minutes=3)
    sweep.finish(later, RunStatus.FAILED, "x" * 600)
    assert (sweep.status, sweep.finished_at, sweep.stop_reason) == (RunStatus.FAILED, later, "x" * 500)


def test_a_run_started_again_after_a_lost_worker_forgets_its_last_end():
    run = Run(seed=1, samples_per_pair=10, created_at=NOW)
    run.fail(NOW, "lost")
    run.start(NOW + timedelta(minutes=1))
    assert (run.status, run.started_at, run.finished_at, run.error) == (
        RunStatus.RUNNING, NOW + timedelta(minutes=1), None, None,
    )  # fmt: skip


@pytest.mark.parametrize(
    "role, allowed",
    [(Role.READER, [Role.READER]), (Role.OPERATOR, [Role.READER, Role.OPERATOR]), (Role.ADMIN, list(Role))],
)
def test_each_role_may_do_what_the_roles_before_it_may(role, allowed):
    assert [needed for needed in Role if role.allows(needed)] == allowed


def test_a_caller_without_the_role_is_told_which_roles_may():
    Caller("key:1", Role.OPERATOR).require(Role.OPERATOR, "starting a run")
    with pytest.raises(Forbidden, match=r"^starting a run needs the role operator or admin; this key is a reader key$"):
        Caller("key:2", Role.READER).require(Role.OPERATOR, "starting a run")
    with pytest.raises(Forbidden, match=r"^managing keys needs the role admin; this key is an operator key$"):
        Caller("key:3", Role.OPERATOR).require(Role.ADMIN, "managing keys")
    assert Caller("key:4", Role.READER).limited
    assert (SCHEDULE.identity, SCHEDULE.role, SCHEDULE.limited) == ("schedule", Role.ADMIN, False)
    assert (COMMAND_LINE.identity, COMMAND_LINE.role, COMMAND_LINE.limited) == ("cli", Role.ADMIN, False)


def test_a_measured_run_has_its_plans_requests_and_a_simulated_run_none():
    now = datetime(2026, 12, 8, tzinfo=UTC)
    measured = Run(seed=1, created_at=now, source=RunSource.MEASURED, details={"plan": {"requests": 40}})
    assert (measured.requests, measured.samples_per_pair) == (40, None)
    assert Run(seed=1, created_at=now, samples_per_pair=1000).requests is None
