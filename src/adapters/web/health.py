"""Liveness and readiness, open to probes without a key."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from src.application.use_cases.health import HealthUseCases

blueprint = Blueprint("health", __name__)


@blueprint.get("/health/", strict_slashes=False)
def health() -> ResponseReturnValue:
    """Liveness: the process answers. Dependencies are /ready's business."""
    return jsonify({"status": "ok"})


@blueprint.get("/ready", strict_slashes=False)
def ready(health_checks: HealthUseCases) -> ResponseReturnValue:
    checks = health_checks.readiness()
    failing = sorted(name for name, state in checks.items() if state != "ok")
    body = {"status": "ready" if not failing else "unavailable", "checks": checks}
    if failing:
        body["failing"] = failing
    return jsonify(body), 503 if failing else 200
