"""Rate limits, by Flask-Limiter: per API key on the API, per address on unknown API keys, per
account and per address on log-in, per address on registration.

Fixed windows, counted in Redis and so shared by every worker and replica; without Redis (the
embedded default) and while it is down, each process counts in its own memory. A refusal is a
429 in the error envelope, with Retry-After.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from flask import Blueprint, Flask, request
from flask_limiter import Limiter

from src.adapters.web.auth import VerifiedKeys, presented_api_key
from src.application.use_cases.accounts import hash_key

LOGIN_ENDPOINT = "accounts.log_in"
REGISTER_ENDPOINT = "accounts.register"


@dataclass(frozen=True)
class RateLimits:
    """Rates of the `limits` library, such as "600/minute"."""

    api: str  # per API key
    invalid_keys_per_address: str
    login_per_account: str  # per account and address: a stranger cannot lock the owner out
    login_per_address: str
    register_per_address: str


def install_limits(
    app: Flask,
    rates: RateLimits,
    redis_url: str | None,
    key_prefix: str,
    verified_keys: VerifiedKeys,
    api: list[Blueprint],
    accounts: Blueprint,
) -> None:
    """Before any other hook: a refused request costs no key check and no cache lookup."""
    limiter = Limiter(
        key_func=remote_address,
        app=app,
        storage_uri=redis_url or "memory://",
        storage_options=(
            {"key_prefix": key_prefix + "limits", "socket_timeout": 0.5, "socket_connect_timeout": 0.5}
            if redis_url
            else {}
        ),
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
    )
    for blueprint in api:
        # One allowance per key across the API, not one per endpoint.
        limiter.shared_limit(rates.api, scope="api", key_func=api_key_identity)(blueprint)
        # Guessing keys: past the limit an address's keys are refused without a database query,
        # but for keys this process verified lately, which keep working.
        limiter.shared_limit(
            rates.invalid_keys_per_address,
            scope="invalid-keys",
            deduct_when=lambda response: response.status_code == 401,
            exempt_when=lambda: verified_keys.valid_lately(presented_api_key()),
            override_defaults=False,
        )(blueprint)
    limiter.limit(rates.login_per_account, key_func=login_account_identity, methods=["POST"],
                  exempt_when=lambda: request.endpoint != LOGIN_ENDPOINT)(accounts)  # fmt: skip
    limiter.limit(rates.login_per_address, methods=["POST"],
                  exempt_when=lambda: request.endpoint != LOGIN_ENDPOINT)(accounts)  # fmt: skip
    limiter.limit(rates.register_per_address, methods=["POST"],
                  exempt_when=lambda: request.endpoint != REGISTER_ENDPOINT)(accounts)  # fmt: skip
    app.extensions["rate_limiter"] = limiter


def retry_after(limiter: Limiter) -> int:
    """Seconds until the breached window starts over."""
    breached = limiter.current_limit
    return max(1, math.ceil(breached.window.reset_time - time.time())) if breached else 1


def api_key_identity() -> str:
    """One bucket per presented key (its hash: keys never reach Redis in clear), else per address."""
    key = presented_api_key()
    if key:
        return "key:" + hash_key(key)[:32]
    return "address:" + remote_address()


def login_account_identity() -> str:
    """The account asked for, from this address: wrong passwords sent from elsewhere leave the
    owner's own attempts alone."""
    email = str(request.form.get("email", "")).strip().lower()
    return "login:" + hashlib.sha256(f"{email} {remote_address()}".encode()).hexdigest()[:32]


def remote_address() -> str:
    return request.remote_addr or "127.0.0.1"
