"""What runs before every view, in this order: the rate limits, the API key, the cached answer.
A refused request costs no key check; a request without a valid key never reaches the cache."""

from __future__ import annotations

from flask import Flask, Response, g, request

from src.adapters.web.auth import VerifiedKeys, presented_api_key
from src.adapters.web.limits import RateLimiter, RateLimits, api_key_identity, login_account_identity, remote_address
from src.adapters.web.response_cache import ResponseCache, cached_response, keep_in_cache
from src.application.domain.errors import Unauthorized

LOGIN_ENDPOINT = "accounts.log_in"
REGISTER_ENDPOINT = "accounts.register"


def install_gate(
    app: Flask, limits: RateLimits, limiter: RateLimiter, answers: ResponseCache, keys: VerifiedKeys, api: set[str]
) -> None:
    """`api`: the blueprints that take API keys (and their rate limit). Views marked `cached_by`
    have their GET answers cached."""

    def authenticate() -> None:
        """Past the limit of unknown keys from one address, its keys not found valid lately are
        refused (429) without a database query: guessing keys costs the database nothing."""
        presented = presented_api_key()
        if not keys.valid_lately(presented):
            limiter.test(limits.invalid_keys_per_address, "invalid-keys", remote_address())
        try:
            g.caller = keys.caller(presented)
        except Unauthorized:
            if presented:
                limiter.hit(limits.invalid_keys_per_address, "invalid-keys", remote_address())
            raise

    def check() -> Response | None:
        if request.blueprint in api:
            limiter.hit(limits.api, "api", api_key_identity())
            authenticate()
        elif request.method == "POST" and request.endpoint == LOGIN_ENDPOINT:
            limiter.hit(limits.login_per_account, "login", login_account_identity())
            limiter.hit(limits.login_per_address, "login", remote_address())
        elif request.method == "POST" and request.endpoint == REGISTER_ENDPOINT:
            limiter.hit(limits.register_per_address, "register", remote_address())
        return cached_response(answers)

    app.before_request(check)
    app.after_request(lambda response: keep_in_cache(answers, response))
