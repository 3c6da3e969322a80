"""The rankings API: per metric, overall, history, and the catalogues; JSON or CSV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from src.adapters.web import params, schemas
from src.adapters.web.response_cache import cached_by, wants_csv
from src.application.domain.ranking import Window
from src.application.services.ranking import METHODS, WIN_RATE
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.rankings import WINDOW_SPANS, RankingUseCases

blueprint = Blueprint("rankings", __name__)

FORMATS = ["json", "csv"]


@blueprint.get("/metrics/", strict_slashes=False)
@cached_by("metric_name", "statistic", *params.SCOPE, "format")
def rank_metric(rankings: RankingUseCases) -> ResponseReturnValue:
    ranking = rankings.rank_metric(
        params.text(request.args, "metric_name"), params.statistic(request.args), params.scope(request.args)
    )
    return _respond(ranking, schemas.metric_ranking_json, schemas.metric_ranking_csv, f"ranking-{ranking.metric.name}")


@blueprint.get("/metrics/all/", strict_slashes=False)
@cached_by("method", "weights", "statistic", *params.SCOPE, "format")
def rank_overall(rankings: RankingUseCases) -> ResponseReturnValue:
    ranking = rankings.rank_overall(
        method=params.choice(request.args, "method", METHODS, WIN_RATE) or WIN_RATE,
        weights=params.weights(request.args),
        statistic=params.statistic(request.args),
        scope=params.scope(request.args),
    )
    return _respond(ranking, schemas.overall_json, schemas.overall_csv, "ranking-overall")


@blueprint.get("/metrics/history/", strict_slashes=False)
@cached_by("metric_name", "statistic", "window", "limit", "source", "format")
def history(rankings: RankingUseCases) -> ResponseReturnValue:
    result = rankings.history(
        params.text(request.args, "metric_name"),
        params.statistic(request.args),
        Window(params.choice(request.args, "window", [w.value for w in WINDOW_SPANS], Window.DAY.value)),
        params.integer(request.args, "limit", 100, 1, 1000) or 100,
        params.run_source(request.args),
    )
    return _respond(result, schemas.history_json, schemas.history_csv, f"history-{result.metric.name}")


@blueprint.get("/llms", strict_slashes=False)
@cached_by()
def llms(catalogue: CatalogueUseCases) -> ResponseReturnValue:
    return jsonify({"llms": [schemas.llm_json(llm) for llm in catalogue.llms()]})


@blueprint.get("/metric-definitions", strict_slashes=False)
@cached_by()
def metric_definitions(catalogue: CatalogueUseCases) -> ResponseReturnValue:
    return jsonify({"metrics": [schemas.metric_json(metric) for metric in catalogue.metrics()]})


def _respond(
    result: Any, to_json: Callable[[Any], Any], to_csv: Callable[[Any], str], filename: str
) -> ResponseReturnValue:
    params.choice(request.args, "format", FORMATS, "")
    if wants_csv():
        return Response(
            to_csv(result),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
        )
    return jsonify(to_json(result))
