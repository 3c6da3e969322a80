"""Whole responses cached per URL and data version, served before any view work is done."""

from __future__ import annotations

from flask import Response, current_app, g, request

from src.adapters.cache.flask_cache import CacheLookup, FlaskCache
from src.adapters.telemetry.prometheus import CACHE_LOOKUPS

CACHED_HEADERS = ("Content-Disposition",)


def wants_csv() -> bool:
    if request.args.get("format"):
        return request.args.get("format") == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def cache_key() -> str:
    query = "&".join(f"{k}={v}" for k, v in sorted(request.args.items(multi=True)))
    return f"response:{request.path}?{query}:{'csv' if wants_csv() else 'json'}"


def cached_response(lookup: CacheLookup) -> Response | None:
    """The cached answer to this request, if current; otherwise remember the data version, so
    that the answer computed now is kept under it."""
    g.cache_version = lookup.version
    CACHE_LOOKUPS.labels(result="miss" if lookup.value is None else "hit").inc()
    if lookup.value is None:
        return None
    body, mimetype, headers = lookup.value
    response = Response(body, mimetype=mimetype, headers=headers)
    response.headers["X-Cache"] = "hit"
    return response


def keep_in_cache(response: Response) -> Response:
    """An after_request hook: keeps a computed 200 for the requests that looked it up."""
    cacheable = response.status_code == 200 and "Set-Cookie" not in response.headers
    if "cache_version" in g and cacheable and "X-Cache" not in response.headers:
        headers = {name: response.headers[name] for name in CACHED_HEADERS if name in response.headers}
        timeout = current_app.extensions["settings"].cache_timeout
        cache: FlaskCache = current_app.extensions["response_cache"]
        cache.store(cache_key(), g.cache_version, (response.get_data(), response.mimetype, headers), timeout)
        response.headers["X-Cache"] = "miss"
    return response
