"""Measured runs over HTTP: the endpoint catalogue, measured runs, sweeps and campaigns through the workers."""

from __future__ import annotations

from flask import Blueprint, request, url_for
from flask.typing import ResponseReturnValue

from src.adapters.web.auth import caller
from src.adapters.web.contract import MEASURED, READING, STARTING_WORK, answers, api
from src.adapters.web.models import (
    ID_IN_PATH,
    BenchmarkRequest,
    CampaignEnvelope,
    CampaignRequest,
    EndpointChange,
    EndpointEnvelope,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointStatusList,
    EndpointStatusOut,
    FailingOut,
    PlanIn,
    RunEnvelope,
    SweepEnvelope,
    SweepRequest,
)
from src.application.domain.model import Endpoint, Role, SweepLoad
from src.application.use_cases.benchmarks import BenchmarkPlan, BenchmarkUseCases
from src.application.use_cases.campaigns import CampaignUseCases
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.monitoring import MonitoringUseCases
from src.application.use_cases.sweeps import SweepSpec, SweepUseCases

blueprint = Blueprint("benchmarks", __name__)


@blueprint.get("/endpoints", strict_slashes=False)
@api.validate(resp=answers((200, EndpointList, "The endpoints"), *READING), tags=[MEASURED])
def list_endpoints(benchmarks: BenchmarkUseCases, catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """The OpenAI-compatible endpoints that measured runs benchmark"""
    admin, serving = caller().role is Role.ADMIN, catalogue.llm_names()
    return EndpointList(endpoints=[EndpointOut.of(e, serving[e.llm_id], admin) for e in benchmarks.endpoints()])


@blueprint.get("/endpoints/<name>")
@api.validate(resp=answers((200, EndpointEnvelope, "The endpoint"), *READING, 404), tags=[MEASURED])
def get_endpoint(name: str, benchmarks: BenchmarkUseCases, catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """One endpoint, where adding it pointed (its base URL and key variable for admins only)"""
    return _shown(benchmarks.endpoint(name), catalogue, with_address=caller().role is Role.ADMIN)


def _shown(endpoint: Endpoint, catalogue: CatalogueUseCases, with_address: bool) -> EndpointEnvelope:
    return EndpointEnvelope(endpoint=EndpointOut.of(endpoint, catalogue.llm_names()[endpoint.llm_id], with_address))


@blueprint.get("/monitoring/endpoints")
@api.validate(resp=answers((200, EndpointStatusList, "Each watched endpoint"), *READING), tags=[MEASURED])
def endpoint_statuses(monitoring: MonitoringUseCases) -> ResponseReturnValue:
    """Each endpoint's latest window: TTFT and ITL quantiles with intervals, throughput, errors, SLO
    attainment, and whether it changed against its baseline; and the endpoints whose newest run failed"""
    settings = monitoring.settings
    return EndpointStatusList(
        window_hours=settings.window.total_seconds() / 3600, baseline_hours=settings.baseline.total_seconds() / 3600,
        endpoints=[EndpointStatusOut.of(status) for status in monitoring.statuses()],
        failing=[FailingOut.of(newest) for newest in monitoring.newest_runs() if newest.failing],
    )  # fmt: skip


@blueprint.post("/endpoints", strict_slashes=False)
@api.validate(json=EndpointIn, resp=answers((201, EndpointEnvelope, "Added"), *STARTING_WORK, 409), tags=[MEASURED])
def add_endpoint(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """Add an endpoint (admins): its base URL is checked, its key stays in the variable it names"""
    body: EndpointIn = request.context.json  # type: ignore[attr-defined]
    endpoint = benchmarks.add_endpoint(
        body.name, body.llm, body.base_url, body.model, body.api_key_env, caller(),
        max_tokens_field=body.max_tokens_field, stream_usage=body.stream_usage,
    )  # fmt: skip
    location = url_for("benchmarks.get_endpoint", name=endpoint.name)
    return EndpointEnvelope(endpoint=EndpointOut.of(endpoint, body.llm, with_address=True)), 201, {"Location": location}


@blueprint.patch("/endpoints/<name>")
@api.validate(
    json=EndpointChange, resp=answers((200, EndpointEnvelope, "Changed"), *STARTING_WORK, 404), tags=[MEASURED]
)
def change_endpoint(name: str, benchmarks: BenchmarkUseCases, catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """Change an endpoint's base URL, model, key variable or max_tokens field (admins); its runs keep what they
    measured"""
    body: EndpointChange = request.context.json  # type: ignore[attr-defined]
    return _shown(benchmarks.change_endpoint(name, body.changes(), caller()), catalogue, with_address=True)


@blueprint.delete("/endpoints/<name>")
@api.validate(resp=answers((204, None, "Removed"), *STARTING_WORK, 404, 409), tags=[MEASURED])
def remove_endpoint(name: str, benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """Remove an endpoint (admins) that has no measured runs or sweeps"""
    benchmarks.remove_endpoint(name, caller())
    return "", 204


@blueprint.post("/benchmarks", strict_slashes=False)
@api.validate(
    json=BenchmarkRequest,
    resp=answers((202, RunEnvelope, "Queued; follow the Location"), *STARTING_WORK, 404),
    tags=[MEASURED],
)
def request_benchmark(benchmarks: BenchmarkUseCases) -> ResponseReturnValue:
    """Queue a measured run of an endpoint for the workers"""
    body: BenchmarkRequest = request.context.json  # type: ignore[attr-defined]
    run = benchmarks.request(body.endpoint, _plan(body, benchmarks), caller())
    return RunEnvelope.of(run), 202, {"Location": url_for("runs.get_run", run_id=run.id)}


def _plan(body: PlanIn, benchmarks: BenchmarkUseCases) -> BenchmarkPlan:
    slo = body.slo.to_domain() if body.slo else None
    workload = body.workload.to_domain() if body.workload else None
    return benchmarks.plan(
        body.requests, concurrency=body.concurrency, rate=body.rate, burstiness=body.burstiness, warmup=body.warmup,
        max_tokens=body.max_tokens, reuse_connections=body.reuse_connections, slo=slo, workload=workload,
        force_output=body.force_output,
    )  # fmt: skip


@blueprint.post("/sweeps", strict_slashes=False)
@api.validate(
    json=SweepRequest,
    resp=answers((202, SweepEnvelope, "Queued; follow the Location"), *STARTING_WORK, 404),
    tags=[MEASURED],
)
def request_sweep(benchmarks: BenchmarkUseCases, sweeps: SweepUseCases) -> ResponseReturnValue:
    """Queue a sweep: the plan measured at rising loads, a run a stage, until the endpoint saturates"""
    body: SweepRequest = request.context.json  # type: ignore[attr-defined]
    spec = SweepSpec(SweepLoad(body.load), tuple(body.stage_loads()), body.min_gain, body.max_error_rate)
    sweep = sweeps.request(body.endpoint, _plan(body, benchmarks), spec, caller())
    assert sweep.id is not None
    return SweepEnvelope.of(sweeps.get(sweep.id)), 202, {"Location": url_for("benchmarks.get_sweep", sweep_id=sweep.id)}


@blueprint.get(f"/sweeps/<{ID_IN_PATH}:sweep_id>")
@api.validate(resp=answers((200, SweepEnvelope, "The sweep and its stages so far"), *READING, 404), tags=[MEASURED])
def get_sweep(sweep_id: int, sweeps: SweepUseCases) -> ResponseReturnValue:
    """A sweep: its stages' throughput and latency, its knee, and the largest load meeting its SLO"""
    return SweepEnvelope.of(sweeps.get(sweep_id))


@blueprint.post("/campaigns", strict_slashes=False)
@api.validate(
    json=CampaignRequest,
    resp=answers((202, CampaignEnvelope, "Queued; follow the Location"), *STARTING_WORK, 404),
    tags=[MEASURED],
)
def request_campaign(benchmarks: BenchmarkUseCases, campaigns: CampaignUseCases) -> ResponseReturnValue:
    """Queue a campaign: several endpoints sent the same plan and prompts side by side, then ranked"""
    body: CampaignRequest = request.context.json  # type: ignore[attr-defined]
    report = campaigns.request(body.endpoints, _plan(body, benchmarks), caller())
    location = url_for("benchmarks.get_campaign", campaign_id=report.campaign.id)
    return CampaignEnvelope.of(report, None), 202, {"Location": location}


@blueprint.get(f"/campaigns/<{ID_IN_PATH}:campaign_id>")
@api.validate(
    resp=answers((200, CampaignEnvelope, "The campaign, its runs, and once finished its ranking"), *READING, 404),
    tags=[MEASURED],
)
def get_campaign(campaign_id: int, campaigns: CampaignUseCases) -> ResponseReturnValue:
    """A campaign: its endpoints' runs and, once they finish, their ranking by endpoint"""
    report = campaigns.get(campaign_id)
    return CampaignEnvelope.of(report, campaigns.ranking(report))
