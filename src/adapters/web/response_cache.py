"""Whole answers cached under the data version, served before any view work is done.

The data version is derived from the database (it changes when a run completes). Each process
reads it at most once every VERSION_SECONDS, and at once after changing the data itself; while the
database cannot be read, the last version read stays in use. Keys hold the version, so entries
never go stale: Redis keeps them for every process, and each process keeps copies of those it
served lately (a round trip a request would cost a quarter of a cached answer's rate). Clients get
an ETag made of the key: sent back in If-None-Match, it answers 304 until the version changes.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any, TypeVar
from urllib.parse import urlencode

from cachelib import SimpleCache
from flask import Response, current_app, g, request
from flask_caching import Cache
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError

from src.adapters.cache.outage import Outage
from src.adapters.telemetry.prometheus import CACHE_LOOKUPS
from src.adapters.web.models import misspelt
from src.application.ports.cache import AbstractCache

View = TypeVar("View", bound=Callable[..., Any])
VERSION_SECONDS = 1.0  # how stale the data version of a process may be
NEAR_ENTRIES = 500
CACHED_HEADERS = ("Content-Disposition",)


def cached_by(query: type[BaseModel] | None = None) -> Callable[[View], View]:
    """Marks a GET view whose whole answer is cached, keyed by the parameters of its query model:
    the only ones it reads. Others can neither make new entries nor reach another request's."""

    def mark(view: View) -> View:
        view.cache_parameters = tuple(query.model_fields) if query else ()  # type: ignore[attr-defined]
        return view

    return mark


def wants_csv() -> bool:
    if request.args.get("format"):
        return request.args.get("format") == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


class DataVersion:
    def __init__(self, read: Callable[[], str]):
        self.read, self.value, self.due = read, None, 0.0

    def current(self) -> str | None:
        if time.monotonic() >= self.due:
            self.due = time.monotonic() + VERSION_SECONDS  # set first: other threads keep the value meanwhile
            with suppress(OperationalError, InterfaceError):
                self.value = self.read()
        return self.value

    def changed(self) -> None:
        self.due = 0.0


class ResponseCache(AbstractCache):
    """Over Flask-Caching (Redis, or process memory), fail-open: while the backend is down, reads
    find nothing and writes are dropped."""

    def __init__(self, shared: Cache, version: DataVersion, timeout: int, near_copies: bool):
        self.shared, self.version, self.timeout = shared, version, timeout
        self.near = SimpleCache(threshold=NEAR_ENTRIES, default_timeout=timeout) if near_copies else None
        self.outage = Outage("cache")

    def data_changed(self) -> None:
        self.version.changed()

    def ping(self) -> None:
        self.shared.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def cached_response(self) -> Response | None:
        """This request's cached answer, if any; otherwise its key is kept for `keep`."""
        key = self._key()
        value = None if key is None else self._get(key)
        if value is None:
            g.cache_key = key
            return None
        body, mimetype, headers = value
        return conditional(Response(body, mimetype=mimetype, headers={**headers, "X-Cache": "hit"}), key)

    def _key(self) -> str | None:
        """None for views not cached; else the first value of each parameter the view reads,
        URL-encoded: "&" and "=" inside a value cannot pose as another parameter."""
        parameters = getattr(current_app.view_functions.get(request.endpoint or ""), "cache_parameters", None)
        version = self.version.current() if parameters is not None and request.method == "GET" else None
        if version is None or misspelt(request.args, parameters):  # the view refuses it
            return None
        query = urlencode([(name, request.args[name]) for name in sorted(parameters) if name in request.args])
        return f"response:{version}:{request.path}?{query}:{'csv' if wants_csv() else 'json'}"

    def _get(self, key: str) -> Any | None:
        value = self.near.get(key) if self.near else None
        if value is None:
            value = self.outage.call(lambda: self.shared.get(key), lambda: None)
            if value is not None and self.near:
                self.near.set(key, value)
        CACHE_LOOKUPS.labels(result="miss" if value is None else "hit").inc()
        return value

    def keep(self, response: Response) -> Response:
        """For an after_request hook: keeps a computed 200 under the key its request looked up."""
        key = g.pop("cache_key", None)
        if key is None or response.status_code != 200 or "Set-Cookie" in response.headers:
            return response
        headers = {name: response.headers[name] for name in CACHED_HEADERS if name in response.headers}
        value = (response.get_data(), response.mimetype, headers)
        if self.near:
            self.near.set(key, value)
        self.outage.call(lambda: self.shared.set(key, value, timeout=self.timeout), lambda: None)
        response.headers["X-Cache"] = "miss"
        return conditional(response, key)


def conditional(response: Response, key: str) -> Response:
    """Clients revalidate every time (answers change when a run completes); one that holds the
    current answer gets a 304 without a body."""
    response.headers["Cache-Control"] = "private, no-cache"  # keyed answers: never in shared caches
    response.headers["Vary"] = "Accept"  # CSV or JSON
    response.set_etag(hashlib.blake2b(key.encode(), digest_size=12).hexdigest())
    return response.make_conditional(request)
