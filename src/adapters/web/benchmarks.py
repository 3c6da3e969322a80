"""Measured runs over HTTP: the endpoint catalogue, and measurement runs through the workers."""

from __future__ import annotations

from flask import Blueprint, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web import params
from src.adapters.web.auth import caller
from src.adapters.web.schemas import endpoint_json, run_json
from src.application.domain.errors import InvalidParameter
from src.application.use_cases.benchmarks import BenchmarkUseCases

blueprint = Blueprint("benchmarks", __name__)
FIELDS = {"endpoint", "requests", "concurrency", "rate", "warmup", "max_tokens"}


@blueprint.get("/endpoints", strict_slashes=False)
def list_endpoints(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    return jsonify({"endpoints": [endpoint_json(e) for e in benchmarks.endpoints()]})


@blueprint.post("/benchmarks", strict_slashes=False)
def request_benchmark(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidParameter('the body must be a JSON object such as {"endpoint": "gpt-4o", "requests": 50}')
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidParameter(f"unknown field {', '.join(unknown)[:100]}", choices=sorted(FIELDS))
    rate = body.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int | float)):
        raise InvalidParameter("rate must be a number of requests per second")
    plan = benchmarks.plan(
        requests=params.integer(body, "requests", 50, 1, 10_000) or 50,
        concurrency=params.integer(body, "concurrency", 1, 1, 256) or 1,
        rate=float(rate) if rate is not None else None,
        warmup=params.integer(body, "warmup", None, 0, 100),
        max_tokens=params.integer(body, "max_tokens", None, 1, 8192),
    )
    run = benchmarks.request(params.text(body, "endpoint") or "", plan, caller())
    return jsonify({"run": run_json(run)}), 202, {"Location": url_for("runs.get_run", run_id=run.id)}
