"""Whole responses cached per URL and data version, served before any view work is done."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, request

from src.adapters.telemetry.prometheus import CACHE_LOOKUPS
from src.application.ports.cache import AbstractCache

CACHED_HEADERS = ("Content-Disposition",)


def cache_responses(blueprint: Blueprint) -> None:
    """Serve the blueprint's GET responses from the cache; register after authentication."""
    blueprint.before_request(_serve_from_cache)
    # A lambda has no annotations, so Flask-Injector leaves it unwrapped: no injection per request.
    blueprint.after_request(lambda response: _keep_in_cache(response))


def wants_csv() -> bool:
    if request.args.get("format"):
        return request.args.get("format") == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def _key() -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(request.args.items(multi=True)))
    return f"response:{request.path}?{query}:{'csv' if wants_csv() else 'json'}"


def _cache() -> AbstractCache:
    return current_app.extensions["response_cache"]  # type: ignore[no-any-return]


def _serve_from_cache() -> Response | None:
    if request.method != "GET":
        return None
    lookup = _cache().lookup(_key())
    g.cache_version = lookup.version
    CACHE_LOOKUPS.labels(result="miss" if lookup.value is None else "hit").inc()
    if lookup.value is None:
        return None
    body, mimetype, headers = lookup.value
    response = Response(body, mimetype=mimetype, headers=headers)
    response.headers["X-Cache"] = "hit"
    return response


def _keep_in_cache(response: Response) -> Response:
    cacheable = response.status_code == 200 and "Set-Cookie" not in response.headers
    if "cache_version" in g and cacheable and "X-Cache" not in response.headers:
        headers = {name: response.headers[name] for name in CACHED_HEADERS if name in response.headers}
        timeout = current_app.extensions["settings"].cache_timeout
        _cache().store(_key(), g.cache_version, (response.get_data(), response.mimetype, headers), timeout)
        response.headers["X-Cache"] = "miss"
    return response
