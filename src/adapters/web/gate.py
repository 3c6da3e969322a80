"""What runs before every view, in this order: the rate limit, the API key, the cached answer.

One hook, and at most one Redis round trip for both the rate-limit counters and the cache lookup,
none when this process holds a lease of the counts and a near copy of the answer: on a cached
answer, every round trip and every hook is a sizeable share of the cost. A missing answer
is computed by one request at a time per process (Computations); the others wait and read it.
"""

from __future__ import annotations

from flask import Flask, Response, g, request

from src.adapters.cache.flask_cache import CacheLookup, FlaskCache
from src.adapters.web.auth import VerifiedKeys, presented_api_key
from src.adapters.web.limits import (
    RateLimiter,
    RateLimits,
    Window,
    api_key_identity,
    login_account_identity,
    remote_address,
)
from src.adapters.web.response_cache import (
    Computations,
    cache_key,
    cached_response,
    finish_computation,
    keep_in_cache,
)
from src.application.domain.errors import Unauthorized

LOGIN_ENDPOINT = "accounts.log_in"
REGISTER_ENDPOINT = "accounts.register"


def install_gate(
    app: Flask,
    limits: RateLimits,
    cache: FlaskCache,
    verified_keys: VerifiedKeys,
    api: set[str],
) -> None:
    """`api`: the blueprints that take API keys (and their rate limit). Views marked `cached_by`
    have their GET answers cached."""
    limiter = RateLimiter()
    computations = Computations()

    def admit(windows: list[Window], key: str | None = None) -> CacheLookup:
        """Counts the request in its rate-limit windows (raises RateLimited past one) and looks
        up `key`, in one round trip at most."""
        unleased = limiter.spend_leases(windows)
        lookup = cache.lookup(key, [window.counter for window in unleased])
        limiter.enforce(unleased, lookup.counts)
        return lookup

    def authenticate(presented: str | None) -> None:
        """Raises Unauthorized (401) for a missing, unknown or revoked key. Past the limit of
        unknown keys from one address, its keys not valid lately are refused (429) without a
        database query: guessing keys costs the database nothing, and keys in use still work."""
        g.caller = verified_keys.remembered(presented)
        if g.caller is not None:
            return
        failures = limiter.windows(limits.invalid_keys_per_address, "invalid-keys:" + remote_address())
        if not verified_keys.valid_lately(presented):
            limiter.refuse_refused(failures)
        try:
            g.caller = verified_keys.caller(presented)
        except Unauthorized:
            if presented:
                admit(failures)  # raises RateLimited (429) past the limit
            raise

    def check() -> Response | None:
        in_api = request.blueprint in api
        key = cache_key()
        if in_api or key is not None:
            windows = limiter.windows(limits.api, api_key_identity()) if in_api else []
            lookup = admit(windows, key)
            if in_api:
                authenticate(presented_api_key())
            if key is None:
                return None
            response = cached_response(key, lookup)
            if response is None and computations.waited_for_another(key):
                response = cached_response(key, cache.lookup(key))  # usually there now
            return response
        if request.endpoint == LOGIN_ENDPOINT and request.method == "POST":
            admit(
                [
                    *limiter.windows(limits.login_per_account, login_account_identity()),
                    *limiter.windows(limits.login_per_address, "address:" + remote_address()),
                ]
            )
        if request.endpoint == REGISTER_ENDPOINT and request.method == "POST":
            admit(limiter.windows(limits.register_per_address, "register:" + remote_address()))
        return None

    app.before_request(check)
    app.after_request(keep_in_cache)
    app.teardown_request(lambda _error: finish_computation())
