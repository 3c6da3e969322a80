"""What runs before every view, after the rate limits (limits.py): the API key, then the cached
answer. A request without a valid key never reaches the cache."""

from __future__ import annotations

from flask import Flask, Response, g, request

from src.adapters.web.auth import VerifiedKeys, presented_api_key
from src.adapters.web.response_cache import ResponseCache, cached_response, keep_in_cache


def install_gate(app: Flask, answers: ResponseCache, verified_keys: VerifiedKeys, api: set[str]) -> None:
    """`api`: the blueprints that take API keys. Views marked `cached_by` have their GET
    answers cached."""

    def check() -> Response | None:
        if request.blueprint in api:
            g.caller = verified_keys.caller(presented_api_key())  # raises Unauthorized (401)
        return cached_response(answers)

    app.before_request(check)
    app.after_request(keep_in_cache)
