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


def install(app: Flask) -> None:
    app.config["SEND_FILE_MAX_AGE_DEFAULT"] = ONE_YEAR  # safe: asset URLs carry their content hash
    app.jinja_env.globals["asset_url"] = asset_url
    app.after_request(_secure)


def _secure(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def asset_url(filename: str) -> str:
    return url_for("static", filename=filename, v=_content_hash(current_app.static_folder or "", filename))


@cache
def _content_hash(folder: str, filename: str) -> str:
    return hashlib.sha256((Path(folder) / filename).read_bytes()).hexdigest()[:12]
