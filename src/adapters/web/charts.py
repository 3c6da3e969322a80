"""Plotly figures of rankings, as JSON for the pages' script to draw (no inline JavaScript).

Figures are plain dicts in plotly's figure schema, serialized by plotly without validation: the
graph_objects classes validate every property and cost ~50 ms a chart, which an uncached page
would pay six times over.
"""

from __future__ import annotations

from typing import Any

import plotly.io

from src.application.domain.model import Direction, Metric
from src.application.domain.ranking import MetricHistory, MetricRanking, OverallRanking

BEST_FIRST = "best first"
BLUE, PALE_BLUE, ORANGE = "#2b6cb0", "#8fb8de", "#d97706"
GRID = {"gridcolor": "#e2e8f0", "zerolinecolor": "#cbd5e0"}
# Twelve distinguishable colours, one per LLM (plotly's default cycle repeats after ten).
COLORWAY = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf", "#393b79", "#ad494a"]  # fmt: skip


def _figure(data: list[dict[str, Any]], title: str, **layout: Any) -> str:
    base = {
        "title": {"text": title},
        "margin": {"l": 70, "r": 50, "t": 60, "b": 110},
        "colorway": COLORWAY,
        "font": {"family": "system-ui, sans-serif", "size": 13},
        "height": 460,
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": dict(GRID),
        "yaxis": dict(GRID),
    }
    for axis in ("xaxis", "yaxis"):
        base[axis].update(layout.pop(axis, {}))
    return plotly.io.to_json({"data": data, "layout": {**base, **layout}}, validate=False)


def axis_title(metric: Metric, statistic: str = "") -> str:
    better = "lower is better" if metric.direction is Direction.LOWER_IS_BETTER else "higher is better"
    label = f"{statistic} {metric.name}".strip()
    return f"{label} ({metric.unit}) — {better}"


def ranking_bars(ranking: MetricRanking) -> str:
    entries = ranking.entries
    bars = {
        "type": "bar",
        "x": [e.llm.name for e in entries],
        "y": [e.value for e in entries],
        "error_y": {
            "type": "data",
            "array": [e.ci_high - e.value for e in entries],
            "arrayminus": [e.value - e.ci_low for e in entries],
            "color": "#444",
        },
        "marker": {"color": [PALE_BLUE if e.tied_with else BLUE for e in entries]},
        "customdata": [[e.ci_low, e.ci_high, ", ".join(e.tied_with) or "none"] for e in entries],
        "hovertemplate": (
            "%{x}<br>%{y:.4g} " + ranking.metric.unit + "<br>95% CI %{customdata[0]:.4g} - %{customdata[1]:.4g}"
            "<br>tied with: %{customdata[2]}<extra></extra>"
        ),
    }
    title = (
        f"{ranking.metric.description}: {ranking.statistic}, {BEST_FIRST}"
        "<br><sub>error bars: 95% confidence interval; pale bars: statistically tied with another LLM</sub>"
    )
    return _figure([bars], title, yaxis={"title": {"text": axis_title(ranking.metric, str(ranking.statistic))}})


def distribution_boxes(ranking: MetricRanking) -> str:
    """Boxes from the quantiles: box p25-p75, line at the median, whiskers at p1 and p99."""
    boxes = [
        {
            "type": "box",
            "name": e.llm.name,
            "x": [e.llm.name],
            "q1": [e.statistics.sketch.quantile(0.25)],
            "median": [e.statistics.p50],
            "q3": [e.statistics.sketch.quantile(0.75)],
            "lowerfence": [e.statistics.sketch.quantile(0.01)],
            "upperfence": [e.statistics.p99],
            "mean": [e.statistics.mean],
            "showlegend": False,
            "marker": {"color": BLUE},
        }
        for e in ranking.entries
    ]
    title = f"Distribution per LLM (box p25-p75, whiskers p1-p99), {BEST_FIRST}"
    return _figure(boxes, title, yaxis={"title": {"text": axis_title(ranking.metric)}})


def trend_lines(history: MetricHistory) -> str:
    lines = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": llm,
            "x": [p.finished_at.isoformat() for p in points],
            "y": [p.value for p in points],
        }
        for llm, points in history.series.items()
    ]
    return _figure(
        lines,
        f"Trend over the runs of the last {history.window}",
        margin={"l": 70, "r": 20, "t": 60, "b": 50},
        xaxis={"title": {"text": "run finished at (UTC)"}},
        yaxis={"title": {"text": axis_title(history.metric, str(history.statistic))}},
    )


def score_bars(ranking: OverallRanking) -> str:
    entries = ranking.entries
    bars = {
        "type": "bar",
        "x": [e.llm.name for e in entries],
        "y": [e.score for e in entries],
        "marker": {"color": BLUE},
        "hovertemplate": "%{x}<br>score %{y:.3f}<extra></extra>",
    }
    return _figure(
        [bars],
        f"Overall score ({ranking.method}), {BEST_FIRST}",
        yaxis={"title": {"text": "score (0-1) — higher is better"}, "range": [0, 1.05]},
    )


def score_heatmap(ranking: OverallRanking, metrics: list[Metric]) -> str:
    names = [m.name for m in metrics if any(m.name in e.by_metric for e in ranking.entries)]
    units = {m.name: m.unit for m in metrics}
    entries = ranking.entries
    heatmap = {
        "type": "heatmap",
        "x": names,
        "y": [e.llm.name for e in entries],
        "z": [[e.by_metric[n].score for n in names] for e in entries],
        "text": [[f"{e.by_metric[n].value:.3g} {units[n]}" for n in names] for e in entries],
        "texttemplate": "%{text}",
        "colorscale": "Blues",
        "zmin": 0,
        "zmax": 1,
        "colorbar": {"title": {"text": "score"}},
        "hovertemplate": "%{y} · %{x}<br>%{text}<br>score %{z:.2f}<extra></extra>",
    }
    return _figure(
        [heatmap],
        "Per-metric score of every LLM (1 = best)",
        height=520,
        margin={"l": 140, "r": 20, "t": 60, "b": 50},
        yaxis={"autorange": "reversed"},
    )


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


def latency_speed_scatter(ranking: OverallRanking) -> str:
    points = {
        e.llm.name: (e.by_metric["TTFT"].value, e.by_metric["TPS"].value)
        for e in ranking.entries
        if "TTFT" in e.by_metric and "TPS" in e.by_metric
    }
    front = pareto_front(points)
    llms = {
        "type": "scatter",
        "mode": "markers+text",
        "name": "LLM",
        "x": [ttft for ttft, _ in points.values()],
        "y": [tps for _, tps in points.values()],
        "text": list(points),
        "textposition": "top center",
        "marker": {"size": 11, "color": [ORANGE if name in front else BLUE for name in points]},
        "hovertemplate": "%{text}<br>TTFT %{x:.3f} s<br>TPS %{y:.1f}<extra></extra>",
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
    return _figure(
        [llms, frontier],
        "Latency against speed: up and to the left is better (Pareto front in orange)",
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
        xaxis={"title": {"text": "TTFT (seconds) — lower is better"}},
        yaxis={"title": {"text": "TPS (tokens/second) — higher is better"}},
    )
