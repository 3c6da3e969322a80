"""Rate limits (Flask-Limiter): per API key on the API, per account and per address on log-in.

Counters live in Redis, so every gunicorn worker and replica shares them; without Redis (the
embedded default), and while Redis is down, they fall back to each process's memory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import Blueprint, Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from src.adapters.web.auth import presented_api_key

LOGIN_ENDPOINT = "accounts.log_in"


@dataclass(frozen=True)
class RateLimits:
    storage_uri: str  # redis://... or memory://
    key_prefix: str
    api: str  # per API key, e.g. "600/minute"
    login_per_account: str
    login_per_address: str


def install_limits(app: Flask, limits: RateLimits, api: list[Blueprint], accounts: Blueprint) -> Limiter:
    """A limiter of the app's own: limits are registered on it, so two apps never share them."""
    app.config["RATELIMIT_STORAGE_OPTIONS"] = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    limiter = Limiter(
        key_func=get_remote_address,
        app=app,
        storage_uri=limits.storage_uri,
        key_prefix=limits.key_prefix + "limits",
        # No X-RateLimit-* headers: they cost two more Redis round trips a request. A 429 still
        # carries Retry-After (errors.py).
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=True,
    )
    for blueprint in api:
        limiter.limit(limits.api, key_func=api_key_identity)(blueprint)
    # Blueprint limits are checked once per request (a decorator on an injected view counts twice).
    not_a_login = lambda: request.endpoint != LOGIN_ENDPOINT  # noqa: E731
    for rate, key_func in ((limits.login_per_account, login_account_identity), (limits.login_per_address, None)):
        limiter.limit(rate, key_func=key_func, methods=["POST"], exempt_when=not_a_login)(accounts)
    return limiter


def api_key_identity() -> str:
    """One bucket per presented key (its hash: keys never reach Redis in clear), else per address."""
    key = presented_api_key()
    if key:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    return "address:" + get_remote_address()


def login_account_identity() -> str:
    email = str(request.form.get("email", "")).strip().lower()
    return "login:" + hashlib.sha256(email.encode()).hexdigest()[:32]
