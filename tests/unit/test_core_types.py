"""The kinds of types in the core. Values (plans, settings, statistics, rankings, outcomes) cannot
be changed once made, so one can be shared between threads, requests and a cached catalogue.
Entities (the rows of the store) are told apart by identity, never by equal fields. Ports are
contracts: an adapter that leaves out one of their methods cannot even be made."""

from __future__ import annotations

import abc
import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "src" / "application"
ENTITIES = {
    "LLM",
    "Metric",
    "Run",
    "Sweep",
    "Campaign",
    "Endpoint",
    "MetricSummary",
    "User",
    "ApiKey",
}  # what the store maps


def core_classes(folder: str = "") -> list[type]:
    found = []
    for path in sorted((CORE / folder).rglob("*.py")):
        module = importlib.import_module(".".join(path.relative_to(CORE.parents[1]).with_suffix("").parts))
        found += [c for c in vars(module).values() if inspect.isclass(c) and c.__module__ == module.__name__]
    return found


DATACLASSES = [c for c in core_classes() if dataclasses.is_dataclass(c)]
PORTS = [c for c in core_classes("ports") if abc.ABC in c.__bases__]


@pytest.mark.parametrize("value", [c for c in DATACLASSES if c.__name__ not in ENTITIES], ids=lambda c: c.__name__)
def test_values_cannot_be_changed_once_made(value):
    made = object.__new__(value)  # whatever its fields: assigning to one is refused
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(value)[0].name, None)


@pytest.mark.parametrize("entity", [c for c in DATACLASSES if c.__name__ in ENTITIES], ids=lambda c: c.__name__)
def test_entities_compare_and_hash_by_identity_not_by_their_fields(entity):
    # Read from the class: the store's mapping may instrument how instances are made.
    assert entity.__eq__ is object.__eq__ and entity.__hash__ is object.__hash__


def test_every_entity_is_a_dataclass_of_the_core():
    assert {c.__name__ for c in DATACLASSES} >= ENTITIES


@pytest.mark.parametrize("port", PORTS, ids=lambda c: c.__name__)
def test_every_public_method_of_a_port_must_be_implemented(port):
    methods = {name for name, member in vars(port).items() if inspect.isfunction(member) and not name.startswith("_")}
    assert methods and all(getattr(vars(port)[name], "__isabstractmethod__", False) for name in methods)
    with pytest.raises(TypeError, match="abstract"):
        type("Incomplete", (port,), {})()
