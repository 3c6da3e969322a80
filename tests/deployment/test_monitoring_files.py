"""The example alert rules and Grafana dashboard read only series the service serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from src.adapters.telemetry.results import families

ROOT = Path(__file__).resolve().parents[2]
SERIES = re.compile(r"\bjounce_[a-z0-9_]+")
SERVED = {family.name for family in families([], [])} | {"jounce_endpoint_results_up"}


def test_every_alert_is_a_named_rule_on_series_the_service_serves():
    rules = yaml.safe_load((ROOT / "deployment/prometheus/jounce-alerts.yaml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {"JounceEndpointSlower", "JounceEndpointSloMissed"}
    for rule in alerts:
        used = set(SERIES.findall(rule["expr"]))
        assert used and used <= SERVED, (rule["alert"], used - SERVED)
        assert rule["annotations"]["summary"] and rule["labels"]["severity"]


def test_every_dashboard_panel_queries_series_the_service_serves():
    dashboard = json.loads((ROOT / "deployment/grafana/jounce-endpoints.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    queries.append(dashboard["templating"]["list"][1]["query"])
    assert len(dashboard["panels"]) >= 6
    for query in queries:
        used = set(SERIES.findall(query))
        assert used and used <= SERVED, (query, used - SERVED)
