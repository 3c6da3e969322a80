"""One table from errors to status codes; every error answers JSON, never a stack trace."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from src.adapters.web.models import Error, ErrorDetail, Quota
from src.application.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidParameter,
    NotFound,
    QuotaExceeded,
    ServiceUnavailable,
    Unauthorized,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    InvalidParameter: 400,
    Unauthorized: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    QuotaExceeded: 429,
    ServiceUnavailable: 503,
}


def error_response(status: int, message: str, **extra: Any) -> ResponseReturnValue:
    body = Error(error=ErrorDetail(status=status, message=message, **extra))
    response = current_app.response_class(body.model_dump_json(), mimetype="application/json")
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="jounce", header="api-key"'
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response, status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(error: DomainError) -> ResponseReturnValue:
        status = STATUS_BY_ERROR.get(type(error), 400)
        choices = getattr(error, "choices", None)
        return error_response(status, str(error), **({"choices": choices} if choices else {}))

    @app.errorhandler(QuotaExceeded)
    def quota_exceeded(error: QuotaExceeded) -> ResponseReturnValue:
        quota = Quota(name=error.quota, limit=error.limit, used=error.used, asked=error.asked)
        return error_response(429, str(error), quota=quota)

    # Only a lost or refused connection means "unavailable"; any other database error is a bug
    # (a 500, logged with its cause), not something a retry would fix.
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_unavailable(error: DBAPIError) -> ResponseReturnValue:
        log.error("database unavailable: %s", error.__class__.__name__, exc_info=error)
        return error_response(503, "the database is unavailable; try again shortly")

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        extra = {}
        valid_methods = getattr(error, "valid_methods", None)
        if error.code == 405 and valid_methods:
            extra["choices"] = sorted(valid_methods)
        response, status = error_response(error.code or 500, error.description or error.name, **extra)
        if valid_methods:
            response.headers["Allow"] = ", ".join(sorted(valid_methods))
        if retry_after := getattr(error, "retry_after", None):  # a rate limit's 429
            response.headers["Retry-After"] = str(retry_after)
        return response, status

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception) -> ResponseReturnValue:
        log.exception("unhandled error")
        return error_response(500, "internal error")
