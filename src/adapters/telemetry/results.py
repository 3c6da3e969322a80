"""Measured results as Prometheus series, so that a team alerts on its endpoints with its own
Prometheus and Alertmanager (deployment/prometheus/ has a rule and a Grafana dashboard).

Read at each scrape from each endpoint's latest window (use_cases/monitoring.py): gauges, since
they are the current estimate, not counts. When the store cannot be read, only
`jounce_endpoint_results_up 0` is exposed, and the service's own series are still served.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from src.application.domain.errors import DomainError
from src.application.use_cases.monitoring import EndpointStatus, MonitoringUseCases, NewestRuns

LABELS = ["endpoint", "llm"]
QUANTILE = ["metric", "quantile"]  # ttft or itl, and the quantile: 0.5, 0.9, 0.95, 0.99


class EndpointResults(Collector):
    def __init__(self, monitoring: MonitoringUseCases):
        self.monitoring = monitoring

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("jounce_endpoint_results_up", "1 when the endpoints' results could be read")
        try:
            statuses, newest = self.monitoring.statuses(), self.monitoring.newest_runs()
        except DomainError:  # the database is down or slow: say so, keep the rest of the scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families(statuses, newest)


def families(statuses: list[EndpointStatus], newest: list[NewestRuns]) -> Iterator[GaugeMetricFamily]:
    def family(name: str, text: str, extra: list[str] | None = None) -> GaugeMetricFamily:
        return GaugeMetricFamily(name, text, labels=LABELS + (extra or []))

    latency = family("jounce_endpoint_latency_seconds", "TTFT or ITL quantile over the latest window", QUANTILE)
    low = family("jounce_endpoint_latency_ci95_low_seconds", "Lower bound of its 95% interval", QUANTILE)
    high = family("jounce_endpoint_latency_ci95_high_seconds", "Upper bound of its 95% interval", QUANTILE)
    changed = family("jounce_endpoint_changed", "1: changed against the baseline beyond its runs' spread", QUANTILE)
    relative = family(
        "jounce_endpoint_change_ratio", "Latest runs' geometric mean over the baseline's, less 1", QUANTILE
    )
    throughput = family("jounce_endpoint_output_tokens_per_second", "Mean output throughput of the window's runs")
    errors = family("jounce_endpoint_error_ratio", "Failed requests of a kind over those sent", ["kind"])
    requests = family("jounce_endpoint_requests", "Requests sent in the latest window")
    runs = family("jounce_endpoint_window_runs", "Valid runs in the latest window")
    last = family("jounce_endpoint_last_run_timestamp_seconds", "When its newest valid run finished")
    failed = family(
        "jounce_endpoint_newest_run_failed", "1: its newest run failed (no request succeeded, or none could be sent)"
    )
    client_bound = family(
        "jounce_endpoint_newest_run_client_bound", "1: its newest run was left out, Jounce's client the bottleneck"
    )
    slo = family("jounce_endpoint_slo_attainment_ratio", "Requests meeting the SLO over those sent")
    target = family("jounce_endpoint_slo_target_ratio", "The share of requests the SLO asks to meet it")
    for status in statuses:
        labels = [status.endpoint.name, status.llm.name]
        for measured in status.latencies:
            for statistic, estimate in measured.quantiles.items():
                quantile = [*labels, measured.name.lower(), f"{statistic.tail:g}"]
                latency.add_metric(quantile, estimate.value)
                if estimate.interval.low is not None:
                    low.add_metric(quantile, estimate.interval.low)
                if estimate.interval.high is not None:
                    high.add_metric(quantile, estimate.interval.high)
            for statistic, change in measured.changes.items():
                quantile = [*labels, measured.name.lower(), f"{statistic.tail:g}"]
                changed.add_metric(quantile, float(change.changed))
                relative.add_metric(quantile, change.relative)
        throughput.add_metric(labels, status.output_tokens_per_second)
        for kind, rate in status.error_rates.items():
            errors.add_metric([*labels, kind], rate)
        requests.add_metric(labels, status.requests)
        runs.add_metric(labels, status.runs)
        if status.slo is not None:
            slo.add_metric(labels, status.slo.attainment)
            target.add_metric(labels, status.slo.target)
    for endpoint in newest:  # every endpoint measured, however long ago: one whose runs fail has no window
        labels = [endpoint.endpoint.name, endpoint.llm.name]
        failed.add_metric(labels, float(endpoint.failed))
        client_bound.add_metric(labels, float(endpoint.client_bound))
        if endpoint.valid is not None and endpoint.valid.finished_at is not None:
            last.add_metric(labels, endpoint.valid.finished_at.timestamp())
    yield from (latency, low, high, changed, relative, throughput, errors, requests, runs, last, failed, client_bound,
                slo, target)  # fmt: skip


def results_exposition(monitoring: MonitoringUseCases) -> bytes:
    """The endpoints' results in Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EndpointResults(monitoring))
    return generate_latest(registry)
