"""Whole responses cached per URL and data version, served before any view work is done."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from flask import Response, current_app, g, request
from pydantic import BaseModel

from src.adapters.cache.flask_cache import CacheLookup, FlaskCache
from src.adapters.telemetry.prometheus import CACHE_LOOKUPS

CACHED_HEADERS = ("Content-Disposition",)
View = TypeVar("View", bound=Callable[..., Any])
WAIT_SECONDS = 10.0  # for another request's computation of the same answer, then compute it too


def wants_csv() -> bool:
    if request.args.get("format"):
        return request.args.get("format") == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


def cached_by(query: type[BaseModel] | None = None) -> Callable[[View], View]:
    """Marks a GET view whose whole answer is cached, keyed by the parameters of its query model:
    the only ones it reads. Others are left out of the key (the view ignores them too), so they
    can neither make new entries nor reach another request's entry."""

    def mark(view: View) -> View:
        view.cache_parameters = tuple(query.model_fields) if query else ()  # type: ignore[attr-defined]
        return view

    return mark


def cache_key() -> str | None:
    """The key of this request's cached answer; None when its view is not cached."""
    view = current_app.view_functions.get(request.endpoint or "")
    parameters = getattr(view, "cache_parameters", None)
    if parameters is None or request.method != "GET":
        return None
    # The first value of each, as the view reads it; urlencode escapes "&" and "=" inside values.
    query = urlencode([(name, request.args[name]) for name in sorted(parameters) if name in request.args])
    return f"response:{request.path}?{query}:{'csv' if wants_csv() else 'json'}"


def cached_response(key: str, lookup: CacheLookup) -> Response | None:
    """The cached answer to this request, if current; otherwise remember the data version, so
    that the answer computed now is kept under it."""
    g.cache_version = lookup.version
    g.cache_key = key
    CACHE_LOOKUPS.labels(result="miss" if lookup.value is None else "hit").inc()
    if lookup.value is None:
        return None
    body, mimetype, headers = lookup.value
    response = Response(body, mimetype=mimetype, headers=headers)
    response.headers["X-Cache"] = "hit"
    return conditional(response, key, lookup.version)


def conditional(response: Response, key: str, version: int) -> Response:
    """HTTP caching of an answer: clients revalidate every time (answers change when a run
    completes) and a client that holds the current answer gets a 304 without a body. The ETag is
    the data version and the key, so only when the cache knows the version (it is 0 before the
    first bump and while Redis is unreachable, when answers can change unseen)."""
    response.headers["Cache-Control"] = "private, no-cache"  # keyed answers: never in shared caches
    response.vary.add("Accept")  # CSV or JSON
    if version > 0:
        response.set_etag(f"{version}-{hashlib.blake2b(key.encode(), digest_size=8).hexdigest()}")
        response.make_conditional(request)
    return response


def keep_in_cache(response: Response) -> Response:
    """An after_request hook: keeps a computed 200 for the requests that looked it up."""
    cacheable = response.status_code == 200 and "Set-Cookie" not in response.headers
    if "cache_version" in g and cacheable and "X-Cache" not in response.headers:
        headers = {name: response.headers[name] for name in CACHED_HEADERS if name in response.headers}
        timeout = current_app.extensions["settings"].cache_timeout
        cache: FlaskCache = current_app.extensions["response_cache"]
        cache.store(g.cache_key, g.cache_version, (response.get_data(), response.mimetype, headers), timeout)
        response.headers["X-Cache"] = "miss"
        conditional(response, g.cache_key, g.cache_version)
    finish_computation()
    return response


class Computations:
    """One computation of a missing answer at a time per key in this process. Requests that miss
    the same answer meanwhile wait for it and read it from the cache: when a completed run makes
    every answer stale at once, a crowd of clients would otherwise compute each one many times."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._running: dict[str, threading.Event] = {}  # key: set when its computation ends

    def waited_for_another(self, key: str) -> bool:
        """True after waiting for another request's computation of `key`; False when this
        request is to compute it (until finish_computation())."""
        with self._guard:
            done = self._running.get(key)
            if done is None:
                self._running[key] = threading.Event()
                g.computing = (self, key)
                return False
        done.wait(WAIT_SECONDS)
        return True

    def finish(self, key: str) -> None:
        with self._guard:
            self._running.pop(key).set()


def finish_computation() -> None:
    """Wakes the requests waiting for this one's answer: once it is stored, or when the request
    ends without one (a teardown hook)."""
    computations, key = g.pop("computing", (None, ""))
    if computations is not None:
        computations.finish(key)
