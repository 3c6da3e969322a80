"""What runs before every view, in this order: the API key, the cached answer, the rate limits.
A request without a valid key never reaches the cache. Only work is rate limited: a cached
answer costs less than counting it in Redis would, so refusing it would spare nothing."""

from __future__ import annotations

from flask import Flask, Response, g, request

from src.adapters.web.auth import VerifiedKeys, presented_api_key
from src.adapters.web.limits import RateLimiter, RateLimits
from src.adapters.web.response_cache import ResponseCache
from src.application.domain.errors import Unauthorized
from src.application.use_cases.accounts import hash_key


def install_gate(
    app: Flask, limits: RateLimits, limiter: RateLimiter, answers: ResponseCache, keys: VerifiedKeys, api: set[str]
) -> None:
    """`api`: the blueprints that take API keys (and their rate limit)."""

    def authenticate(presented: str | None, address: str) -> None:
        """Past the limit of unknown keys from an address, its keys not found valid lately are
        refused (429) without a database query: guessing keys costs the database nothing."""
        if not keys.valid_lately(presented):
            limiter.hit(limits.invalid_keys_per_address, "invalid-keys", address, count=False)
        try:
            g.caller = keys.caller(presented)
        except Unauthorized:
            if presented:
                limiter.hit(limits.invalid_keys_per_address, "invalid-keys", address)
            raise

    def check() -> Response | None:
        address = request.remote_addr or "127.0.0.1"
        if request.blueprint in api:
            authenticate(presented_api_key(), address)
            cached = answers.cached_response()
            if cached is None:
                limiter.hit(limits.api, "api", g.caller.identity)  # "key:<id>": keys never reach Redis
            return cached
        if request.method == "POST" and request.endpoint == "accounts.log_in":
            # The account asked for, from this address: a stranger's wrong passwords leave the owner's alone.
            email = str(request.form.get("email", "")).strip().lower()
            limiter.hit(limits.login_per_account, "login", "login:" + hash_key(f"{email} {address}")[:32])
            limiter.hit(limits.login_per_address, "login", address)
        elif request.method == "POST" and request.endpoint == "accounts.register":
            limiter.hit(limits.register_per_address, "register", address)
        return answers.cached_response()

    app.before_request(check)
    app.after_request(answers.keep)
