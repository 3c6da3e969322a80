"""Query and body parameters, checked with messages that name the problem and the choices."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from flask import request
from werkzeug.datastructures import MultiDict

from src.application.domain.errors import InvalidParameter
from src.application.domain.model import RunSource
from src.application.domain.ranking import Scope, Statistic, Window

SCOPE = ("run_id", "window", "source")  # the parameters `scope` reads


DIGITS = re.compile(r"[0-9]{1,20}")  # ASCII digits only: int() would take "١٢" or "+1_0"


def integer(source: Mapping[str, Any], name: str, default: int | None, minimum: int, maximum: int) -> int | None:
    """A whole number: a JSON integer in a body, decimal digits in a query string. Absent: the
    default; present but empty, a string in JSON, a float (even 1e6 or 2.0) or a bool: refused."""
    if name not in source:
        return default
    raw = source[name]
    explained = f"{name} must be a whole number between {minimum} and {maximum}"
    if isinstance(source, MultiDict):
        if not DIGITS.fullmatch(raw):
            raise InvalidParameter(f"{explained}, got {_shown(raw)}", parameter=name)
        value = int(raw)
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    else:
        raise InvalidParameter(f"{explained} (a JSON integer), got {json_text(raw)[:50]}", parameter=name)
    if not minimum <= value <= maximum:
        raise InvalidParameter(
            f"{name} must be between {minimum} and {maximum}, got {_shown(str(value))}", parameter=name
        )
    return value


def number(source: Mapping[str, Any], name: str, minimum: float, maximum: float) -> float | None:
    """A finite JSON number above `minimum` and at most `maximum`; None when absent."""
    raw = source.get(name)
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not minimum < raw <= maximum:
        raise InvalidParameter(
            f"{name} must be a number above {minimum} and at most {maximum}, got {json_text(raw)[:50]}",
            parameter=name,
        )
    return float(raw)


def choice(source: Mapping[str, Any], name: str, choices: Iterable[str], default: str | None) -> str | None:
    """One of `choices`; absent: the default (None: required). Present but empty is refused."""
    options = list(choices)
    if name not in source:
        if default is None:
            raise InvalidParameter(f"{name} is required", choices=options, parameter=name)
        return default
    raw = source[name]
    if raw not in options:
        problem = f"{name} is empty: leave it out for the default" if raw == "" else f"unknown {name} {_shown(raw)}"
        raise InvalidParameter(problem, choices=options, parameter=name)
    return str(raw)


def chosen(source: MultiDict[str, str]) -> MultiDict[str, str]:
    """A page form's fields without the empty ones: a form's empty option means "the default"."""
    return MultiDict([(name, value) for name, value in source.items(multi=True) if value != ""])


def text(source: Mapping[str, Any], name: str, max_length: int = 100) -> str:
    """A string parameter, empty when absent; the core says whether empty is acceptable."""
    raw = source.get(name, "")
    if not isinstance(raw, str):
        raise InvalidParameter(f"{name} must be a string", parameter=name)
    value = raw.strip()
    if len(value) > max_length:
        raise InvalidParameter(f"{name} is longer than {max_length} characters", parameter=name)
    if not value.isprintable():
        raise InvalidParameter(f"{name} must not contain control characters", parameter=name)
    return value


def json_object(example: str) -> dict[str, Any]:
    """The request's JSON object body ({} when it has none), chunked transfer included."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise InvalidParameter(f"the body is not valid JSON; send an object such as {example}") from None
    if not isinstance(body, dict):
        raise InvalidParameter(f"the body must be a JSON object such as {example}")
    return body


def known_fields(body: Mapping[str, Any], fields: Iterable[str]) -> None:
    allowed = sorted(fields)
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise InvalidParameter(f"unknown field {_shown(', '.join(unknown))}", choices=allowed)


def json_text(value: Any) -> str:
    try:
        return json.dumps(value)
    except (ValueError, RecursionError):
        return type(value).__name__


def _shown(raw: str) -> str:
    """A value as an error message may quote it: short, and printable."""
    return repr(raw[:50])


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
        if not separator or not 0 <= parsed.get(name.strip(), -1) < math.inf:
            raise InvalidParameter(
                f"weights must look like TTFT:2,TPS:1 (finite, not negative), got {part[:50]!r}", parameter="weights"
            )
    return parsed
