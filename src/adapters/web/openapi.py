"""The OpenAPI 3 document at /openapi.json and Swagger UI at /docs, both served offline."""

from __future__ import annotations

from typing import Any

import swagger_ui_bundle
from flask import Blueprint, jsonify, render_template, send_from_directory
from flask.typing import ResponseReturnValue

from src.application.domain.catalogue import load_catalogue
from src.application.domain.model import RunStatus
from src.application.domain.ranking import Statistic, Window
from src.application.services.ranking import METHODS
from src.application.use_cases.rankings import WINDOW_SPANS
from src.application.use_cases.simulation import MAX_SAMPLES_PER_PAIR

blueprint = Blueprint("openapi", __name__)
ASSET_MAX_AGE = 7 * 24 * 3600


@blueprint.get("/openapi.json")
def document() -> ResponseReturnValue:
    return jsonify(openapi_document())


@blueprint.get("/docs", strict_slashes=False)
def docs() -> ResponseReturnValue:
    return render_template("docs.html")


@blueprint.get("/docs/assets/<path:filename>")
def docs_asset(filename: str) -> ResponseReturnValue:
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=ASSET_MAX_AGE)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ranked(schema: str, description: str) -> dict[str, Any]:
    response = _json(_ref(schema), description)
    response["content"]["text/csv"] = {"schema": {"type": "string"}}
    return response


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


NUMBER = {"type": "number"}
RATE = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": 1000}
NULLABLE_TIME = {"type": "string", "format": "date-time", "nullable": True}
ERRORS = {
    "400": _json(_ref("Error"), "A parameter is missing or malformed; `choices` lists the valid values"),
    "401": _json(_ref("Error"), "The API key is missing, unknown or revoked"),
    "429": _json(_ref("Error"), "Past the key's rate limit (see Retry-After) or, starting work, one of its quotas"),
    "503": _json(_ref("Error"), "The database (or the task broker) is unavailable; retry later"),
}
WORK_ERRORS = {**ERRORS, "403": _json(_ref("Error"), "The key's role may not start work (operator or admin may)")}


def openapi_document() -> dict[str, Any]:
    metric_names = load_catalogue().metric_names
    statistic = _query(
        "statistic",
        {"type": "string", "enum": [s.value for s in Statistic], "default": "mean"},
        "What to rank by",
    )
    window = _query(
        "window",
        {"type": "string", "enum": [w.value for w in Window], "default": "latest"},
        "The data: the latest completed run, or every run completed in a period",
    )
    run_id = _query("run_id", {"type": "integer", "minimum": 1}, "One completed run instead of a window")
    source = _query(
        "source",
        {"type": "string", "enum": ["simulated", "measured"], "default": "simulated"},
        "Simulated runs, or measured runs of real endpoints (each covers one LLM: use a window)",
    )
    fmt = _query("format", {"type": "string", "enum": ["json", "csv"]}, "CSV also with `Accept: text/csv`")
    metric_name = _query("metric_name", {"type": "string", "enum": metric_names}, "The metric", required=True)
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Jounce",
            "version": "1.0.0",
            "description": "Rankings of LLM performance: TTFT, TPS, end-to-end latency and RPS.",
        },
        "security": [{"apiKeyHeader": []}, {"bearer": []}],
        "tags": [
            {"name": "Rankings", "description": "LLMs ranked per metric and overall, with intervals"},
            {"name": "Runs", "description": "Simulation runs (operator keys start them) and any run by id"},
            {"name": "Measured runs", "description": "Real OpenAI-compatible endpoints, measured"},
            {"name": "Catalogue", "description": "The LLMs and the metrics"},
            {"name": "Health", "description": "Liveness and readiness, without a key"},
        ],
        "paths": {
            "/health/": {
                "get": {
                    "tags": ["Health"],
                    "summary": "Liveness",
                    "security": [],
                    "responses": {"200": _json(_ref("Health"), "The process answers")},
                }
            },
            "/ready": {
                "get": {
                    "tags": ["Health"],
                    "summary": "Readiness: database and cache",
                    "security": [],
                    "responses": {
                        "200": _json(_ref("Ready"), "Ready"),
                        "503": _json(_ref("Ready"), "A dependency is down"),
                    },
                }
            },
            "/metrics/": {
                "get": {
                    "tags": ["Rankings"],
                    "summary": "Rank the LLMs on one metric, best first for its direction",
                    "parameters": [metric_name, statistic, window, run_id, source, fmt],
                    "responses": {
                        "200": _ranked("MetricRanking", "The ranking"),
                        **ERRORS,
                        "404": _json(_ref("Error"), "Unknown run"),
                        "409": _json(_ref("Error"), "The run is not completed"),
                    },
                }
            },
            "/metrics/all": {
                "get": {
                    "tags": ["Rankings"],
                    "summary": "Rank the LLMs across every metric by a 0-1 score",
                    "parameters": [
                        _query(
                            "method",
                            {"type": "string", "enum": list(METHODS), "default": "winrate"},
                            "winrate: share of rivals beaten per metric, ties half; minmax: position between "
                            "worst and best",
                        ),
                        _query(
                            "weights",
                            {"type": "string", "example": "TTFT:2,TPS:1"},
                            "Metric weights, 1 when not given, 0 to leave a metric out",
                        ),
                        statistic,
                        window,
                        run_id,
                        source,
                        fmt,
                    ],
                    "responses": {
                        "200": _ranked("OverallRanking", "The overall ranking"),
                        **ERRORS,
                        "404": _json(_ref("Error"), "Unknown run"),
                        "409": _json(_ref("Error"), "The run is not completed"),
                    },
                }
            },
            "/metrics/history": {
                "get": {
                    "tags": ["Rankings"],
                    "summary": "Per-run values of one metric for every LLM, for trend charts",
                    "parameters": [
                        metric_name,
                        statistic,
                        _query(
                            "window",
                            {"type": "string", "enum": [w.value for w in WINDOW_SPANS], "default": "24h"},
                            "The period",
                        ),
                        _query(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                            "How many of the newest runs",
                        ),
                        source,
                        fmt,
                    ],
                    "responses": {"200": _ranked("History", "One series per LLM, oldest first"), **ERRORS},
                }
            },
            "/llms": {
                "get": {
                    "tags": ["Catalogue"],
                    "summary": "The LLM catalogue",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["llms"],
                                "properties": {"llms": {"type": "array", "items": _ref("LLM")}},
                            },
                            "The LLMs",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/metric-definitions": {
                "get": {
                    "tags": ["Catalogue"],
                    "summary": "The metric catalogue",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["metrics"],
                                "properties": {"metrics": {"type": "array", "items": _ref("Metric")}},
                            },
                            "The metrics",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/runs": {
                "get": {
                    "tags": ["Runs"],
                    "summary": "Simulation runs, newest first",
                    "parameters": [
                        _query(
                            "limit",
                            {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                            "Page size",
                        ),
                        _query("offset", {"type": "integer", "minimum": 0, "default": 0}, "Runs to skip"),
                        _query(
                            "status",
                            {"type": "string", "enum": [s.value for s in RunStatus]},
                            "Only this status",
                        ),
                    ],
                    "responses": {"200": _json(_ref("RunList"), "A page of runs"), **ERRORS},
                },
                "post": {
                    "tags": ["Runs"],
                    "summary": "Queue a simulation run for the workers",
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "samples_per_pair": {
                                            "type": "integer",
                                            "minimum": 2,
                                            "maximum": MAX_SAMPLES_PER_PAIR,
                                        },
                                        "seed": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            **_json(_ref("RunEnvelope"), "Queued; follow the Location"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        **WORK_ERRORS,
                    },
                },
            },
            "/endpoints": {
                "get": {
                    "tags": ["Measured runs"],
                    "summary": "The OpenAI-compatible endpoints that measured runs benchmark",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["endpoints"],
                                "properties": {"endpoints": {"type": "array", "items": _ref("Endpoint")}},
                            },
                            "The endpoints",
                        ),
                        **ERRORS,
                    },
                }
            },
            "/benchmarks": {
                "post": {
                    "tags": ["Measured runs"],
                    "summary": "Queue a measured run of an endpoint for the workers",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["endpoint"],
                                    "properties": {
                                        "endpoint": {"type": "string"},
                                        "requests": {"type": "integer", "minimum": 1, "maximum": 10000},
                                        "concurrency": {"type": "integer", "minimum": 1, "maximum": 256},
                                        "rate": {
                                            "type": "number",
                                            "minimum": 0,
                                            "exclusiveMinimum": True,
                                            "maximum": 1000,
                                        },
                                        "warmup": {"type": "integer", "minimum": 0, "maximum": 100},
                                        "max_tokens": {"type": "integer", "minimum": 1, "maximum": 8192},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "202": {
                            **_json(_ref("RunEnvelope"), "Queued; follow the Location"),
                            "headers": {"Location": {"schema": {"type": "string"}}},
                        },
                        **WORK_ERRORS,
                        "404": _json(_ref("Error"), "Unknown endpoint"),
                    },
                }
            },
            "/runs/{run_id}": {
                "get": {
                    "tags": ["Runs"],
                    "summary": "One run: status, seed, timings, sample count",
                    "parameters": [
                        {
                            "name": "run_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 0},
                        }
                    ],
                    "responses": {
                        "200": _json(_ref("RunEnvelope"), "The run"),
                        **ERRORS,
                        "404": _json(_ref("Error"), "Unknown run"),
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKeyHeader": {"type": "apiKey", "in": "header", "name": "api-key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": _schemas(metric_names),
        },
    }


def _object(properties: dict[str, Any], nullable: bool = False) -> dict[str, Any]:
    schema = {"type": "object", "required": list(properties), "properties": properties}
    if nullable:
        schema["nullable"] = True
    return schema


def _schemas(metric_names: list[str]) -> dict[str, Any]:
    run = _object(
        {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in RunStatus]},
            "source": {"type": "string", "enum": ["simulated", "measured"]},
            "seed": {"type": "integer"},
            "samples_per_pair": {"type": "integer"},
            "sample_count": {"type": "integer"},
            "slot": {"type": "string", "nullable": True},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": NULLABLE_TIME,
            "finished_at": NULLABLE_TIME,
            "duration_seconds": {"type": "number", "nullable": True},
            "error": {"type": "string", "nullable": True},
            "endpoint_id": {"type": "integer", "nullable": True},
            "details": {"type": "object", "nullable": True},
            "requested_by": {"type": "string", "nullable": True},
        }
    )
    window = _object(
        {
            "name": {"type": "string"},
            "runs": {"type": "integer"},
            "first_finished_at": NULLABLE_TIME,
            "last_finished_at": NULLABLE_TIME,
        },
        nullable=True,
    )
    envelope = {"window": window, "run": {**run, "nullable": True}, "detail": {"type": "string"}}
    ranking_result = _object(
        {
            "rank": {"type": "integer"},
            "llm": {"type": "string"},
            "vendor": {"type": "string"},
            "value": NUMBER,
            "ci95": _object({"low": NUMBER, "high": NUMBER}),
            "statistically_tied": {"type": "boolean"},
            "tied_with": {"type": "array", "items": {"type": "string"}},
            "mean_value": NUMBER,
            "median": NUMBER,
            "p90": NUMBER,
            "p95": NUMBER,
            "p99": NUMBER,
            "std": NUMBER,
            "min": NUMBER,
            "max": NUMBER,
            "n": {"type": "integer"},
        }
    )
    standing = _object({"value": NUMBER, "rank": {"type": "integer"}, "score": NUMBER})
    overall_result = _object(
        {
            "rank": {"type": "integer"},
            "llm": {"type": "string"},
            "vendor": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "mean_value": NUMBER,
            "metrics": {"type": "object", "additionalProperties": standing},
        }
    )
    metric = _object(
        {
            "name": {"type": "string", "enum": metric_names},
            "description": {"type": "string"},
            "unit": {"type": "string"},
            "direction": {"type": "string", "enum": ["lower", "higher"]},
            "lower_bound": NUMBER,
            "upper_bound": NUMBER,
        }
    )

    def with_envelope(props: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "required": [*props, "window", "run"], "properties": {**props, **envelope}}

    return {
        "Error": _object(
            {
                "error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {
                        "status": {"type": "integer"},
                        "message": {"type": "string"},
                        "choices": {"type": "array", "items": {"type": "string"}},
                        "quota": _object(
                            {
                                "name": {"type": "string"},
                                "limit": {"type": "integer"},
                                "used": {"type": "integer"},
                                "asked": {"type": "integer"},
                            }
                        ),
                    },
                }
            }
        ),
        "Health": _object({"status": {"type": "string", "enum": ["ok"]}}),
        "Ready": {
            "type": "object",
            "required": ["status", "checks"],
            "properties": {
                "status": {"type": "string", "enum": ["ready", "unavailable"]},
                "checks": _object({"database": {"type": "string"}, "cache": {"type": "string"}}),
                "failing": {"type": "array", "items": {"type": "string"}},
            },
        },
        "LLM": _object({"name": {"type": "string"}, "vendor": {"type": "string"}}),
        "Endpoint": _object(
            {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "llm_id": {"type": "integer"},
                "base_url": {"type": "string", "nullable": True, "description": "admins only"},
                "model": {"type": "string"},
                "api_key_env": {"type": "string", "nullable": True, "description": "admins only"},
                "created_at": {"type": "string", "format": "date-time"},
            }
        ),
        "Metric": metric,
        "Run": run,
        "RunEnvelope": _object({"run": run}),
        "RunList": _object(
            {
                "runs": {"type": "array", "items": run},
                "total": {"type": "integer"},
                "limit": {"type": "integer"},
                "offset": {"type": "integer"},
            }
        ),
        "MetricRanking": with_envelope(
            {
                "metric": metric,
                "statistic": {"type": "string"},
                "results": {"type": "array", "items": ranking_result},
            }
        ),
        "OverallRanking": with_envelope(
            {
                "method": {"type": "string"},
                "statistic": {"type": "string"},
                "weights": {"type": "object", "additionalProperties": NUMBER},
                "results": {"type": "array", "items": overall_result},
            }
        ),
        "History": _object(
            {
                "metric": metric,
                "statistic": {"type": "string"},
                "window": {"type": "string"},
                "series": {
                    "type": "array",
                    "items": _object(
                        {
                            "llm": {"type": "string"},
                            "points": {
                                "type": "array",
                                "items": _object(
                                    {
                                        "run_id": {"type": "integer"},
                                        "finished_at": {"type": "string", "format": "date-time"},
                                        "value": NUMBER,
                                    }
                                ),
                            },
                        }
                    ),
                },
            }
        ),
    }
