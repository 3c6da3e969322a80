"""Request ids, per-endpoint request metrics, and the Prometheus endpoint at /-/metrics."""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from contextvars import ContextVar

from flask import Blueprint, Flask, Response, current_app, g, request
from flask.typing import ResponseReturnValue

from src.adapters.telemetry.prometheus import HTTP_LATENCY, HTTP_REQUESTS, exposition
from src.adapters.telemetry.results import results_exposition
from src.adapters.web.errors import error_response
from src.application.use_cases.monitoring import MonitoringUseCases

REQUEST_ID_HEADER = "X-Request-ID"
LOOPBACK = {"127.0.0.1", "::1"}
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
request_id: ContextVar[str] = ContextVar("request_id", default="-")
log = logging.getLogger("jounce.requests")

blueprint = Blueprint("observability", __name__)


@blueprint.get("/-/metrics")
def metrics(monitoring: MonitoringUseCases) -> ResponseReturnValue:
    """For Prometheus only: with METRICS_TOKEN set, to requests bearing it; without, to this host.
    The service's own series, then the endpoints' measured results."""
    token = current_app.extensions["settings"].metrics_token
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if token:
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
            return error_response(401, "the metrics need the bearer token METRICS_TOKEN")
    elif request.remote_addr not in LOOPBACK:
        return error_response(403, "without METRICS_TOKEN the metrics answer only this host")
    body, content_type = exposition()
    return Response(body + results_exposition(monitoring), content_type=content_type)


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def _start() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    request_id.set(g.request_id)


def _finish(response: Response) -> Response:
    if "request_started" not in g:
        return response
    seconds = time.perf_counter() - g.request_started
    endpoint = request.url_rule.rule if request.url_rule else "unmatched"
    HTTP_REQUESTS.labels(request.method, endpoint, str(response.status_code)).inc()
    HTTP_LATENCY.labels(request.method, endpoint).observe(seconds)
    response.headers[REQUEST_ID_HEADER] = g.request_id
    # The path without its query: nothing a client sends as a parameter lands in the logs.
    log.info(
        "%s %s %s %.1fms",
        request.method,
        request.path,
        response.status_code,
        seconds * 1000,
        extra={"status": response.status_code, "duration_ms": round(seconds * 1000, 2)},
    )
    return response
