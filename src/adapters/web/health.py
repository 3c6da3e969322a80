"""Liveness and readiness, open to probes without a key."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue
from spectree import Response as Responses

from src.adapters.web.contract import HEALTH, api
from src.adapters.web.models import Health, Ready
from src.application.use_cases.health import HealthUseCases

blueprint = Blueprint("health", __name__)


@blueprint.get("/health/", strict_slashes=False)
@api.validate(resp=Responses(HTTP_200=(Health, "The process answers")), tags=[HEALTH], security={})
def health() -> ResponseReturnValue:
    """Liveness: the process answers. Dependencies are /ready's business."""
    return Health()


@blueprint.get("/ready", strict_slashes=False)
@api.validate(resp=Responses(HTTP_200=(Ready, "Ready"), HTTP_503=(Ready, "A dependency is down")), tags=[HEALTH],
              security={})  # fmt: skip
def ready(health_checks: HealthUseCases) -> ResponseReturnValue:
    """Readiness: database and cache"""
    checks = health_checks.readiness()
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        return Ready(status="unavailable", checks=checks, failing=failing), 503
    return Ready(status="ready", checks=checks)
