"""Whole answers cached under the data version, served before any view work is done.

The data version comes from the database (RankingUseCases.data_version: it changes when a run
finishes). Each process reads it at most once every VERSION_SECONDS, and at once after
it changed the data itself: a run completed elsewhere shows within that bound. While the database
cannot be read, the last version read stays in use (no run can finish meanwhile).

An answer's key holds the version, so an entry never goes stale and nothing is ever invalidated:
Redis keeps entries for every process, and each process keeps copies of those it served lately
(NEAR_ENTRIES), so a cached answer usually costs no round trip. HTTP clients get an ETag made
of the key: sent back in If-None-Match, it answers 304 until the version changes.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from cachelib import SimpleCache
from flask import Response, current_app, g, request
from flask_caching import Cache
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError

from src.adapters.cache.outage import Outage
from src.adapters.telemetry.prometheus import CACHE_LOOKUPS
from src.application.ports.cache import AbstractCache

log = logging.getLogger(__name__)
View = TypeVar("View", bound=Callable[..., Any])
VERSION_SECONDS = 1.0  # how stale the data version of a process may be
NEAR_ENTRIES = 500
CACHED_HEADERS = ("Content-Disposition",)


def cached_by(query: type[BaseModel] | None = None) -> Callable[[View], View]:
    """Marks a GET view whose whole answer is cached, keyed by the parameters of its query model:
    the only ones it reads. Others are left out of the key (the view ignores them too), so they
    can neither make new entries nor reach another request's entry."""

    def mark(view: View) -> View:
        view.cache_parameters = tuple(query.model_fields) if query else ()  # type: ignore[attr-defined]
        return view

    return mark


def wants_csv() -> bool:
    if request.args.get("format"):
        return request.args.get("format") == "csv"
    return request.accept_mimetypes.best_match(["application/json", "text/csv"]) == "text/csv"


class DataVersion:
    """The data version as this process last read it; one thread reads it again when due."""

    def __init__(self, read: Callable[[], str]):
        self._read = read
        self._value: str | None = None
        self._due = 0.0
        self._reading = threading.Lock()

    def current(self) -> str | None:
        if time.monotonic() >= self._due and self._reading.acquire(blocking=False):
            try:
                self._value = self._read()
            except (OperationalError, InterfaceError) as error:
                log.warning("data version unreadable, keeping %s: %s", self._value, type(error).__name__)
            finally:
                self._due = time.monotonic() + VERSION_SECONDS
                self._reading.release()
        return self._value

    def changed(self) -> None:
        self._due = 0.0


class ResponseCache(AbstractCache):
    """Over Flask-Caching (Redis, or process memory by default), fail-open: while the backend is
    down, reads answer "absent" and writes are dropped."""

    def __init__(self, shared: Cache, version: DataVersion, timeout: int, near_copies: bool):
        self.shared, self.version, self.timeout = shared, version, timeout
        self.near = SimpleCache(threshold=NEAR_ENTRIES, default_timeout=timeout) if near_copies else None
        self.outage = Outage("cache")

    def data_changed(self) -> None:
        self.version.changed()

    def ping(self) -> None:
        self.shared.set("ping", 1, timeout=5)  # raises when the backend is down: readiness shows it

    def key(self) -> str | None:
        """The key of this request's answer; None when its view is not cached or the version
        is unknown. The first value of each parameter the view reads, URL-encoded: "&" and "="
        inside a value cannot pose as another parameter."""
        view = current_app.view_functions.get(request.endpoint or "")
        parameters = getattr(view, "cache_parameters", None)
        if parameters is None or request.method != "GET":
            return None
        version = self.version.current()
        if version is None:
            return None
        query = urlencode([(name, request.args[name]) for name in sorted(parameters) if name in request.args])
        return f"response:{version}:{request.path}?{query}:{'csv' if wants_csv() else 'json'}"

    def get(self, key: str) -> Any | None:
        value = self.near.get(key) if self.near else None
        if value is None:
            value = self.outage.call(lambda: self.shared.get(key), lambda: None)
            if value is not None and self.near:
                self.near.set(key, value)
        CACHE_LOOKUPS.labels(result="miss" if value is None else "hit").inc()
        return value

    def set(self, key: str, value: Any) -> None:
        if self.near:
            self.near.set(key, value)
        self.outage.call(lambda: self.shared.set(key, value, timeout=self.timeout), lambda: None)


def cached_response(answers: ResponseCache) -> Response | None:
    """This request's cached answer, if any; otherwise remember its key, for keep_in_cache."""
    key = answers.key()
    if key is None:
        return None
    value = answers.get(key)
    if value is None:
        g.cache_key = key
        return None
    body, mimetype, headers = value
    response = Response(body, mimetype=mimetype, headers=headers)
    response.headers["X-Cache"] = "hit"
    return conditional(response, key)


def keep_in_cache(answers: ResponseCache, response: Response) -> Response:
    """For an after_request hook: keeps a computed 200 under the key its request looked up."""
    key = g.pop("cache_key", None)
    if key is not None and response.status_code == 200 and "Set-Cookie" not in response.headers:
        headers = {name: response.headers[name] for name in CACHED_HEADERS if name in response.headers}
        answers.set(key, (response.get_data(), response.mimetype, headers))
        response.headers["X-Cache"] = "miss"
        return conditional(response, key)
    return response


def conditional(response: Response, key: str) -> Response:
    """HTTP caching of an answer: clients revalidate every time (answers change when a run
    completes), and one that holds the current answer gets a 304 without a body."""
    etag = hashlib.blake2b(key.encode(), digest_size=12).hexdigest()
    if etag in request.if_none_match:
        response = Response(status=304)
    response.headers["Cache-Control"] = "private, no-cache"  # keyed answers: never in shared caches
    response.headers["Vary"] = "Accept"  # CSV or JSON
    response.set_etag(etag)
    return response
