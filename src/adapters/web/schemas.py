"""How domain objects look in JSON."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from src.application.domain.model import LLM, Endpoint, Metric, Run
from src.application.domain.ranking import (
    DataSelection,
    MetricHistory,
    MetricRanking,
    OverallEntry,
    OverallRanking,
    RankingEntry,
)


def timestamp(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def run_json(run: Run) -> dict[str, Any]:
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else None
    return {
        "id": run.id,
        "status": str(run.status),
        "source": str(run.source),
        "seed": run.seed,
        "samples_per_pair": run.samples_per_pair,
        "sample_count": run.sample_count,
        "slot": run.slot,
        "created_at": timestamp(run.created_at),
        "started_at": timestamp(run.started_at),
        "finished_at": timestamp(run.finished_at),
        "duration_seconds": duration,
        "error": run.error,
        "endpoint_id": run.endpoint_id,
        "details": run.details,
        "requested_by": run.requested_by,
    }


def endpoint_json(endpoint: Endpoint, with_address: bool) -> dict[str, Any]:
    """An endpoint; its URL and the name of its key's variable only for admins (`with_address`)."""
    return {
        "id": endpoint.id,
        "name": endpoint.name,
        "llm_id": endpoint.llm_id,
        "base_url": endpoint.base_url if with_address else None,
        "model": endpoint.model,
        "api_key_env": endpoint.api_key_env if with_address else None,
        "created_at": timestamp(endpoint.created_at),
    }


def metric_json(metric: Metric) -> dict[str, Any]:
    return {
        "name": metric.name,
        "description": metric.description,
        "unit": metric.unit,
        "direction": str(metric.direction),
        "lower_bound": metric.lower_bound,
        "upper_bound": metric.upper_bound,
    }


def llm_json(llm: LLM) -> dict[str, Any]:
    return {"name": llm.name, "vendor": llm.vendor}


def selection_json(selection: DataSelection | None) -> dict[str, Any] | None:
    if selection is None:
        return None
    return {
        "name": str(selection.window) if selection.window else "run",
        "runs": selection.runs,
        "first_finished_at": timestamp(selection.first_finished_at),
        "last_finished_at": timestamp(selection.last_finished_at),
    }


def _envelope(selection: DataSelection | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "window": selection_json(selection),
        "run": run_json(selection.run) if selection and selection.run else None,
    }
    if selection is None:
        body["detail"] = NO_DATA
    return body


NO_DATA = "no completed run in this window yet: results will appear after the next simulation run"


def ranking_entry_json(entry: RankingEntry) -> dict[str, Any]:
    s = entry.statistics
    return {
        "rank": entry.rank,
        "llm": entry.llm.name,
        "vendor": entry.llm.vendor,
        "value": entry.value,
        "ci95": {"low": entry.ci_low, "high": entry.ci_high},
        "statistically_tied": bool(entry.tied_with),
        "tied_with": list(entry.tied_with),
        "mean_value": s.mean,
        "median": s.p50,
        "p90": s.p90,
        "p95": s.p95,
        "p99": s.p99,
        "std": s.std,
        "min": s.minimum,
        "max": s.maximum,
        "n": s.n,
    }


def metric_ranking_json(ranking: MetricRanking) -> dict[str, Any]:
    return {
        "metric": metric_json(ranking.metric),
        "statistic": str(ranking.statistic),
        **_envelope(ranking.selection),
        "results": [ranking_entry_json(entry) for entry in ranking.entries],
    }


def overall_entry_json(entry: OverallEntry) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "llm": entry.llm.name,
        "vendor": entry.llm.vendor,
        "score": entry.score,
        "mean_value": entry.score,  # the original's field name, kept for existing scripts
        "metrics": {
            name: {"value": standing.value, "rank": standing.rank, "score": standing.score}
            for name, standing in entry.by_metric.items()
        },
    }


def overall_json(ranking: OverallRanking) -> dict[str, Any]:
    return {
        "method": ranking.method,
        "statistic": str(ranking.statistic),
        "weights": ranking.weights,
        **_envelope(ranking.selection),
        "results": [overall_entry_json(entry) for entry in ranking.entries],
    }


def history_json(history: MetricHistory) -> dict[str, Any]:
    return {
        "metric": metric_json(history.metric),
        "statistic": str(history.statistic),
        "window": str(history.window),
        "series": [
            {
                "llm": llm,
                "points": [
                    {"run_id": p.run_id, "finished_at": timestamp(p.finished_at), "value": p.value} for p in points
                ],
            }
            for llm, points in history.series.items()
        ],
    }


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def metric_ranking_csv(ranking: MetricRanking) -> str:
    header = ["rank", "llm", "vendor", "value", "ci95_low", "ci95_high", "tied_with", "mean_value",
              "median", "p90", "p95", "p99", "std", "min", "max", "n"]  # fmt: skip
    rows = []
    for entry in ranking.entries:
        s = entry.statistics
        rows.append([entry.rank, entry.llm.name, entry.llm.vendor, entry.value, entry.ci_low, entry.ci_high,
                     ";".join(entry.tied_with), s.mean, s.p50, s.p90, s.p95, s.p99, s.std, s.minimum,
                     s.maximum, s.n])  # fmt: skip
    return csv_text(header, rows)


def overall_csv(ranking: OverallRanking) -> str:
    metrics = list(ranking.entries[0].by_metric) if ranking.entries else []
    header = ["rank", "llm", "vendor", "score"]
    for name in metrics:
        header += [f"{name}_value", f"{name}_rank", f"{name}_score"]
    rows = []
    for entry in ranking.entries:
        row: list[Any] = [entry.rank, entry.llm.name, entry.llm.vendor, entry.score]
        for name in metrics:
            standing = entry.by_metric[name]
            row += [standing.value, standing.rank, standing.score]
        rows.append(row)
    return csv_text(header, rows)


def history_csv(history: MetricHistory) -> str:
    rows = [
        [p.run_id, timestamp(p.finished_at), llm, p.value] for llm, points in history.series.items() for p in points
    ]
    return csv_text(["run_id", "finished_at", "llm", "value"], rows)
