"""The README's API examples are the API's: every field a request body or an answer shows is one
`/openapi.json` describes for that operation, and an object shown whole (no `...` in it) has every
field the document requires; a CSV example's header is the one the service answers. A field added,
renamed or removed without the README following fails here.

An example is a `curl` command in a fenced block; its answer is what follows it up to the next
command (after any status line and headers), or the next block when the command ends its own.
`...` in an object or an array marks what the README cut."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from src.application.use_cases.simulation import SimulationUseCases

README = Path(__file__).resolve().parents[2] / "README.md"
CUT = "..."


@dataclass
class Example:
    line: int
    method: str
    path: str
    query: str
    body: Any
    status: int | None
    answer: Any
    output: list[str]


def examples() -> list[Example]:
    blocks = fenced_blocks(README.read_text().splitlines())
    found = []
    for index, (start, lines) in enumerate(blocks):
        commands = [i for i, line in enumerate(lines) if line.lstrip("$ ").startswith("curl ")]
        for number, first in enumerate(commands):
            last = first
            while lines[last].endswith("\\") or not balanced(command := joined(lines[first : last + 1])):
                last += 1
            end = commands[number + 1] if number + 1 < len(commands) else len(lines)
            output = lines[last + 1 : end]
            if not output and end == len(lines) and index + 1 < len(blocks):
                next_start, next_lines = blocks[index + 1]
                if next_start <= start + len(lines) + 4:  # the block right after this one
                    output = next_lines
            found += [parse_example(start + first + 1, command, output)]
    return found


def joined(lines: list[str]) -> str:
    """A command written over several lines: continued with a backslash, or inside a quoted body."""
    return " ".join(line.rstrip("\\") for line in lines).lstrip("$ ")


def balanced(command: str) -> bool:
    try:
        shlex.split(command)
    except ValueError:  # a quote left open: the command goes on on the next line
        return False
    return True


def fenced_blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(the line number of each block's first line, its lines)"""
    blocks, current, start = [], None, 0
    for number, line in enumerate(lines, start=1):
        if line.startswith("```"):
            if current is None:
                current, start = [], number + 1
            else:
                blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def parse_example(line: int, command: str, output: list[str]) -> Example:
    words = shlex.split(command)
    words = words[: words.index("|")] if "|" in words else words
    method = words[words.index("-X") + 1] if "-X" in words else "GET"
    body = parse_elided(words[words.index("-d") + 1]) if "-d" in words else None
    url = next(word for word in words if word.startswith("http"))
    method = "POST" if body is not None and "-X" not in words else method
    status_lines = [text for text in output if text.startswith("HTTP/")]
    json_start = next((i for i, text in enumerate(output) if text.startswith("{")), None)
    answer = None if json_start is None else parse_elided("\n".join(output[json_start:]))
    status = int(status_lines[0].split()[1]) if status_lines else None  # else the operation's success
    parts = urlsplit(url)
    return Example(line, method.lower(), parts.path, parts.query, body, status, answer, output)


def json_examples() -> list[Example]:
    return [example for example in examples() if example.answer is not None or example.body is not None]


def csv_examples() -> list[Example]:
    return [example for example in examples() if "format=csv" in example.query]


def is_error(answer: Any) -> bool:
    return isinstance(answer, dict) and isinstance(answer.get("error"), dict)


def parse_elided(text: str) -> Any:
    """JSON in which a bare `...` stands for what was cut: it becomes a "..." key in an object and a
    "..." item in an array."""
    out, brackets, in_string, i = [], [], False, 0
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(text[i : i + 2] if char == "\\" else char)
            i += 2 if char == "\\" else 1
            in_string = char != '"'
            continue
        if text.startswith(CUT, i):
            out.append(f'"{CUT}": "{CUT}"' if brackets[-1] == "{" else f'"{CUT}"')
            i += len(CUT)
            continue
        if char in "{[":
            brackets.append(char)
        elif char in "}]":
            brackets.pop()
        in_string = char == '"'
        out.append(char)
        i += 1
    return json.loads("".join(out))


def test_the_readme_shows_examples_of_answers_and_bodies():
    """Guards the parser: finding none would pass every check below."""
    found = examples()
    assert len(csv_examples()) >= 1
    assert sum(example.answer is not None for example in found) >= 16
    assert sum(example.body is not None for example in found) >= 9
    assert {example.path for example in found} >= {"/metrics/", "/metrics/all", "/runs", "/campaigns"}


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:
    return app.test_client().get("/openapi.json").json  # type: ignore[no-any-return]


@pytest.mark.parametrize("example", json_examples(), ids=lambda example: f"README:{example.line}")
def test_a_readme_example_shows_only_fields_of_the_api_and_whole_objects_whole(document, example):
    problems = []
    if example.body is not None:
        body_schema = find_operation(document, example.method, example.path)["requestBody"]["content"]
        problems += mismatches(document, example.body, body_schema["application/json"]["schema"], "body")
    if is_error(example.answer):  # every error, of any route or none, has this shape
        problems += mismatches(document, example.answer, {"$ref": "#/components/schemas/Error"}, "answer")
    elif example.answer is not None:
        responses = find_operation(document, example.method, example.path)["responses"]
        status = example.status or min(code for code in responses if code.startswith("2"))
        content = responses[str(status)]["content"]  # JSON, or JSON Lines (a run's requests)
        schema = content.get("application/json", content.get("application/x-ndjson"))["schema"]
        problems += mismatches(document, example.answer, schema, "answer")
    assert not problems, f"README line {example.line}, {example.method.upper()} {example.path}: {problems}"


@pytest.mark.parametrize("example", csv_examples(), ids=lambda example: f"README:{example.line}")
def test_a_readme_csv_example_has_the_columns_the_service_answers(client, clean_app, api_headers, example):
    clean_app.extensions["injector"].get(SimulationUseCases).run_now(seed=1, samples_per_pair=100)
    answer = client.get(f"{example.path}?{example.query}", headers=api_headers)
    assert answer.status_code == 200
    assert example.output[0] == answer.text.splitlines()[0]


def find_operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, operations in document["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template.rstrip("/")))
        if re.fullmatch(pattern + "/?", path) and method in operations:
            return operations[method]  # type: ignore[no-any-return]
    raise AssertionError(f"/openapi.json has no operation {method.upper()} {path}")


def mismatches(document: dict[str, Any], value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """What `value`, part of an example, shows that `schema` does not describe, or lacks that it requires."""
    schema = resolve(document, schema)
    if alternatives := schema.get("anyOf") or schema.get("oneOf"):  # nullable fields, unions
        chosen = [each for each in (resolve(document, one) for one in alternatives) if fits(value, each)]
        return mismatches(document, value, chosen[0], where) if chosen else []
    if isinstance(value, list):
        items = schema.get("items", {})
        return [problem for item in value if item != CUT for problem in mismatches(document, item, items, where + "[]")]
    return object_mismatches(document, value, schema, where) if isinstance(value, dict) else []


def fits(value: Any, schema: dict[str, Any]) -> bool:
    if isinstance(value, dict):
        return schema.get("type") == "object" or "properties" in schema
    return isinstance(value, list) and schema.get("type") == "array"


def object_mismatches(document: dict[str, Any], value: dict[str, Any], schema: dict[str, Any], where: str) -> list[str]:
    shown = {key: item for key, item in value.items() if key != CUT}
    properties = schema.get("properties")
    if properties is None:  # a map (metric name to value, say): its values follow one schema
        extra = schema.get("additionalProperties")
        each = extra if isinstance(extra, dict) else {}
        return [
            problem for key, item in shown.items() for problem in mismatches(document, item, each, f"{where}.{key}")
        ]
    problems = [f"{where}.{key} is not a field of the API" for key in shown if key not in properties]
    if CUT not in value:
        problems += [f"{where} lacks the field {key}" for key in schema.get("required", []) if key not in value]
    for key, item in shown.items():
        problems += mismatches(document, item, properties.get(key, {}), f"{where}.{key}")
    return problems


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema
