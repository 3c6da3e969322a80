"""Endpoints managed over HTTP by admins: checked addresses, keys by reference, never echoed to readers."""

from __future__ import annotations

import html

import pytest

GPT = {"name": "gpt", "llm": "GPT-4o", "base_url": "http://127.0.0.1:9/v1", "model": "gpt-4o",
       "api_key_env": "OPENAI_API_KEY"}  # fmt: skip


def key(clean_app, role: str) -> dict[str, str]:
    issued = clean_app.test_cli_runner().invoke(args=["create-api-key", "--name", role, "--role", role])
    return {"api-key": issued.output.strip()}


def test_an_admin_adds_changes_and_removes_an_endpoint_and_readers_see_names_and_models_only(
    client, clean_app, api_headers
):
    added = client.post("/endpoints", json=GPT, headers=api_headers)
    assert added.status_code == 201 and added.headers["Location"] == "/endpoints/gpt"
    assert added.json["endpoint"]["base_url"] == GPT["base_url"]
    assert added.json["endpoint"]["api_key_env"] == "OPENAI_API_KEY"  # the variable's name, never a key

    assert added.json["endpoint"]["llm"] == "GPT-4o"  # as it was given, and as /llms names it
    assert client.get(added.headers["Location"], headers=api_headers).json == added.json  # where it points
    read = client.get("/endpoints/gpt", headers=key(clean_app, "reader")).json["endpoint"]
    assert (read["name"], read["llm"], read["base_url"], read["api_key_env"]) == ("gpt", "GPT-4o", None, None)

    listed = client.get("/endpoints", headers=key(clean_app, "reader")).json["endpoints"]
    assert [(e["name"], e["llm"], e["model"], e["base_url"], e["api_key_env"]) for e in listed] == [
        ("gpt", "GPT-4o", "gpt-4o", None, None)
    ]  # fmt: skip

    changed = client.patch("/endpoints/gpt", json={"model": "gpt-4o-mini", "api_key_env": None}, headers=api_headers)
    assert changed.status_code == 200
    assert (changed.json["endpoint"]["model"], changed.json["endpoint"]["api_key_env"]) == ("gpt-4o-mini", None)
    assert changed.json["endpoint"]["llm"] == "GPT-4o"
    emptied = client.patch("/endpoints/gpt", json={"model": " "}, headers=api_headers)
    assert emptied.status_code == 400, emptied.json
    assert emptied.json["error"]["message"] == "an endpoint needs a model of 1 to 200 characters"
    assert client.get("/endpoints", headers=api_headers).json["endpoints"][0]["model"] == "gpt-4o-mini"
    assert client.delete("/endpoints/gpt", headers=api_headers).status_code == 204
    gone = client.delete("/endpoints/gpt", headers=api_headers)
    assert gone.status_code == 404 and "no endpoint is named 'gpt'" in gone.json["error"]["message"]
    assert client.get("/endpoints/gpt", headers=api_headers).status_code == 404


def test_only_admins_manage_endpoints(client, clean_app, api_headers):
    operator = key(clean_app, "operator")
    refused = client.post("/endpoints", json=GPT, headers=operator)
    assert refused.status_code == 403 and "adding an endpoint needs the role admin" in refused.json["error"]["message"]
    client.post("/endpoints", json=GPT, headers=api_headers)
    assert client.patch("/endpoints/gpt", json={"model": "x"}, headers=operator).status_code == 403
    assert client.delete("/endpoints/gpt", headers=operator).status_code == 403


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"base_url": "http://169.254.169.254/latest/meta-data/"}, "link-local address 169.254.169.254"),
        ({"base_url": "http://user:pw@127.0.0.1/v1"}, "must not carry credentials"),
        ({"base_url": "http://10.0.0.8/v1"}, "private address 10.0.0.8; allow its network in ENDPOINT_ALLOWED"),
        ({"base_url": "file:///etc/passwd"}, "base_url must be an http(s) URL with a host"),
        ({"api_key_env": "SECRET_KEY"}, "api_key_env must name a variable such as OPENAI_API_KEY"),
        ({"api_key_env": "API_KEY"}, "not the service's own API_KEY"),
        ({"llm": "GPT-5"}, "unknown LLM 'GPT-5'"),
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"max_tokens_field": "max_new_tokens"}, "unknown max_tokens_field 'max_new_tokens'"),
        ({"stream_usage": "false"}, 'stream_usage must be true or false, got "false"'),
    ],
)
def test_an_endpoint_that_could_reach_inside_or_leak_a_secret_is_refused_with_a_400(client, api_headers, change, words):
    refused = client.post("/endpoints", json=GPT | change, headers=api_headers)
    assert refused.status_code == 400 and words in refused.json["error"]["message"], refused.json
    assert client.get("/endpoints", headers=api_headers).json["endpoints"] == []


def test_an_endpoint_with_runs_is_kept_and_a_taken_name_is_a_conflict(client, clean_app, api_headers):
    from src.application.use_cases.benchmarks import BenchmarkUseCases

    client.post("/endpoints", json=GPT | {"api_key_env": None}, headers=api_headers)
    assert client.post("/endpoints", json=GPT, headers=api_headers).status_code == 409
    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    benchmarks.run_now("gpt", benchmarks.plan(1, warmup=0))  # nothing listens there: a failed run, still a run
    kept = client.delete("/endpoints/gpt", headers=api_headers)
    assert kept.status_code == 409 and "has measured runs or sweeps, which keep it" in kept.json["error"]["message"]


def test_an_admin_adds_an_llm_an_endpoint_serves_it_and_its_measured_run_ranks_it(client, clean_app, api_headers):
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from tests.support.fake_openai import Behaviour, FakeOpenAI

    qwen = {"name": "Qwen 2.5 72B", "vendor": "Alibaba", "family": "Qwen 2.5", "size": "72B"}
    assert client.post("/llms", json=qwen, headers=key(clean_app, "operator")).status_code == 403
    added = client.post("/llms", json=qwen, headers=api_headers)
    assert added.status_code == 201 and added.json["llm"] == qwen
    assert qwen in client.get("/llms", headers=api_headers).json["llms"]  # no stale cached catalogue
    assert client.post("/llms", json=qwen, headers=api_headers).status_code == 409
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=5)) as server:
        endpoint = GPT | {"name": "qwen", "llm": "Qwen 2.5 72B", "base_url": server.base_url, "api_key_env": None}
        assert client.post("/endpoints", json=endpoint, headers=api_headers).status_code == 201
        benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
        run = benchmarks.run_now("qwen", benchmarks.plan(5, warmup=0))
    ranked = client.get(f"/metrics/?metric_name=TTFT&run_id={run.id}", headers=api_headers).json
    assert [result["llm"] for result in ranked["results"]] == ["Qwen 2.5 72B"]
    # A measured run tells its requests; samples per pair are a simulated run's.
    assert (ranked["run"]["requests"], ranked["run"]["samples_per_pair"]) == (5, None)


def test_llms_are_added_and_listed_on_the_command_line(clean_app):
    runner = clean_app.test_cli_runner()
    added = runner.invoke(args=["llms", "add", "--name", "Mistral Small 3", "--vendor", "Mistral", "--size", "24B"])
    assert added.exit_code == 0 and added.output == "LLM Mistral Small 3 (Mistral) added\n", added.output
    assert "Mistral Small 3 (Mistral) 24B" in runner.invoke(args=["llms", "list"]).output.splitlines()
    again = runner.invoke(args=["llms", "add", "--name", "Mistral Small 3", "--vendor", "Mistral"])
    assert again.exit_code == 1 and "already has an LLM named 'Mistral Small 3'" in again.output


def test_an_endpoint_whose_api_refuses_max_tokens_is_measured_with_max_completion_tokens(
    client, clean_app, api_headers
):
    """OpenAI's reasoning models answer a body with max_tokens with a 400: every request would fail."""
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from tests.support.fake_openai import Behaviour, FakeOpenAI

    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    behaviour = Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=8, send_usage=False, refuse_max_tokens=True)
    with FakeOpenAI(behaviour) as server:
        reasoning = GPT | {"name": "o-series", "base_url": server.base_url, "api_key_env": None}
        added = client.post("/endpoints", json=reasoning, headers=api_headers)
        assert added.json["endpoint"]["max_tokens_field"] == "max_tokens"  # the default: what most servers read
        refused = benchmarks.run_now("o-series", benchmarks.plan(3, warmup=0, max_tokens=5))
        page = html.unescape(client.get("/visualize/endpoints/o-series").text)  # why it has no valid run
        assert f"Its newest run, run {refused.id} at " in page and f"failed: {refused.error}</p>" in page
        (failing,) = client.get("/monitoring/endpoints", headers=api_headers).json["failing"]
        assert failing.pop("finished_at") == refused.finished_at.isoformat().replace("+00:00", "Z")
        assert failing == {"endpoint": "o-series", "llm": "GPT-4o", "run_id": refused.id, "reason": refused.error,
                           "client_bound": False}  # fmt: skip
        fleet = html.unescape(client.get("/visualize/endpoints").text)
        assert 'failed or left out of its results:\n  <a href="/visualize/endpoints/o-series">o-series</a>' in fleet
        assert f"(run {refused.id}, {refused.finished_at:%Y-%m-%d %H:%M} UTC, failed)." in fleet
        changed = client.patch(
            "/endpoints/o-series", json={"max_tokens_field": "max_completion_tokens"}, headers=api_headers
        )
        assert changed.json["endpoint"]["max_tokens_field"] == "max_completion_tokens"
        measured = benchmarks.run_now("o-series", benchmarks.plan(3, warmup=0, max_tokens=5))
    assert refused.details["errors"] == {"http_4xx": 3}
    assert refused.error.endswith("Use 'max_completion_tokens' instead.\"}}")  # what the API said
    assert measured.details["errors"] == {} and measured.details["output_tokens"]["p50"] == 5  # the limit held
    assert measured.details["tokens_counted_by"] == "tokenizer"
    listed = client.get("/endpoints", headers=key(clean_app, "reader")).json["endpoints"]
    assert [e["max_tokens_field"] for e in listed] == ["max_completion_tokens"]
    assert "Its newest run" not in client.get("/visualize/endpoints/o-series").text  # it succeeded
    assert "failing-endpoints" not in client.get("/visualize/endpoints").text
    assert client.get("/monitoring/endpoints", headers=api_headers).json["failing"] == []


def test_an_endpoint_whose_api_refuses_stream_options_is_measured_without_them_and_the_tokenizer_counts(
    client, clean_app, api_headers
):
    """APIs that forbid fields they do not know answer every request asking for usage with a 4xx."""
    from src.application.use_cases.benchmarks import BenchmarkUseCases
    from tests.support.fake_openai import Behaviour, FakeOpenAI

    benchmarks = clean_app.extensions["injector"].get(BenchmarkUseCases)
    with FakeOpenAI(
        Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=6, refuse_unknown_fields=True)
    ) as server:
        strict = GPT | {"name": "strict", "base_url": server.base_url, "api_key_env": None}
        added = client.post("/endpoints", json=strict, headers=api_headers)
        assert added.json["endpoint"]["stream_usage"] is True  # the default: exact counts where offered
        refused = benchmarks.run_now("strict", benchmarks.plan(2, warmup=0))
        changed = client.patch("/endpoints/strict", json={"stream_usage": False}, headers=api_headers)
        assert changed.status_code == 200 and changed.json["endpoint"]["stream_usage"] is False
        measured = benchmarks.run_now("strict", benchmarks.plan(2, warmup=0))
    assert refused.details["errors"] == {"http_4xx": 2} and "stream_options" in refused.error
    assert measured.details["errors"] == {} and measured.details["output_tokens"]["p50"] == 6
    assert measured.details["tokens_counted_by"] == "tokenizer"
    both = client.post("/endpoints", json=GPT | {"name": "plain", "stream_usage": False}, headers=api_headers)
    assert both.status_code == 201 and both.json["endpoint"]["stream_usage"] is False
    listed = client.get("/endpoints", headers=key(clean_app, "reader")).json["endpoints"]
    assert [(e["name"], e["stream_usage"]) for e in listed] == [("plain", False), ("strict", False)]


def test_endpoints_are_added_and_listed_on_the_command_line_with_their_max_tokens_field(clean_app):
    cli = clean_app.test_cli_runner()
    added = cli.invoke(args=["endpoints", "add", "--name", "o-series", "--llm", "GPT-4o", "--base-url",
                             "http://127.0.0.1:9/v1", "--model", "o4-mini",
                             "--max-tokens-field", "max_completion_tokens"])  # fmt: skip
    assert added.exit_code == 0, added.output
    strict = cli.invoke(args=["endpoints", "add", "--name", "strict", "--llm", "GPT-4o", "--base-url",
                              "http://127.0.0.1:9/v1", "--model", "m", "--no-stream-usage"])  # fmt: skip
    assert strict.exit_code == 0, strict.output
    listed = cli.invoke(args=["endpoints", "list"]).output.splitlines()
    assert listed == [
        "o-series (GPT-4o): http://127.0.0.1:9/v1 model o4-mini (no key; limit in max_completion_tokens)",
        "strict (GPT-4o): http://127.0.0.1:9/v1 model m (no key; limit in max_tokens; no usage asked)",
    ]
    changed = cli.invoke(args=["endpoints", "change", "strict", "--model", "m2", "--stream-usage", "--api-key-env",
                               "OPENAI_API_KEY"])  # fmt: skip
    assert changed.exit_code == 0 and changed.output == "endpoint strict changed: api_key_env, model, stream_usage\n"
    assert cli.invoke(args=["endpoints", "list"]).output.splitlines()[1] == (
        "strict (GPT-4o): http://127.0.0.1:9/v1 model m2 (key in $OPENAI_API_KEY; limit in max_tokens)"
    )
    keyless = cli.invoke(args=["endpoints", "change", "strict", "--api-key-env", ""])
    assert keyless.exit_code == 0 and "(no key;" in cli.invoke(args=["endpoints", "list"]).output.splitlines()[1]
    nothing = cli.invoke(args=["endpoints", "change", "strict"])
    assert nothing.exit_code == 2 and "nothing to change: give --base-url" in nothing.output
    inside = cli.invoke(args=["endpoints", "change", "strict", "--base-url", "http://169.254.169.254/v1"])
    assert inside.exit_code == 1 and "link-local" in inside.output
    assert cli.invoke(args=["endpoints", "remove", "strict"]).output == "endpoint strict removed\n"
    gone = cli.invoke(args=["endpoints", "remove", "strict"])
    assert gone.exit_code == 1 and "no endpoint is named 'strict'; known: o-series" in gone.output
    wrong = cli.invoke(args=["endpoints", "add", "--name", "x", "--llm", "GPT-4o", "--base-url", "http://127.0.0.1:9/v1",
                             "--model", "m", "--max-tokens-field", "max_new_tokens"])  # fmt: skip
    assert (
        wrong.exit_code == 2 and "'max_new_tokens' is not one of 'max_tokens', 'max_completion_tokens'" in wrong.output
    )
