"""A deadline on each database call a web request makes, for a database that stops answering.

A server that is down refuses connections, and libpq's connect_timeout ends a connection attempt
that gets no answer. But a server (or a proxy in front of it) that hangs with connections open
keeps every query waiting for ever: its kernel still acknowledges what is sent, so neither TCP
keepalives nor tcp_user_timeout notice, and statement_timeout needs a server that runs. libpq waits
for the socket without a time limit, so the watch here shuts the socket down (the file descriptor
stays libpq's): the query fails at once with a lost connection, SQLAlchemy drops that connection
from its pool, the request answers 503, and the next request connects afresh.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event, exc

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 0.25


class QueryDeadline:
    """Watches the calls of one engine: those that `applies()` (a web request, say) may wait
    `seconds` at most. Workers and migrations are left to statement_timeout."""

    def __init__(self, engine: Engine, seconds: float, applies: Callable[[], bool]):
        self.seconds = seconds
        self.applies = applies
        self._lock = threading.Lock()
        self._running: dict[int, tuple[float, int]] = {}  # id(dbapi connection): (deadline, fileno)
        self._watch: threading.Thread | None = None
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)
        event.listen(engine, "handle_error", self._after_error)
        event.listen(engine.pool, "checkout", self._ping)

    def _ping(self, dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        """Pessimistic disconnect handling (SQLAlchemy's documented checkout recipe), under the
        deadline: a connection that does not answer is replaced by a fresh one."""
        try:
            with self._watched(dbapi_connection):
                cursor = dbapi_connection.cursor()
                cursor.execute("SELECT 1")
                cursor.close()
        except Exception as error:
            raise exc.DisconnectionError(f"the pooled connection did not answer: {error}") from error

    def _before(self, connection: Any, *_: Any) -> None:
        if self.applies():
            self._start(connection.connection.dbapi_connection)

    def _after(self, connection: Any, *_: Any) -> None:
        self._end(connection.connection.dbapi_connection)

    def _after_error(self, context: Any) -> None:
        if context.connection is not None and not context.connection.invalidated:
            self._end(context.connection.connection.dbapi_connection)

    @contextlib.contextmanager
    def _watched(self, dbapi_connection: Any) -> Any:
        watched = self.applies()
        if watched:
            self._start(dbapi_connection)
        try:
            yield
        finally:
            if watched:
                self._end(dbapi_connection)

    def _start(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._running[id(dbapi_connection)] = (time.monotonic() + self.seconds, dbapi_connection.fileno())
            if self._watch is None or not self._watch.is_alive():
                self._watch = threading.Thread(target=self._run, name="query-deadline", daemon=True)
                self._watch.start()

    def _end(self, dbapi_connection: Any) -> None:
        with self._lock:
            self._running.pop(id(dbapi_connection), None)

    def _run(self) -> None:
        while True:
            time.sleep(CHECK_EVERY_SECONDS)
            now = time.monotonic()
            with self._lock:  # held while shutting down: a call cannot end (and close) meanwhile
                late = [(key, fileno) for key, (deadline, fileno) in self._running.items() if deadline < now]
                for key, fileno in late:
                    del self._running[key]
                    log.error("a database call passed its %.1f s deadline: dropping its connection", self.seconds)
                    _shut_down(fileno)


def _shut_down(fileno: int) -> None:
    # On a duplicate of the descriptor: the socket ends for libpq too, while the descriptor libpq
    # owns stays open until libpq closes it.
    with contextlib.suppress(OSError), socket.socket(fileno=os.dup(fileno)) as sock:
        sock.shutdown(socket.SHUT_RDWR)
