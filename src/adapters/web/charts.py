"""Plotly figures of rankings, as JSON for the pages' script to draw (no inline JavaScript)."""

from __future__ import annotations

import plotly.graph_objects as go

from src.application.domain.model import Direction, Metric
from src.application.domain.ranking import MetricHistory, MetricRanking, OverallRanking

BEST_FIRST = "best first"
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 70, "r": 20, "t": 50, "b": 110},
    "font": {"family": "system-ui, sans-serif", "size": 13},
    "height": 460,
}


def axis_title(metric: Metric, statistic: str = "") -> str:
    better = "lower is better" if metric.direction is Direction.LOWER_IS_BETTER else "higher is better"
    label = f"{statistic} {metric.name}".strip()
    return f"{label} ({metric.unit}) — {better}"


def ranking_bars(ranking: MetricRanking) -> str:
    entries = ranking.entries
    figure = go.Figure(
        go.Bar(
            x=[e.llm.name for e in entries],
            y=[e.value for e in entries],
            error_y={
                "type": "data",
                "array": [e.ci_high - e.value for e in entries],
                "arrayminus": [e.value - e.ci_low for e in entries],
                "color": "#444",
            },
            marker_color=["#8fb8de" if e.tied_with else "#2b6cb0" for e in entries],
            customdata=[[e.ci_low, e.ci_high, ", ".join(e.tied_with) or "none"] for e in entries],
            hovertemplate=(
                "%{x}<br>%{y:.4g} " + ranking.metric.unit + "<br>95% CI %{customdata[0]:.4g} - %{customdata[1]:.4g}"
                "<br>tied with: %{customdata[2]}<extra></extra>"
            ),
        )
    )
    figure.update_layout(
        **LAYOUT,
        title=(
            f"{ranking.metric.description}: {ranking.statistic}, {BEST_FIRST}"
            "<br><sub>error bars: 95% confidence interval; pale bars: statistically tied with another LLM</sub>"
        ),
        yaxis_title=axis_title(ranking.metric, str(ranking.statistic)),
    )
    return figure.to_json()


def distribution_boxes(ranking: MetricRanking) -> str:
    """Boxes from the quantiles: box p25-p75, line at the median, whiskers at p1 and p99."""
    figure = go.Figure()
    for entry in ranking.entries:
        s = entry.statistics
        figure.add_trace(
            go.Box(
                name=entry.llm.name,
                x=[entry.llm.name],
                q1=[s.sketch.quantile(0.25)],
                median=[s.p50],
                q3=[s.sketch.quantile(0.75)],
                lowerfence=[s.sketch.quantile(0.01)],
                upperfence=[s.p99],
                mean=[s.mean],
                showlegend=False,
                marker_color="#2b6cb0",
            )
        )
    figure.update_layout(
        **LAYOUT,
        title=f"Distribution per LLM (box p25-p75, whiskers p1-p99), {BEST_FIRST}",
        yaxis_title=axis_title(ranking.metric),
    )
    return figure.to_json()


def trend_lines(history: MetricHistory) -> str:
    figure = go.Figure(
        [
            go.Scatter(
                x=[p.finished_at.isoformat() for p in points],
                y=[p.value for p in points],
                mode="lines+markers",
                name=llm,
            )
            for llm, points in history.series.items()
        ]
    )
    figure.update_layout(
        **{**LAYOUT, "margin": {"l": 70, "r": 20, "t": 50, "b": 50}},
        title=f"Trend over the runs of the last {history.window}",
        yaxis_title=axis_title(history.metric, str(history.statistic)),
        xaxis_title="run finished at (UTC)",
    )
    return figure.to_json()


def score_bars(ranking: OverallRanking) -> str:
    entries = ranking.entries
    figure = go.Figure(
        go.Bar(
            x=[e.llm.name for e in entries],
            y=[e.score for e in entries],
            marker_color="#2b6cb0",
            hovertemplate="%{x}<br>score %{y:.3f}<extra></extra>",
        )
    )
    figure.update_layout(
        **LAYOUT,
        title=f"Overall score ({ranking.method}), {BEST_FIRST}",
        yaxis={"title": "score (0-1) — higher is better", "range": [0, 1.05]},
    )
    return figure.to_json()


def score_heatmap(ranking: OverallRanking, metrics: list[Metric]) -> str:
    names = [m.name for m in metrics if any(m.name in e.by_metric for e in ranking.entries)]
    units = {m.name: m.unit for m in metrics}
    entries = ranking.entries
    figure = go.Figure(
        go.Heatmap(
            x=names,
            y=[e.llm.name for e in entries],
            z=[[e.by_metric[n].score for n in names] for e in entries],
            text=[[f"{e.by_metric[n].value:.3g} {units[n]}" for n in names] for e in entries],
            texttemplate="%{text}",
            colorscale="Blues",
            zmin=0,
            zmax=1,
            colorbar={"title": "score"},
            hovertemplate="%{y} · %{x}<br>%{text}<br>score %{z:.2f}<extra></extra>",
        )
    )
    figure.update_layout(
        **{**LAYOUT, "height": 520, "margin": {"l": 140, "r": 20, "t": 50, "b": 50}},
        title="Per-metric score of every LLM (1 = best)",
        yaxis={"autorange": "reversed"},
    )
    return figure.to_json()


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
    figure = go.Figure(
        [
            go.Scatter(
                x=[ttft for ttft, _ in points.values()],
                y=[tps for _, tps in points.values()],
                text=list(points),
                mode="markers+text",
                textposition="top center",
                name="LLM",
                marker={"size": 11, "color": ["#d97706" if n in front else "#2b6cb0" for n in points]},
                hovertemplate="%{text}<br>TTFT %{x:.3f} s<br>TPS %{y:.1f}<extra></extra>",
            ),
            go.Scatter(
                x=[points[n][0] for n in front],
                y=[points[n][1] for n in front],
                mode="lines",
                name="Pareto front",
                line={"color": "#d97706", "dash": "dash"},
                hoverinfo="skip",
            ),
        ]
    )
    figure.update_layout(
        **{**LAYOUT, "margin": {"l": 70, "r": 20, "t": 50, "b": 60}},
        title="Latency against speed: up and to the left is better (Pareto front in orange)",
        xaxis_title="TTFT (seconds) — lower is better",
        yaxis_title="TPS (tokens/second) — higher is better",
    )
    return figure.to_json()
