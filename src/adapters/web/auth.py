"""API authentication: the `api-key` header (as the original service) or `Authorization: Bearer`."""

from __future__ import annotations

from flask import current_app, request

from src.application.use_cases.accounts import AccountUseCases


def presented_api_key() -> str | None:
    key = request.headers.get("api-key")
    if key:
        return key.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials else None


def require_api_key() -> None:
    """A before_request hook: raises Unauthorized, which the error table answers with 401."""
    current_app.extensions["injector"].get(AccountUseCases).authenticate(presented_api_key())
