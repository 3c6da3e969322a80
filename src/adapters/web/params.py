"""Query and body parameters, checked with messages that name the problem and the choices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from src.application.domain.errors import InvalidParameter


def integer(source: Mapping[str, Any], name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    raw = source.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise InvalidParameter(f"{name} must be a whole number between {minimum} and {maximum}")
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidParameter(
            f"{name} must be a whole number between {minimum} and {maximum}, got {str(raw)[:50]!r}"
        ) from None
    if not minimum <= value <= maximum:
        raise InvalidParameter(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def choice(source: Mapping[str, Any], name: str, choices: Iterable[str], default: str | None) -> str | None:
    options = list(choices)
    raw = source.get(name)
    if raw is None or raw == "":
        if default is None:
            raise InvalidParameter(f"{name} is required", choices=options)
        return default
    if raw not in options:
        raise InvalidParameter(f"unknown {name} {str(raw)[:50]!r}", choices=options)
    return str(raw)


def text(source: Mapping[str, Any], name: str, max_length: int = 100) -> str:
    """A string parameter, empty when absent; the core says whether empty is acceptable."""
    value = str(source.get(name, "")).strip()
    if len(value) > max_length:
        raise InvalidParameter(f"{name} is longer than {max_length} characters")
    return value
