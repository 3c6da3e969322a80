"""Query and body parameters, checked with messages that name the problem and the choices."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from src.application.domain.errors import InvalidParameter
from src.application.domain.model import RunSource
from src.application.domain.ranking import Scope, Statistic, Window

SCOPE = ("run_id", "window", "source")  # the parameters `scope` reads


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


def statistic(source: Mapping[str, Any]) -> Statistic:
    return Statistic(choice(source, "statistic", [s.value for s in Statistic], Statistic.MEAN.value))


def scope(source: Mapping[str, Any]) -> Scope:
    """A run by id, or a window of runs of one source (the latest simulated run by default)."""
    run_id = integer(source, "run_id", None, 1, 2**31 - 1)
    window = choice(source, "window", [w.value for w in Window], "")
    if run_id is not None and window:
        raise InvalidParameter("give run_id or window, not both")
    return Scope(run_id, Window(window or Window.LATEST), run_source(source))


def run_source(source: Mapping[str, Any]) -> RunSource:
    return RunSource(choice(source, "source", [s.value for s in RunSource], RunSource.SIMULATED.value))


def weights(source: Mapping[str, Any]) -> dict[str, float]:
    """`weights=TTFT:2,TPS:1` into {"TTFT": 2.0, "TPS": 1.0}."""
    parsed: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in str(source.get("weights", "")).split(","))):
        name, separator, value = part.partition(":")
        try:
            parsed[name.strip()] = float(value)
        except ValueError:
            separator = ""
        if not separator:
            raise InvalidParameter(f"weights must look like TTFT:2,TPS:1, got {part[:50]!r}")
    return parsed
