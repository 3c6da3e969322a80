"""The rankings API: per metric, overall, history, and the catalogues; JSON or CSV."""

from __future__ import annotations

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from src.adapters.web.auth import caller
from src.adapters.web.contract import CATALOGUE, RANKINGS, READING, STARTING_WORK, answers, api
from src.adapters.web.models import (
    HistoryOut,
    HistoryQuery,
    LLMEnvelope,
    LLMIn,
    LLMList,
    LLMOut,
    MetricList,
    MetricRankingOut,
    MetricRankingQuery,
    OverallRankingOut,
    OverallRankingQuery,
)
from src.adapters.web.response_cache import cached_by, wants_csv
from src.application.domain.model import RunSource
from src.application.domain.ranking import Statistic, Window
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.rankings import RankingUseCases

blueprint = Blueprint("rankings", __name__)


@blueprint.get("/metrics/", strict_slashes=False)
@api.validate(
    query=MetricRankingQuery,
    resp=answers((200, MetricRankingOut, "The ranking, best first for the metric's direction"), *READING, 404, 409),
    tags=[RANKINGS],
)
@cached_by(MetricRankingQuery)
def rank_metric(rankings: RankingUseCases) -> ResponseReturnValue:
    """Rank the LLMs on one metric"""
    query: MetricRankingQuery = request.context.query  # type: ignore[attr-defined]
    ranking = rankings.rank_metric(query.metric_name, Statistic(query.statistic), query.scope)
    return _respond(MetricRankingOut.of(ranking), f"ranking-{ranking.metric.name}")


@blueprint.get("/metrics/all", strict_slashes=False)
@api.validate(
    query=OverallRankingQuery,
    resp=answers((200, OverallRankingOut, "The overall ranking by a 0-1 score"), *READING, 404, 409),
    tags=[RANKINGS],
)
@cached_by(OverallRankingQuery)
def rank_overall(rankings: RankingUseCases) -> ResponseReturnValue:
    """Rank the LLMs across every metric"""
    query: OverallRankingQuery = request.context.query  # type: ignore[attr-defined]
    ranking = rankings.rank_overall(query.method, query.weights, Statistic(query.statistic), query.scope)
    return _respond(OverallRankingOut.of(ranking), "ranking-overall")


@blueprint.get("/metrics/history", strict_slashes=False)
@api.validate(
    query=HistoryQuery,
    resp=answers((200, HistoryOut, "A series per LLM or endpoint, oldest first"), *READING),
    tags=[RANKINGS],
)
@cached_by(HistoryQuery)
def history(rankings: RankingUseCases) -> ResponseReturnValue:
    """Per-run values of one metric for every LLM (simulated) or endpoint (measured), for trend charts"""
    query: HistoryQuery = request.context.query  # type: ignore[attr-defined]
    result = rankings.history(
        query.metric_name,
        Statistic(query.statistic),
        Window(query.window),
        query.limit,
        RunSource(query.source),
        query.plan,
    )
    return _respond(HistoryOut.of(result), f"history-{result.metric.name}")


@blueprint.get("/llms", strict_slashes=False)
@api.validate(resp=answers((200, LLMList, "The LLMs"), *READING), tags=[CATALOGUE])
@cached_by()
def llms(catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """The LLM catalogue"""
    return LLMList.model_validate({"llms": catalogue.llms()})


@blueprint.post("/llms", strict_slashes=False)
@api.validate(json=LLMIn, resp=answers((201, LLMEnvelope, "Added"), *STARTING_WORK, 409), tags=[CATALOGUE])
def add_llm(catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """Add an LLM to the catalogue (admins): endpoints may then serve it"""
    body: LLMIn = request.context.json  # type: ignore[attr-defined]
    llm = catalogue.add_llm(body.name, body.vendor, body.family, body.size, caller())
    return LLMEnvelope(llm=LLMOut.model_validate(llm)), 201


@blueprint.get("/metric-definitions", strict_slashes=False)
@api.validate(resp=answers((200, MetricList, "The metrics"), *READING), tags=[CATALOGUE])
@cached_by()
def metric_definitions(catalogue: CatalogueUseCases) -> ResponseReturnValue:
    """The metric catalogue"""
    return MetricList.model_validate({"metrics": catalogue.metrics()})


def _respond(result: MetricRankingOut | OverallRankingOut | HistoryOut, filename: str) -> ResponseReturnValue:
    if wants_csv():
        return Response(
            result.csv(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return result
