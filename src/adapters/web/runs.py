"""Simulation runs over HTTP: trigger one, list them, follow one."""

from __future__ import annotations

import json

from flask import Blueprint, Response, request, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web.auth import caller
from src.adapters.web.contract import JSON_LINES, MEASURED, READING, RUNS, STARTING_WORK, answers, api
from src.adapters.web.models import ID_IN_PATH, RequestRecord, RunEnvelope, RunList, RunListQuery, RunOut, RunRequest
from src.application.domain.model import RunSource, RunStatus
from src.application.use_cases.benchmarks import BenchmarkUseCases
from src.application.use_cases.simulation import SimulationUseCases

blueprint = Blueprint("runs", __name__)


@blueprint.post("/runs", strict_slashes=False)
@api.validate(json=RunRequest, resp=answers((202, RunEnvelope, "Queued; follow the Location"), *STARTING_WORK),
              tags=[RUNS])  # fmt: skip
def request_run(simulations: SimulationUseCases) -> ResponseReturnValue:
    """Queue a simulation run for the workers"""
    body: RunRequest = request.context.json  # type: ignore[attr-defined]
    run = simulations.request(body.seed, body.samples_per_pair, caller(), body.concurrency)
    return RunEnvelope.of(run), 202, {"Location": url_for("runs.get_run", run_id=run.id)}


@blueprint.get("/runs", strict_slashes=False)
@api.validate(query=RunListQuery, resp=answers((200, RunList, "A page of runs, newest first"), *READING),
              tags=[RUNS])  # fmt: skip
def list_runs(simulations: SimulationUseCases) -> ResponseReturnValue:
    """Runs, newest first"""
    query: RunListQuery = request.context.query  # type: ignore[attr-defined]
    status = RunStatus(query.status) if query.status else None
    source = RunSource(query.source) if query.source else None
    runs, total = simulations.list(query.limit, query.offset, status, query.endpoint, source)
    return RunList(runs=[RunOut.model_validate(run) for run in runs], total=total, limit=query.limit,
                   offset=query.offset)  # fmt: skip


@blueprint.get(f"/runs/<{ID_IN_PATH}:run_id>")
@api.validate(resp=answers((200, RunEnvelope, "The run"), *READING, 404), tags=[RUNS])
def get_run(run_id: int, simulations: SimulationUseCases) -> ResponseReturnValue:
    """One run: status, seed, timings, sample count"""
    return RunEnvelope.of(simulations.get(run_id))


@blueprint.get(f"/runs/<{ID_IN_PATH}:run_id>/requests")
@api.validate(
    resp=answers((200, RequestRecord, "JSON Lines: a request a line, in the order sent"), *READING, 404, 409),
    tags=[MEASURED],
)
def get_requests(run_id: int, benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """A measured run's requests as they happened: each one's timeline, tokens and error"""
    records = benchmarks.requests(run_id)
    lines = (json.dumps(record, separators=(",", ":")) + "\n" for record in records)
    disposition = f'attachment; filename="run-{run_id}-requests.jsonl"'
    return Response(lines, mimetype=JSON_LINES, headers={"Content-Disposition": disposition})
