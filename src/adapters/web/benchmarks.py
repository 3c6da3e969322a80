"""Measured runs over HTTP: the endpoint catalogue, and measurement runs through the workers."""

from __future__ import annotations

from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web import params
from src.adapters.web.auth import caller
from src.adapters.web.schemas import endpoint_json, run_json
from src.application.domain.model import Role
from src.application.use_cases.benchmarks import BenchmarkUseCases

blueprint = Blueprint("benchmarks", __name__)
FIELDS = {"endpoint", "requests", "concurrency", "rate", "warmup", "max_tokens"}


@blueprint.get("/endpoints", strict_slashes=False)
def list_endpoints(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    admin = caller().role is Role.ADMIN
    return jsonify({"endpoints": [endpoint_json(e, with_address=admin) for e in benchmarks.endpoints()]})


@blueprint.post("/benchmarks", strict_slashes=False)
def request_benchmark(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    body = params.json_object('{"endpoint": "gpt-4o", "requests": 50}')
    params.known_fields(body, FIELDS)
    plan = benchmarks.plan(
        requests=params.integer(body, "requests", 50, 1, 10_000) or 50,
        concurrency=params.integer(body, "concurrency", 1, 1, 256) or 1,
        rate=params.number(body, "rate", 0, 1000),
        warmup=params.integer(body, "warmup", None, 0, 100),
        max_tokens=params.integer(body, "max_tokens", None, 1, 8192),
    )
    run = benchmarks.request(params.text(body, "endpoint") or "", plan, caller())
    return jsonify({"run": run_json(run)}), 202, {"Location": url_for("runs.get_run", run_id=run.id)}
