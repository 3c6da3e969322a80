"""Simulation runs over HTTP: trigger one, list them, follow one."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web import params
from src.adapters.web.auth import caller
from src.adapters.web.schemas import run_json
from src.application.domain.model import RunStatus
from src.application.use_cases.simulation import MAX_SAMPLES_PER_PAIR, SimulationUseCases

blueprint = Blueprint("runs", __name__)
RUN_FIELDS = {"samples_per_pair", "seed"}


@blueprint.post("/runs", strict_slashes=False)
def request_run(simulations: SimulationUseCases) -> ResponseReturnValue:
    body = params.json_object('{"samples_per_pair": 1000}')
    params.known_fields(body, RUN_FIELDS)
    run = simulations.request(
        seed=params.integer(body, "seed", None, 0, 2**63 - 1),
        samples_per_pair=params.integer(body, "samples_per_pair", None, 2, MAX_SAMPLES_PER_PAIR),
        caller=caller(),
    )
    location = url_for("runs.get_run", run_id=run.id)
    return jsonify({"run": run_json(run)}), 202, {"Location": location}


@blueprint.get("/runs", strict_slashes=False)
def list_runs(simulations: SimulationUseCases) -> ResponseReturnValue:
    limit = params.integer(request.args, "limit", 20, 1, 100) or 20
    offset = params.integer(request.args, "offset", 0, 0, 10**9) or 0
    status = params.choice(request.args, "status", [s.value for s in RunStatus], "")
    runs, total = simulations.list(limit, offset, RunStatus(status) if status else None)
    return jsonify({"runs": [run_json(run) for run in runs], "total": total, "limit": limit, "offset": offset})


@blueprint.get("/runs/<int:run_id>")
def get_run(run_id: int, simulations: SimulationUseCases) -> ResponseReturnValue:
    return jsonify({"run": run_json(simulations.get(run_id))})
