"""Charts of rankings: a plotly figure (as JSON for the pages' script to draw: no inline
JavaScript), its title and what its marks mean (HTML beside the plot, so they wrap on a narrow
screen and plotly's toolbar covers nothing), and the numbers it draws as a table (shown under it,
and as CSV).

Figures are plain dicts in plotly's figure schema, serialized by plotly without validation: the
graph_objects classes validate every property and cost ~50 ms a chart, which an uncached page
would pay six times over.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

# Imported now: plotly.io loads it on first use, which took ~50 ms of a worker's first page.
from plotly.io import to_json

from src.application.domain.model import Direction, Metric
from src.application.domain.ranking import (
    MetricHistory,
    MetricRanking,
    OverallEntry,
    OverallRanking,
    RankingEntry,
    Statistic,
)
from src.application.services.changes import Estimated
from src.application.use_cases.monitoring import EndpointStatus, TrendPoint
from src.application.use_cases.sweeps import SweepReport

BEST_FIRST = "best first"
BLUE, PALE_BLUE, ORANGE = "#2b6cb0", "#8fb8de", "#d97706"
# White (score 0) to dark blue (score 1): the best stands out. (Plotly's "Blues" runs the other way.)
SCORE_COLOURS = [[0.0, "#f7fbff"], [0.5, "#6baed6"], [1.0, "#08306b"]]
GRID = {"gridcolor": "#e2e8f0", "zerolinecolor": "#cbd5e0"}
# Runs closer than this are shown on an axis this wide: plotly would spread one run, or runs
# seconds apart, over an axis of milliseconds.
SHORTEST_TIME_AXIS = timedelta(hours=1)
# Twelve distinguishable colours, one per LLM (plotly's default cycle repeats after ten).
COLORWAY = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#393b79", "#ad494a"]  # fmt: skip


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Any]]


@dataclass(frozen=True)
class Chart:
    title: str
    note: str  # what the marks mean
    figure: str  # plotly's figure JSON
    table: Table  # the numbers drawn


def _figure(data: list[dict[str, Any]], **layout: Any) -> str:
    base = {
        "autosize": True,
        "margin": {"l": 70, "r": 30, "t": 20, "b": 110},
        "colorway": COLORWAY,
        "font": {"family": "system-ui, sans-serif", "size": 13},
        "height": 460,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        # Room for every tick label (rotated LLM names run past the plot's right edge otherwise).
        "xaxis": {**GRID, "automargin": True},
        "yaxis": {**GRID, "automargin": True},
    }
    for axis in ("xaxis", "yaxis"):
        base[axis].update(layout.pop(axis, {}))
    return to_json({"data": data, "layout": {**base, **layout}}, validate=False)


def axis_title(metric: Metric, statistic: str = "", unit: str = "") -> str:
    better = "lower is better" if metric.direction is Direction.LOWER_IS_BETTER else "higher is better"
    label = f"{statistic} {metric.name}".strip()
    return f"{label} ({unit or metric.unit}) — {better}"


def shown_in(unit: str, milliseconds: bool) -> tuple[str, float]:
    """The unit a chart gives a metric of this unit in, and the factor from it: a page whose other
    charts give milliseconds gives seconds in milliseconds too."""
    return ("ms", 1000.0) if milliseconds and unit == "seconds" else (unit, 1.0)


OPEN = "open"  # an interval's side that too few samples cannot bound


def bound(value: float | None) -> str:
    return OPEN if value is None else f"{value:.4g}"


def kind(entries: Sequence[RankingEntry | OverallEntry]) -> str:
    """What the entries rank, for labels: endpoints, or LLMs."""
    return "endpoint" if any(e.subject.endpoint for e in entries) else "LLM"


def ranking_bars(ranking: MetricRanking, milliseconds: bool = False) -> Chart:
    entries = ranking.entries
    ranked = kind(entries)
    unit, factor = shown_in(ranking.metric.unit, milliseconds)
    values = [e.value * factor for e in entries]
    lows = [None if e.interval.low is None else e.interval.low * factor for e in entries]
    highs = [None if e.interval.high is None else e.interval.high * factor for e in entries]
    bars = {
        "type": "bar",
        "x": [e.subject.name for e in entries],
        "y": values,
        "error_y": {  # an open side (too few samples) has no bar: the hatching says so
            "type": "data",
            "array": [0 if high is None else high - value for value, high in zip(values, highs, strict=True)],
            "arrayminus": [0 if low is None else value - low for value, low in zip(values, lows, strict=True)],
            "color": "#444",
        },
        "marker": {
            "color": [PALE_BLUE if e.tied_with else BLUE for e in entries],
            "pattern": {"shape": ["" if e.interval.sufficient else "/" for e in entries]},
        },
        "customdata": [
            [bound(low), bound(high), ", ".join(e.tied_with) or "none", "{}-{}".format(*e.rank_interval)]
            for e, low, high in zip(entries, lows, highs, strict=True)
        ],
        "hovertemplate": (
            "%{x}<br>%{y:.4g} " + unit + "<br>95% CI %{customdata[0]} - %{customdata[1]}"
            "<br>tied with: %{customdata[2]}<br>95% rank interval: %{customdata[3]}<extra></extra>"
        ),
    }
    figure = _figure([bars], yaxis={"title": {"text": axis_title(ranking.metric, str(ranking.statistic), unit)}})
    table = Table(
        ["rank", "95% rank interval", ranked, f"{ranking.statistic} ({unit})", "95% CI low", "95% CI high",
         "tied with"],
        [[e.rank, "{}-{}".format(*e.rank_interval), e.subject.name, value, OPEN if low is None else low,
          OPEN if high is None else high, ", ".join(e.tied_with)]
         for e, value, low, high in zip(entries, values, lows, highs, strict=True)],
    )  # fmt: skip
    return Chart(
        f"{ranking.metric.description}: {ranking.statistic}, {BEST_FIRST}",
        f"Error bars: 95% confidence interval. Pale bars: not told apart from another {ranked} at 5% (pairwise "
        f"tests, Holm-corrected), so their order may not hold; the table gives each {ranked}'s 95% rank interval. "
        "Hatched bars: too few samples to bound the interval on one side (open), so their rank is not a "
        "confident order.",
        figure,
        table,
    )


def distribution_boxes(ranking: MetricRanking) -> Chart:
    """Box p25-p75, line at the median, whiskers at p1 and p99 (`PairStatistics.box`)."""
    quantiles = {e.subject.name: [*e.statistics.box(), e.statistics.mean] for e in ranking.entries}
    ranked = kind(ranking.entries)
    boxes = [
        {
            "type": "box",
            "name": name,
            "x": [name],
            "lowerfence": [p1],
            "q1": [p25],
            "median": [p50],
            "q3": [p75],
            "upperfence": [p99],
            "mean": [mean],
            "showlegend": False,
            "marker": {"color": BLUE},
        }
        for name, (p1, p25, p50, p75, p99, mean) in quantiles.items()
    ]
    figure = _figure(boxes, yaxis={"title": {"text": axis_title(ranking.metric)}})
    unit = ranking.metric.unit
    table = Table([ranked, *(f"{q} ({unit})" for q in ("p1", "p25", "median", "p75", "p99", "mean"))],
                  [[name, *values] for name, values in quantiles.items()])  # fmt: skip
    return Chart(f"Distribution per {ranked}, {BEST_FIRST}", "Box: p25 to p75, line: median, whiskers: p1 to p99.",
                 figure, table)  # fmt: skip


def trend_lines(history: MetricHistory) -> Chart:
    """A line an LLM (simulated) or endpoint (measured) with runs in the window: the others (an
    LLM added with no simulated profile, an endpoint not measured lately) would be empty columns."""
    # An endpoint's line is named with its LLM's too: a page ranking LLMs draws their endpoints' lines.
    series = {
        f"{subject.name} ({subject.llm.name})" if subject.endpoint else subject.name: points
        for subject, points in history.series.items()
        if points
    }
    lines = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": llm,
            "x": [p.finished_at.isoformat() for p in points],
            "y": [p.value for p in points],
        }
        for llm, points in series.items()
    ]
    figure = _figure(
        lines,
        margin={"l": 70, "r": 20, "t": 20, "b": 50},
        xaxis=_time_axis([p.finished_at for points in series.values() for p in points]),
        yaxis={"title": {"text": axis_title(history.metric, str(history.statistic))}},
    )
    llms = list(series)
    by_time: dict[str, dict[str, float]] = {}
    for llm, points in series.items():
        for point in points:
            by_time.setdefault(point.finished_at.strftime("%Y-%m-%d %H:%M:%S"), {})[llm] = point.value
    table = Table(["run finished at (UTC)", *llms], [[t, *(v.get(llm) for llm in llms)] for t, v in by_time.items()])
    return Chart(
        f"Trend over the runs of the last {history.window}", f"{history.statistic} of each run.", figure, table
    )


def score_bars(ranking: OverallRanking) -> Chart:
    entries = ranking.entries
    ranked = kind(entries)
    bars = {
        "type": "bar",
        "x": [e.subject.name for e in entries],
        "y": [e.score for e in entries],
        "error_y": {
            "type": "data",
            "array": [e.score_interval[1] - e.score for e in entries],
            "arrayminus": [e.score - e.score_interval[0] for e in entries],
            "color": "#444",
        },
        "marker": {"color": BLUE},
        "customdata": [[*e.score_interval, "{}-{}".format(*e.rank_interval)] for e in entries],
        "hovertemplate": "%{x}<br>score %{y:.3f} (95%: %{customdata[0]:.3f} - %{customdata[1]:.3f})"
        "<br>95% rank interval: %{customdata[2]}<extra></extra>",
    }
    figure = _figure([bars], yaxis={"title": {"text": "score (0-1) — higher is better"}, "range": [0, 1.05]})
    table = Table(
        ["rank", "95% rank interval", ranked, "score", "95% low", "95% high"],
        [[e.rank, "{}-{}".format(*e.rank_interval), e.subject.name, e.score, *e.score_interval] for e in entries],
    )
    return Chart(
        f"Overall score (mean win rate), {BEST_FIRST}",
        f"The weighted share of rivals each {ranked} beats per metric (exact ties half): 1 beats every rival on "
        "every metric. Error bars: 95% interval of the score.",
        figure,
        table,
    )


def score_heatmap(ranking: OverallRanking, metrics: list[Metric]) -> Chart:
    names = [m.name for m in metrics if any(m.name in e.by_metric for e in ranking.entries)]
    units = {m.name: m.unit for m in metrics}
    entries = ranking.entries
    heatmap = {
        "type": "heatmap",
        "x": names,
        "y": [e.subject.name for e in entries],
        "z": [[e.by_metric[n].score for n in names] for e in entries],
        "text": [[f"{e.by_metric[n].value:.3g} {units[n]}" for n in names] for e in entries],
        "texttemplate": "%{text}",
        "colorscale": SCORE_COLOURS,
        "zmin": 0,
        "zmax": 1,
        "colorbar": {"title": {"text": "score"}, "thickness": 12},
        "hovertemplate": "%{y} · %{x}<br>%{text}<br>score %{z:.2f}<extra></extra>",
    }
    figure = _figure(
        [heatmap],
        height=520,
        margin={"l": 130, "r": 10, "t": 20, "b": 50},
        yaxis={"autorange": "reversed"},
    )
    ranked = kind(entries)
    columns = [ranked] + [f"{n} ({units[n]})" for n in names] + [f"{n} score" for n in names]
    rows = [
        [e.subject.name, *(e.by_metric[n].value for n in names), *(e.by_metric[n].score for n in names)]
        for e in entries
    ]
    return Chart(f"Per-metric win rate of every {ranked}", "Darker is better: 1 beats every rival on its metric.",
                 figure, Table(columns, rows))  # fmt: skip


def pareto_front(points: dict[str, tuple[float, float]]) -> list[str]:
    """LLMs no other beats on both TTFT (lower) and TPS (higher), by rising TTFT."""
    front = [
        name
        for name, (ttft, tps) in points.items()
        if not any(
            o_ttft <= ttft and o_tps >= tps and (o_ttft, o_tps) != (ttft, tps) for o_ttft, o_tps in points.values()
        )
    ]
    return sorted(front, key=lambda name: points[name][0])


def latency_speed_scatter(ranking: OverallRanking, milliseconds: bool = False) -> Chart:
    unit, factor = shown_in("seconds", milliseconds)  # TTFT's
    points = {
        e.subject.name: (e.by_metric["TTFT"].value * factor, e.by_metric["TPS"].value)
        for e in ranking.entries
        if "TTFT" in e.by_metric and "TPS" in e.by_metric
    }
    front = pareto_front(points)
    ranked = kind(ranking.entries)

    def markers(names: list[str], label: str, colour: str) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "markers+text",
            "name": label,
            "x": [points[name][0] for name in names],
            "y": [points[name][1] for name in names],
            "text": names,
            "textposition": "top center",  # until the page moves crowded names (static/js/charts.js)
            "marker": {"size": 11, "color": colour},
            "hovertemplate": "%{text}<br>TTFT %{x:.4g} " + unit + "<br>TPS %{y:.1f}<extra></extra>",
        }

    frontier = {
        "type": "scatter",
        "mode": "lines",
        "name": "Pareto front",
        "x": [points[name][0] for name in front],
        "y": [points[name][1] for name in front],
        "line": {"color": ORANGE, "dash": "dash"},
        "hoverinfo": "skip",
    }
    others = [name for name in points if name not in front]
    figure = _figure(
        [markers(others, ranked, BLUE), markers(front, "on the Pareto front", ORANGE), frontier],
        margin={"l": 70, "r": 20, "t": 20, "b": 60},
        legend={"orientation": "h", "y": -0.2},
        # From zero, so that distances are to scale: zoomed in, microseconds between tied endpoints filled the plot.
        xaxis={"title": {"text": f"TTFT ({unit}) — lower is better"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "TPS (tokens/second) — higher is better"}, "rangemode": "tozero"},
    )
    rows = [[name, ttft, tps, "yes" if name in front else "no"] for name, (ttft, tps) in points.items()]
    table = Table([ranked, f"TTFT ({unit})", "TPS (tokens/second)", "on the Pareto front"], rows)
    return Chart(
        "Latency against speed",
        f"Up and to the left is better. In orange, the Pareto front: no other {ranked} is both faster to start "
        "and faster.",
        figure,
        table,
    )


def sweep_curve(report: SweepReport) -> Chart:
    """Latency against throughput, a point a stage, its load beside it; the knee in orange."""
    load = str(report.sweep.load)
    measured = [stage for stage in report.stages if stage.output_tokens_per_second is not None]

    def line(name: str, values: list[float | None], dash: str) -> dict[str, Any]:
        return {
            "type": "scatter",
            "mode": "lines+markers+text",
            "name": name,
            "x": [stage.output_tokens_per_second for stage in measured],
            "y": values,
            "text": [f"{stage.load:g}" for stage in measured],
            "textposition": "top left",
            "line": {"dash": dash},
            "hovertemplate": f"{load} %{{text}}<br>%{{x:,.0f}} tokens/s<br>{name} %{{y:,.0f}} ms<extra></extra>",
        }

    data = [line("e2e p50", [s.e2e_p50_ms for s in measured], "solid"),
            line("TTFT p99", [s.ttft_p99_ms for s in measured], "dot")]  # fmt: skip
    if report.knee is not None:
        data.append({"type": "scatter", "mode": "markers", "name": f"knee ({load} {report.knee.load:g})",
                     "x": [report.knee.output_tokens_per_second], "y": [report.knee.e2e_p50_ms],
                     "marker": {"size": 16, "color": ORANGE, "symbol": "diamond"}, "hoverinfo": "skip"})  # fmt: skip
    figure = _figure(
        data,
        margin={"l": 70, "r": 20, "t": 20, "b": 60},
        legend={"orientation": "h", "y": -0.2},
        xaxis={"title": {"text": "output tokens/s — higher is better"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "latency (ms) — lower is better"}, "rangemode": "tozero"},
    )
    columns = [load, "run", "output tokens/s", "requests/s", "mean in flight", "TTFT p50 ms", "TTFT p99 ms",
               "ITL p50 ms", "e2e p50 ms", "failed requests", "SLO met", "trusted"]  # fmt: skip
    rows = [[s.load, s.run_id, s.output_tokens_per_second, s.requests_per_second, s.mean_in_flight, s.ttft_p50_ms,
             s.ttft_p99_ms, s.itl_p50_ms, s.e2e_p50_ms, f"{s.error_rate:.1%}", _yes_no(s.slo_met),
             "yes" if s.trusted else "no"] for s in report.stages]  # fmt: skip
    return Chart(
        "Latency against throughput",
        f"A point a stage, labelled with its {load}. Throughput rises with load until the endpoint saturates, then "
        "only latency does. In orange, the knee: the stage of the most throughput per second of median latency.",
        figure,
        Table(columns, rows),
    )


def endpoint_trend(points: Sequence[TrendPoint], latency: str) -> Chart:
    """One endpoint's TTFT or ITL median, a point a run, with its 95% interval; a colour a plan."""
    plans = list(dict.fromkeys(p.plan for p in points))

    def estimate(point: TrendPoint) -> Estimated:
        return point.ttft if latency == "TTFT" else point.itl

    lines = []
    for plan in plans:
        mine = [p for p in points if p.plan == plan]
        lines.append({
            "type": "scatter", "mode": "lines+markers", "name": f"plan {plan}",
            "x": [p.run.finished_at.isoformat() for p in mine if p.run.finished_at],
            "y": [estimate(p).value * 1000 for p in mine],
            "error_y": {"type": "data", "color": "#444", "array": [_above(estimate(p)) for p in mine],
                        "arrayminus": [_below(estimate(p)) for p in mine]},
            "customdata": [[p.run.id] for p in mine],
            "hovertemplate": "run %{customdata[0]}<br>%{x}<br>%{y:.1f} ms<extra></extra>",
        })  # fmt: skip
    axis = {"title": {"text": f"median {latency} (ms) — lower is better"}, "rangemode": "tozero"}
    times = [p.run.finished_at for p in points if p.run.finished_at]
    figure = _figure(lines, margin={"l": 70, "r": 20, "t": 20, "b": 60}, legend={"orientation": "h", "y": -0.2},
                     xaxis=_time_axis(times), yaxis=axis)  # fmt: skip
    rows = [[p.run.id, p.run.finished_at.strftime("%Y-%m-%d %H:%M:%S") if p.run.finished_at else None, p.plan,
             estimate(p).value * 1000, _ms(estimate(p).interval.low), _ms(estimate(p).interval.high),
             p.slo_attainment] for p in points]  # fmt: skip
    what = "time to first token" if latency == "TTFT" else "inter-token latency, (e2e - TTFT) / (n - 1)"
    return Chart(
        f"Median {what}, run by run",
        "A point a valid run, with its 95% interval; a colour a plan (runs of different plans measure different "
        "things).",
        figure,
        Table(
            ["run", "finished at (UTC)", "plan", f"median {latency} ms", "95% CI low", "95% CI high", "SLO attainment"],
            rows,
        ),
    )


def _time_axis(times: Sequence[datetime]) -> dict[str, Any]:
    axis: dict[str, Any] = {"title": {"text": "run finished at (UTC)"}}
    if times and max(times) - min(times) < SHORTEST_TIME_AXIS:
        middle = min(times) + (max(times) - min(times)) / 2
        axis["range"] = [(middle - SHORTEST_TIME_AXIS / 2).isoformat(), (middle + SHORTEST_TIME_AXIS / 2).isoformat()]
    return axis


def _above(estimated: Estimated) -> float:
    high = estimated.interval.high
    return 0.0 if high is None else (high - estimated.value) * 1000


def _below(estimated: Estimated) -> float:
    low = estimated.interval.low
    return 0.0 if low is None else (estimated.value - low) * 1000


def _ms(seconds: float | None) -> float | str:
    return OPEN if seconds is None else seconds * 1000


def endpoints_front(statuses: Sequence[EndpointStatus], shown: str) -> Chart:
    """Every watched endpoint's median TTFT against its output speed per request (1 / median ITL)
    over its latest window; the Pareto front in orange, the endpoint of the page ringed. TTFT in
    milliseconds, as the tables and run-by-run charts beside it give it."""
    points = {
        s.endpoint.name: (s.latencies[0].quantiles[Statistic.MEDIAN].value * 1000,
                          1 / s.latencies[1].quantiles[Statistic.MEDIAN].value)
        for s in statuses
    }  # fmt: skip
    front = pareto_front(points)
    names = list(points)
    figure = _figure(
        [{"type": "scatter", "mode": "markers+text", "name": "endpoint", "x": [points[n][0] for n in names],
          "y": [points[n][1] for n in names], "text": names,
          "textposition": "top center",  # until the page moves crowded names (static/js/charts.js)
          "marker": {"size": [18 if n == shown else 11 for n in names],
                     "color": [ORANGE if n in front else BLUE for n in names],
                     "line": {"width": [3 if n == shown else 0 for n in names], "color": "#111"}},
          "hovertemplate": "%{text}<br>TTFT %{x:.1f} ms<br>%{y:.1f} tokens/s<extra></extra>"},
         {"type": "scatter", "mode": "lines", "name": "Pareto front", "x": [points[n][0] for n in front],
          "y": [points[n][1] for n in front], "line": {"color": ORANGE, "dash": "dash"}, "hoverinfo": "skip"}],
        margin={"l": 70, "r": 20, "t": 20, "b": 60}, legend={"orientation": "h", "y": -0.2},
        # From zero: neither can be negative, and a lone endpoint would be centred on an axis that is.
        xaxis={"title": {"text": "median TTFT (ms) — lower is better"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "tokens/s per request — higher is better"}, "rangemode": "tozero"},
    )  # fmt: skip
    rows = [[n, points[n][0], points[n][1], statuses[i].plan.description, "yes" if n in front else "no"]
            for i, n in enumerate(names)]  # fmt: skip
    return Chart(
        "Latency against speed, every watched endpoint",
        "Each endpoint over its latest window, under its own plan. Up and to the left is better; in orange, the "
        "Pareto front: no other endpoint is both faster to start and faster to stream. Ringed: this page's.",
        figure,
        Table(["endpoint", "median TTFT (ms)", "tokens/s per request", "plan", "on the Pareto front"], rows),
    )


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")
