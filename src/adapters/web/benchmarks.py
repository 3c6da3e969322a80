"""Measured runs over HTTP: the endpoint catalogue, and measurement runs through the workers."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web.auth import caller
from src.adapters.web.contract import MEASURED, READING, STARTING_WORK, answers, api
from src.adapters.web.models import BenchmarkRequest, EndpointList, EndpointOut, RunEnvelope
from src.application.domain.model import Role
from src.application.use_cases.benchmarks import BenchmarkUseCases

blueprint = Blueprint("benchmarks", __name__)


@blueprint.get("/endpoints", strict_slashes=False)
@api.validate(resp=answers((200, EndpointList, "The endpoints"), *READING), tags=[MEASURED])
def list_endpoints(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """The OpenAI-compatible endpoints that measured runs benchmark"""
    admin = caller().role is Role.ADMIN
    return EndpointList(endpoints=[EndpointOut.of(e, with_address=admin) for e in benchmarks.endpoints()])


@blueprint.post("/benchmarks", strict_slashes=False)
@api.validate(
    json=BenchmarkRequest,
    resp=answers((202, RunEnvelope, "Queued; follow the Location"), *STARTING_WORK, 404),
    tags=[MEASURED],
)
def request_benchmark(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """Queue a measured run of an endpoint for the workers"""
    body: BenchmarkRequest = request.context.json  # type: ignore[attr-defined]
    slo = body.slo.to_domain() if body.slo else None
    workload = body.workload.to_domain() if body.workload else None
    plan = benchmarks.plan(
        body.requests, concurrency=body.concurrency, rate=body.rate, burstiness=body.burstiness, warmup=body.warmup,
        max_tokens=body.max_tokens, reuse_connections=body.reuse_connections, slo=slo, workload=workload,
        force_output=body.force_output,
    )  # fmt: skip
    run = benchmarks.request(body.endpoint, plan, caller())
    return RunEnvelope.of(run), 202, {"Location": url_for("runs.get_run", run_id=run.id)}
