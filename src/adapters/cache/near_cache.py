"""Cached answers kept in each process, beside Redis, so that serving one takes no round trip.

On this 2-core machine a Redis round trip cost a cached answer a third of its throughput (the
blocking wait and what it does to the process, far more than Redis's own work). A process may
serve its own copy only while it knows the current data version: a thread subscribed to the bumps
keeps it (VersionWatch). A copy is never trusted past NEAR_SECONDS, nor while a bump may be
unread: the watch's socket is polled, without blocking, before each use.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)

NEAR_SECONDS = 5.0  # a copy's life, whatever the watch says: bounds any surprise
MAX_ENTRIES = 512
RECONNECT_SECONDS = 1.0


class VersionWatch:
    """The data version as Redis announces it on `channel` (each bump publishes the new one)."""

    def __init__(self, client: redis.Redis, channel: str, on_change: Callable[[], None]):
        self._client = _without_retries(client)  # redis-py would resubscribe unseen, bumps lost meanwhile
        self._channel = channel
        self._version: int | None = None  # None: not listening, so not known
        self._socket: Any = None
        self._reading = False
        self._outage_logged = False
        self._owner_pid = 0
        self._starting = threading.Lock()
        self._on_change = on_change

    def current(self) -> int | None:
        """The current version, or None when an announcement may be unread or missed."""
        if self._owner_pid != os.getpid():  # first use in this process (gunicorn forks)
            self._start()
            return None
        sock = self._socket
        # In this order: an announcement is unread while on the socket, then while being read.
        if sock is None or _readable(sock) or self._reading:
            return None
        return self._version

    def _start(self) -> None:
        with self._starting:
            if self._owner_pid != os.getpid():
                self._owner_pid = os.getpid()
                self._version, self._socket = None, None  # a parent's are not this process's
                listen = VersionWatch._listen
                threading.Thread(target=listen, args=(weakref.ref(self),), daemon=True, name="version-watch").start()

    def saw(self, version: int) -> None:
        """A version learnt otherwise: this process's own bump, or read from Redis."""
        if self._version is not None and version > self._version:
            self._set(version)

    def _set(self, version: int | None) -> None:
        self._version = version
        self._on_change()

    def _subscribe(self) -> Any:
        pubsub = self._client.pubsub()
        pubsub.subscribe(self._channel)
        if pubsub.get_message(timeout=RECONNECT_SECONDS) is None:
            raise TimeoutError("no subscription confirmed")
        # Subscribed: no bump is missed from here, so the version read now stays true until one.
        self._set(int(self._client.get(self._channel) or 0))
        self._socket = pubsub.connection._sock  # polled by requests, never read: redis-py reads it
        log.info("data version watch subscribed at version %s", self._version)
        self._outage_logged = False
        return pubsub

    def _read(self, pubsub: Any) -> None:
        self._reading = True
        try:
            while (message := pubsub.get_message(timeout=0.0)) is not None:
                if message["type"] == "message":
                    self._set(max(self._version or 0, int(message["data"])))
        finally:
            self._reading = False

    def _lost(self, error: Exception) -> None:
        level = logging.DEBUG if self._outage_logged else logging.WARNING  # once an outage
        log.log(level, "data version watch lost, cached copies in this process unused: %s", error)
        self._outage_logged = True
        self._socket = None
        self._set(None)

    @staticmethod
    def _listen(watch_ref: weakref.ref[VersionWatch]) -> None:
        """The watch's thread. It holds its watch only while reading, so it ends once the watch is
        garbage (tests make many apps)."""
        pubsub = None
        while (watch := watch_ref()) is not None:
            try:
                if pubsub is None:
                    pubsub = watch._subscribe()
                sock = watch._socket
                del watch
                if _readable(sock, timeout=RECONNECT_SECONDS) and (watch := watch_ref()) is not None:
                    watch._read(pubsub)
            except (redis.RedisError, OSError, ValueError) as error:
                if (watch := watch_ref()) is not None:
                    watch._lost(error)
                if pubsub is not None:
                    pubsub.close()
                pubsub = None
                time.sleep(RECONNECT_SECONDS)
        if pubsub is not None:
            pubsub.close()


def _without_retries(client: redis.Redis) -> redis.Redis:
    pool = client.connection_pool
    kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def _readable(sock: Any, timeout: float = 0.0) -> bool:
    """Data or a hang-up waiting on `sock` (or a socket closed meanwhile)."""
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)  # POLLERR and POLLHUP are always reported
    except (ValueError, OSError):
        return True
    return bool(poller.poll(timeout * 1000))


class NearCache:
    """This process's copies of cached answers, each under the data version it was computed for."""

    def __init__(self, client: redis.Redis, channel: str):
        """`channel`: where the data version's bumps are announced (the version's own key)."""
        self._entries: OrderedDict[str, tuple[int, Any, float]] = OrderedDict()  # key: (version, value, expiry)
        self._lock = threading.Lock()
        self.watch = VersionWatch(client, channel, on_change=self.clear)

    def get(self, key: str) -> tuple[int, Any] | None:
        """(version, value) of a copy of `key` that is current, or None."""
        entry = self._entries.get(key)
        if entry is None or entry[2] < time.monotonic():
            return None
        version = self.watch.current()
        return (version, entry[1]) if entry[0] == version else None

    def keep(self, key: str, version: int, value: Any) -> None:
        with self._lock:
            self._entries[key] = (version, value, time.monotonic() + NEAR_SECONDS)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
