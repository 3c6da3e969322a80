"""The pages: home, /visualize (one metric) and /visualize/all (every metric), cached per run."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue

from src.adapters.web import charts, params
from src.adapters.web.errors import STATUS_BY_ERROR
from src.adapters.web.response_cache import cached_by
from src.application.domain.catalogue import load_catalogue
from src.application.domain.errors import DomainError
from src.application.domain.model import RunSource
from src.application.domain.ranking import Statistic, Window
from src.application.services.ranking import METHODS, WIN_RATE
from src.application.use_cases.metrics import MetricUseCases

blueprint = Blueprint("pages", __name__)

RECENT_RUNS = 20
TREND_RUNS = 50


@blueprint.get("/")
@cached_by()
def home() -> ResponseReturnValue:
    return render_template("home.html")


@blueprint.route("/visualize", methods=["GET", "POST"], strict_slashes=False)
@cached_by("metric_name", "statistic", *params.SCOPE)
def visualize(metrics: MetricUseCases) -> ResponseReturnValue:
    # The original page posted its selector as a form; a GET link is shareable, both work.
    source = params.chosen(request.form if request.method == "POST" else request.args)
    context = _selector_context(source)
    context["metric_name"] = source.get("metric_name", "TTFT")
    try:
        scope = params.scope(source)
        context["runs"] = metrics.recent_runs(RECENT_RUNS, scope.source)
        ranking = metrics.rank_metric(context["metric_name"], params.statistic(source), scope)
        context["ranking"] = ranking
        context["selection"] = ranking.selection
        if ranking.entries:
            history = metrics.history(ranking.metric.name, ranking.statistic, Window.DAY, TREND_RUNS, scope.source)
            context["figures"] = {
                "ranking": charts.ranking_bars(ranking),
                "distribution": charts.distribution_boxes(ranking),
                "trend": charts.trend_lines(history),
            }
    except DomainError as error:
        return _with_message(error, "visualize.html", context)
    return render_template("visualize.html", **context)


@blueprint.get("/visualize/all", strict_slashes=False)
@cached_by("method", "weights", "statistic", *params.SCOPE)
def visualize_all(metrics: MetricUseCases) -> ResponseReturnValue:
    source = params.chosen(request.args)
    context = _selector_context(source)
    context["method"] = source.get("method", WIN_RATE)
    context["methods"] = METHODS
    try:
        scope = params.scope(source)
        context["runs"] = metrics.recent_runs(RECENT_RUNS, scope.source)
        ranking = metrics.rank_overall(context["method"], params.weights(source), params.statistic(source), scope)
        context["ranking"] = ranking
        context["selection"] = ranking.selection
        if ranking.entries:
            context["figures"] = {
                "scores": charts.score_bars(ranking),
                "heatmap": charts.score_heatmap(ranking, list(load_catalogue().metrics)),
                "scatter": charts.latency_speed_scatter(ranking),
            }
    except DomainError as error:
        return _with_message(error, "visualize_all.html", context)
    return render_template("visualize_all.html", **context)


def _selector_context(source: Mapping[str, str]) -> dict[str, object]:
    return {
        "metrics": load_catalogue().metrics,
        "statistics": [s.value for s in Statistic],
        "windows": [w.value for w in Window],
        "sources": [s.value for s in RunSource],
        "selected": {key: source.get(key, "") for key in ("statistic", "window", "run_id", "source")},
    }


def _with_message(error: DomainError, template: str, context: dict[str, object]) -> ResponseReturnValue:
    """The page itself, with the selector and a clear message: never an error page."""
    choices = getattr(error, "choices", None)
    context["message"] = str(error) + (f". Valid choices: {', '.join(choices)}" if choices else "")
    return render_template(template, **context), STATUS_BY_ERROR.get(type(error), 400)
