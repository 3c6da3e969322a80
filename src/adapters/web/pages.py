"""The pages: home, /visualize (one metric) and /visualize/all (every metric), cached per run, a
measured sweep's curve (/visualize/sweeps/<id>) and a campaign's comparison (/visualize/campaigns/<id>)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from src.adapters.web import charts
from src.adapters.web.errors import STATUS_BY_ERROR
from src.adapters.web.models import ID_IN_PATH, MetricQuery, OverallQuery, csv_text, parsed
from src.adapters.web.response_cache import cached_by
from src.application.domain.errors import DomainError, NotFound
from src.application.domain.model import Metric, RunSource
from src.application.domain.ranking import Statistic, Window
from src.application.services.ranking import METHODS, WIN_RATE
from src.application.use_cases.campaigns import CampaignReport, CampaignUseCases
from src.application.use_cases.monitoring import MonitoringUseCases
from src.application.use_cases.rankings import RankingUseCases
from src.application.use_cases.sweeps import SweepUseCases

blueprint = Blueprint("pages", __name__)

RECENT_RUNS = 20
TREND_RUNS = 50


class MetricPage(MetricQuery):
    """What /visualize reads: the API's parameters, TTFT by default."""

    metric_name: str = "TTFT"


@blueprint.get("/")
@cached_by()
def home() -> ResponseReturnValue:
    return render_template("home.html")


@blueprint.get("/favicon.ico")
def favicon() -> ResponseReturnValue:
    """Browsers ask for it whatever the page says; it is the same icon as the pages link."""
    return send_from_directory(current_app.static_folder or "", "favicon.svg", mimetype="image/svg+xml")


@blueprint.route("/visualize", methods=["GET", "POST"], strict_slashes=False)
@cached_by(MetricPage)
def visualize(rankings: RankingUseCases) -> ResponseReturnValue:
    # The original page posted its selector as a form; a GET link is shareable, both work.
    source = chosen(request.form if request.method == "POST" else request.args)
    context = _selector_context(source, rankings.metrics())
    context["metric_name"] = source.get("metric_name", "TTFT")
    try:
        context.update(_metric_page(rankings, source))
    except DomainError as error:
        return _with_message(error, "visualize.html", context, source)
    return render_template("visualize.html", **context, csv_endpoint="pages.visualize_csv", query=source)


@blueprint.get("/visualize/all", strict_slashes=False)
@cached_by(OverallQuery)
def visualize_all(rankings: RankingUseCases) -> ResponseReturnValue:
    source = chosen(request.args)
    context = _selector_context(source, rankings.metrics())
    context["method"] = source.get("method", WIN_RATE)
    context["methods"] = METHODS
    try:
        context.update(_overall_page(rankings, source))
    except DomainError as error:
        return _with_message(error, "visualize_all.html", context, source)
    return render_template("visualize_all.html", **context, csv_endpoint="pages.visualize_all_csv", query=source)


@blueprint.get("/visualize/<chart>.csv")
@cached_by(MetricPage)
def visualize_csv(chart: str, rankings: RankingUseCases) -> ResponseReturnValue:
    """The numbers of one chart of /visualize (same parameters), as CSV."""
    return _chart_csv(_metric_page(rankings, chosen(request.args))["charts"], chart)


@blueprint.get("/visualize/all/<chart>.csv")
@cached_by(OverallQuery)
def visualize_all_csv(chart: str, rankings: RankingUseCases) -> ResponseReturnValue:
    """The numbers of one chart of /visualize/all (same parameters), as CSV."""
    return _chart_csv(_overall_page(rankings, chosen(request.args))["charts"], chart)


@blueprint.get(f"/visualize/sweeps/<{ID_IN_PATH}:sweep_id>")
def sweep(sweep_id: int, sweeps: SweepUseCases) -> ResponseReturnValue:
    """A sweep's curve. Not cached: a running sweep's stages come in as they finish."""
    report = sweeps.get(sweep_id)
    charts_by_name = {"curve": charts.sweep_curve(report)} if report.stages else {}
    return render_template("sweep.html", report=report, charts=charts_by_name, csv_endpoint="pages.sweep_csv",
                           query={"sweep_id": sweep_id})  # fmt: skip


@blueprint.get(f"/visualize/sweeps/<{ID_IN_PATH}:sweep_id>/<chart>.csv")
def sweep_csv(sweep_id: int, chart: str, sweeps: SweepUseCases) -> ResponseReturnValue:
    """The numbers of a sweep's chart, as CSV."""
    return _chart_csv({"curve": charts.sweep_curve(sweeps.get(sweep_id))}, chart)


@blueprint.get(f"/visualize/campaigns/<{ID_IN_PATH}:campaign_id>")
def campaign(campaign_id: int, campaigns: CampaignUseCases) -> ResponseReturnValue:
    """A campaign's endpoints compared. Not cached: a running campaign's runs finish while it is read."""
    report = campaigns.get(campaign_id)
    return render_template("campaign.html", report=report, charts=_campaign_charts(report, campaigns),
                           csv_endpoint="pages.campaign_csv", query={"campaign_id": campaign_id})  # fmt: skip


@blueprint.get(f"/visualize/campaigns/<{ID_IN_PATH}:campaign_id>/<chart>.csv")
def campaign_csv(campaign_id: int, chart: str, campaigns: CampaignUseCases) -> ResponseReturnValue:
    """The numbers of a campaign's chart, as CSV."""
    return _chart_csv(_campaign_charts(campaigns.get(campaign_id), campaigns), chart)


def _campaign_charts(
    report: CampaignReport, campaigns: CampaignUseCases, milliseconds: bool = False
) -> dict[str, charts.Chart]:
    """Once it finished: TTFT and TPS by endpoint with their intervals, and latency against speed
    (TTFT in seconds, as rankings give it, or in milliseconds beside an endpoint's charts)."""
    overall = campaigns.ranking(report)
    if overall is None or not overall.entries:
        return {}
    return {"ttft": charts.ranking_bars(campaigns.ranked_on(report, "TTFT"), milliseconds),
            "tps": charts.ranking_bars(campaigns.ranked_on(report, "TPS"), milliseconds),
            "scatter": charts.latency_speed_scatter(overall, milliseconds)}  # fmt: skip


@blueprint.get("/visualize/endpoints", strict_slashes=False)
def endpoints(monitoring: MonitoringUseCases) -> ResponseReturnValue:
    """Every watched endpoint over its latest window, changes flagged. Not cached: runs come in."""
    statuses = monitoring.statuses()
    failing = [newest for newest in monitoring.newest_runs() if newest.failing]
    chart = {"front": charts.endpoints_front(statuses, "")} if statuses else {}
    return render_template("endpoints.html", statuses=statuses, failing=failing, settings=monitoring.settings,
                           charts=chart, csv_endpoint="pages.endpoints_csv", query={})  # fmt: skip


@blueprint.get("/visualize/endpoints/<chart>.csv")
def endpoints_csv(chart: str, monitoring: MonitoringUseCases) -> ResponseReturnValue:
    statuses = monitoring.statuses()
    return _chart_csv({"front": charts.endpoints_front(statuses, "")} if statuses else {}, chart)


@blueprint.get("/visualize/endpoints/<name>")
def endpoint(name: str, monitoring: MonitoringUseCases, campaigns: CampaignUseCases,
             sweeps: SweepUseCases) -> ResponseReturnValue:  # fmt: skip
    """One endpoint: its trend, SLO attainment, last campaign, sweeps, and where it stands."""
    context = _endpoint_page(name, monitoring, campaigns, sweeps)
    return render_template("endpoint.html", name=name, settings=monitoring.settings, **context,
                           csv_endpoint="pages.endpoint_csv", query={"name": name})  # fmt: skip


@blueprint.get("/visualize/endpoints/<name>/<chart>.csv")
def endpoint_csv(name: str, chart: str, monitoring: MonitoringUseCases, campaigns: CampaignUseCases,
                 sweeps: SweepUseCases) -> ResponseReturnValue:  # fmt: skip
    return _chart_csv(_endpoint_page(name, monitoring, campaigns, sweeps)["charts"], chart)


def _endpoint_page(
    name: str, monitoring: MonitoringUseCases, campaigns: CampaignUseCases, sweeps: SweepUseCases
) -> dict[str, Any]:
    trend = monitoring.trend(name)
    statuses = monitoring.statuses()
    status = next((s for s in statuses if s.endpoint.name == name), None)
    page: dict[str, Any] = {"status": status, "trend": trend, "campaign": None, "sweep": None, "charts": {},
                            "newest": next((n.finished for n in monitoring.newest_runs() if n.endpoint.name == name),
                                           None)}  # fmt: skip
    if trend:
        page["charts"] |= {"ttft": charts.endpoint_trend(trend, "TTFT"), "itl": charts.endpoint_trend(trend, "ITL")}
    if status is not None:
        page["charts"]["front"] = charts.endpoints_front(statuses, name)
    if campaign_ids := [p.run.campaign_id for p in trend if p.run.campaign_id]:
        page["campaign"] = campaigns.get(campaign_ids[-1])
        page["charts"] |= {
            f"campaign-{key}": chart
            for key, chart in _campaign_charts(page["campaign"], campaigns, milliseconds=True).items()
        }
    if newest := sweeps.of_endpoint(name, 1):
        page["sweep"] = newest[0]
        if newest[0].stages:
            page["charts"]["sweep"] = charts.sweep_curve(newest[0])
    return page


def _metric_page(rankings: RankingUseCases, source: dict[str, str]) -> dict[str, Any]:
    query = parsed(MetricPage, source)
    scope = query.scope
    ranking = rankings.rank_metric(query.metric_name, Statistic(query.statistic), scope)
    page: dict[str, Any] = {"runs": rankings.recent_runs(RECENT_RUNS, scope.source), "ranking": ranking,
                            "selection": ranking.selection, "charts": {}}  # fmt: skip
    if ranking.entries:
        plan = ranking.selection.plan.key if ranking.selection and ranking.selection.plan else None
        history = rankings.history(ranking.metric.name, ranking.statistic, Window.DAY, TREND_RUNS, scope.source, plan)
        page["charts"] = {
            "ranking": charts.ranking_bars(ranking),
            "distribution": charts.distribution_boxes(ranking),
            "trend": charts.trend_lines(history),
        }
    return page


def _overall_page(rankings: RankingUseCases, source: dict[str, str]) -> dict[str, Any]:
    query = parsed(OverallQuery, source)
    scope = query.scope
    ranking = rankings.rank_overall(query.method, query.weights, Statistic(query.statistic), scope)
    page: dict[str, Any] = {"runs": rankings.recent_runs(RECENT_RUNS, scope.source), "ranking": ranking,
                            "selection": ranking.selection, "charts": {}}  # fmt: skip
    if ranking.entries:
        page["charts"] = {
            "scores": charts.score_bars(ranking),
            "heatmap": charts.score_heatmap(ranking, rankings.metrics()),
            "scatter": charts.latency_speed_scatter(ranking),
        }
    return page


def _chart_csv(by_name: dict[str, charts.Chart], name: str) -> ResponseReturnValue:
    if name not in by_name:
        raise NotFound(f"no chart {name[:50]!r} on this page; there are: {', '.join(by_name) or 'none yet'}")
    table = by_name[name].table
    return Response(
        csv_text(table.columns, table.rows),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@blueprint.app_template_filter("figure")
def figure(value: object) -> str:
    """A number in a table: four significant digits; nothing shown as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@blueprint.app_template_filter("runs")
def counted_runs(count: int) -> str:
    """For templates: `{{ n|runs }}` reads "1 run", "2 runs"."""
    return f"{count:,} run" if count == 1 else f"{count:,} runs"


@blueprint.app_template_filter("error_rates")
def error_rates(rates: Mapping[str, float]) -> str:
    """For templates: failed requests by kind, over those sent: "http_5xx 14.3%, timeout 1.0%"."""
    return ", ".join(f"{kind} {rate:.1%}" for kind, rate in rates.items()) or "none"


def chosen(source: MultiDict[str, str]) -> dict[str, str]:
    """A page form's fields without the empty ones (a form's empty option means "the default"),
    the first of repeated names."""
    return {name: value for name, value in source.items() if value != ""}


def _selector_context(source: Mapping[str, str], catalogue_metrics: list[Metric]) -> dict[str, object]:
    return {
        "metrics": catalogue_metrics,
        "statistics": [s.value for s in Statistic],
        "windows": [w.value for w in Window],
        "sources": [s.value for s in RunSource],
        "selected": {
            key: source.get(key, "") for key in ("statistic", "window", "run_id", "source", "group_by", "plan")
        },
    }


def _with_message(
    error: DomainError, template: str, context: dict[str, object], source: Mapping[str, str]
) -> ResponseReturnValue:
    """The page itself, with the selector and a clear message: never an error page. Plans, which
    the selector does not list, are offered as links: this page with that plan."""
    choices = getattr(error, "choices", None) or []
    if getattr(error, "parameter", None) == "plan":
        context["message"] = f"{error}:"
        context["plan_choices"] = [
            (choice, url_for(str(request.endpoint), **{**source, "plan": choice.split(" ", 1)[0]}))
            for choice in choices  # each reads "<key> (<description>; <runs>)"
        ]
    else:
        context["message"] = str(error) + (f". Valid choices: {', '.join(choices)}" if choices else "")
    return render_template(template, **context), STATUS_BY_ERROR.get(type(error), 400)
