"""The API contract at work: spectree checks each request against its models (models.py) and
writes /openapi.json from them; Swagger UI at /docs is served offline.

spectree was chosen over flask-openapi3 because it decorates plain Flask views: the app, its
blueprints and Flask-Injector's view wrapping stay as they are. Its Flask plugin is extended in
two documented places: bodies are read as the API always read them, and answers the view has
already made (CSV, cached bytes) pass through unvalidated."""

from __future__ import annotations

import copy
import json
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request, send_from_directory
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from spectree import Response as Responses
from spectree import SecurityScheme, SecuritySchemeData, SpecTree, Tag
from spectree.plugins.base import Context
from spectree.plugins.flask_plugin import FlaskPlugin

from src.adapters.web.models import Error, parsed
from src.application.domain.errors import InvalidParameter

blueprint = Blueprint("openapi", __name__)
ASSET_MAX_AGE = 7 * 24 * 3600
# Swagger UI 5's files as flask-swagger-ui ships them (its page starts the UI from an inline
# script, which the CSP forbids: docs.html starts it from a file instead).
SWAGGER_UI = str(files("flask_swagger_ui") / "dist")


class JouncePlugin(FlaskPlugin):
    def request_validation(self, request: Any, query: Any, json: Any, form: Any, headers: Any, cookies: Any) -> None:
        request.context = Context(
            parsed(query, request.args.to_dict()) if query else None,  # the first of repeated names
            parsed(json, json_object(json.example)) if json else None,
            None,
            None,
            None,
        )

    def validate_response(self, resp: Any, resp_model: Any, skip_validation: bool, force_resp_serialize: bool) -> Any:
        if isinstance(resp, Response):
            return resp, None
        return super().validate_response(resp, resp_model, skip_validation, force_resp_serialize)


api = SpecTree(
    backend=JouncePlugin,
    mode="strict",  # only the views that declare their models
    annotations=False,
    validation_error_status=400,  # what `parsed` raises, in the error envelope
    validation_error_model=Error,
    naming_strategy=lambda model: model.__name__,  # the models' names are unique
    nested_naming_strategy=lambda _parent, child: child,
    title="Jounce",
    version="1.0.0",
    description="Rankings of LLM performance: TTFT, TPS, end-to-end latency and RPS. Simulated rankings "
    "rank the catalogue's assumptions; measured runs measure real endpoints.",
    security_schemes=[
        SecurityScheme(name="apiKeyHeader", data=SecuritySchemeData(type="apiKey", field_in="header", name="api-key")),
        SecurityScheme(name="bearer", data=SecuritySchemeData(type="http", scheme="bearer")),
    ],
    security=[{"apiKeyHeader": []}, {"bearer": []}],  # either
)

RANKINGS = Tag(name="Rankings", description="LLMs ranked per metric and overall, with intervals")
RUNS = Tag(name="Runs", description="Simulation runs (operator keys start them) and any run by id")
MEASURED = Tag(name="Measured runs", description="Real OpenAI-compatible endpoints, measured")
CATALOGUE = Tag(name="Catalogue", description="The LLMs and the metrics")
HEALTH = Tag(name="Health", description="Liveness and readiness, without a key")

ERRORS = {
    400: "A parameter is missing or malformed; `choices` lists the valid values",
    401: "The API key is missing, unknown or revoked",
    403: "The key's role may not do this (the message names the roles that may)",
    404: "Unknown run, sweep or endpoint",
    409: "A conflict: the run is not completed, the name is taken, or the endpoint has runs",
    429: "Past the key's rate limit (see Retry-After) or, starting work, one of its quotas",
    503: "The database (or the task broker) is unavailable; retry later",
}
READING = (400, 401, 429, 503)
JSON_LINES = "application/x-ndjson"
LINES_OF = {"RequestRecord"}  # models answered as JSON Lines, one a line
STARTING_WORK = (*READING, 403)


def answers(ok: tuple[int, type[BaseModel] | None, str], *errors: int) -> Responses:
    """The documented answers of an operation: its success (None: no body), and these errors in
    the envelope."""
    status, model, description = ok
    documented: dict[str, Any] = {f"HTTP_{status}": (model, description) if model else None}
    documented.update({f"HTTP_{code}": (Error, ERRORS[code]) for code in errors})
    return Responses(**documented)


def json_object(example: str) -> dict[str, Any]:
    """The request's JSON object body ({} when it has none), whatever its content type says,
    chunked transfer included."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise InvalidParameter(f"the body is not valid JSON; send an object such as {example}") from None
    if not isinstance(body, dict):
        raise InvalidParameter(f"the body must be a JSON object such as {example}")
    return body


def openapi_spec() -> dict[str, Any]:
    """spectree's document, with CSV declared beside JSON where `format` offers it, and JSON Lines
    in place of JSON where the answer is a stream of LINES_OF models."""
    spec = copy.deepcopy(api.spec)
    for operations in spec["paths"].values():
        for operation in operations.values():
            content = operation["responses"].get("200", {}).get("content", {})
            if any(parameter["name"] == "format" for parameter in operation.get("parameters", [])):
                content["text/csv"] = {"schema": {"type": "string"}}
            if content.get("application/json", {}).get("schema", {}).get("$ref", "").rsplit("/")[-1] in LINES_OF:
                content[JSON_LINES] = content.pop("application/json")
    return spec


@blueprint.get("/openapi.json")
def document() -> ResponseReturnValue:
    return jsonify(openapi_spec())


@blueprint.get("/docs", strict_slashes=False)
def docs() -> ResponseReturnValue:
    return render_template("docs.html")


@blueprint.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> ResponseReturnValue:
    return send_from_directory(SWAGGER_UI, filename, max_age=ASSET_MAX_AGE)
