"""Security headers on every response, and versioned URLs for long-cached static assets."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from flask import Flask, Response, current_app, url_for

# Scripts only from this service (pages embed figures as JSON data, not code). Plotly sets
# inline styles on the elements it draws, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'self'",
        "frame-ancestors 'none'",
        "form-action 'self'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
ONE_YEAR = 365 * 24 * 3600


HSTS = f"max-age={ONE_YEAR}; includeSubDomains"


def install(app: Flask, production: bool) -> None:
    """Production is served over HTTPS only (the ingress ends TLS): browsers are told to keep to it."""
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = ONE_YEAR  # safe: asset URLs carry their content hash
    app.jinja_env.globals["asset_url"] = asset_url
    headers = HEADERS | ({"Strict-Transport-Security": HSTS} if production else {})

    def secure(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    app.after_request(secure)


def asset_url(filename: str) -> str:
    return url_for("static", filename=filename, v=_content_hash(current_app.static_folder or "", filename))


@cache
def _content_hash(folder: str, filename: str) -> str:
    return hashlib.sha256((Path(folder) / filename).read_bytes()).hexdigest()[:12]
