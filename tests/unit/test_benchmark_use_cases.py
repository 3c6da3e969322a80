"""Measured runs with fakes: a scripted LLM client, so every formula is checked against known timings."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import random
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from itertools import cycle, pairwise

import numpy as np
import pytest

from src.application.domain.errors import Conflict, Forbidden, InvalidParameter, NotFound
from src.application.domain.model import Caller, MaxTokensField, Role, RunSource, RunStatus
from src.application.domain.ranking import Scope, Window
from src.application.ports.llm_client import (
    AbstractChatStreams,
    AbstractLLMClient,
    AbstractResolver,
    AbstractSecrets,
    AbstractTokenizer,
    ChatRequest,
    Chunk,
    RequestOutcome,
)
from src.application.services import load, measures, timelines
from src.application.services.addresses import networks
from src.application.services.load import Driven, LoadShape, drive, on_own_loop, watched
from src.application.services.measures import (
    DEFINITIONS_VERSION,
    ClientLimits,
    Slo,
    count_tokens,
    measurement_details,
    self_check,
    slo_report,
    worst_check,
)
from src.application.services.plans import describe, plan_key
from src.application.services.workloads import FOR_WARM_UP, Workload
from src.application.use_cases.benchmarks import (
    PLAN_FIELDS,
    BenchmarkPlan,
    BenchmarkSettings,
    BenchmarkUseCases,
    plan_from,
)
from src.application.use_cases.quotas import Quotas
from src.application.use_cases.rankings import RankingUseCases
from src.application.use_cases.simulation import SimulationSettings, SimulationUseCases
from tests.unit.fakes import FakeCache, FakeTaskQueue, FixedClock, seeded_uow
from tests.unit.test_simulation_use_cases import RecordingTelemetry


def ok(ttft: float, e2e: float, tokens: int) -> RequestOutcome:
    return RequestOutcome(started=10.0, finished=10.0 + e2e, first_token_at=10.0 + ttft, output_tokens=tokens,
                          input_tokens=25, tokens_from_usage=True, client_overhead_s=0.001)  # fmt: skip


class ScriptedClient(AbstractLLMClient, AbstractChatStreams):
    """Answers each request with the next outcome of its script, round and round."""

    def __init__(self, *outcomes: RequestOutcome):
        self.script = cycle(outcomes)
        self.requests: list[ChatRequest] = []
        self.connections: list[tuple[bool, int]] = []  # how each run connected

    @asynccontextmanager
    async def connect(self, reuse_connections: bool, max_streams: int) -> AsyncIterator[AbstractChatStreams]:
        self.connections.append((reuse_connections, max_streams))
        yield self

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        return asyncio.new_event_loop()

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        self.requests.append(request)
        return next(self.script)


class WordTokenizer(AbstractTokenizer):
    """A token a word."""

    name = "words"

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) for text in texts]

    def text(self, tokens: int, draw: random.Random) -> str:
        return "".join(draw.choice([" alpha", " beta", " gamma"]) for _ in range(tokens))


class CharacterTokenizer(WordTokenizer):
    """A token a character: tells the reply counted whole from its chunks joined with anything between."""

    name = "characters"

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(text) for text in texts]


class Secrets(AbstractSecrets):
    def __init__(self, **values: str):
        self.values = values

    def get(self, name: str) -> str | None:
        return self.values.get(name)


class Resolver(AbstractResolver):
    """Names as a test's DNS would resolve them; an IP address stands for itself."""

    def __init__(self, **names: list[str]):
        self.names = names

    def addresses(self, host: str) -> list[str]:
        if host in self.names:
            return self.names[host]
        if host.replace(".", "").isdigit() or ":" in host:
            return [host]
        raise InvalidParameter(f"base_url's host {host} cannot be resolved", parameter="base_url")


def benchmarks(
    client: AbstractLLMClient, secrets: AbstractSecrets | None = None, resolver: Resolver | None = None, **settings
):
    uow, cache = seeded_uow(), FakeCache()
    use_cases = BenchmarkUseCases(
        uow, client, WordTokenizer(), secrets or Secrets(), resolver or Resolver(), FakeTaskQueue(), cache,
        FixedClock(), BenchmarkSettings(**settings),
        RecordingTelemetry(), Quotas(),
    )  # fmt: skip
    use_cases.add_endpoint("fake", "GPT-4o", "http://127.0.0.1:9/v1/", "gpt-4o", None)
    return use_cases, uow, cache


def stored(uow, run, metric: str) -> np.ndarray:
    with uow:
        metric_id = next(m.id for m in uow.catalogue.metrics() if m.name == metric)
        return uow.samples.values(run.id, uow.endpoints.get(run.endpoint_id).llm_id, metric_id)


def test_a_measured_run_stores_ttft_e2e_and_speed_after_the_first_token():
    use_cases, uow, cache = benchmarks(ScriptedClient(ok(0.2, 1.2, 11), ok(0.4, 2.4, 21)))
    run = use_cases.run_now("fake", use_cases.plan(4, concurrency=2, warmup=0))
    assert run.status is RunStatus.COMPLETED and cache.changes == 1
    assert sorted(stored(uow, run, "TTFT")) == pytest.approx([0.2, 0.2, 0.4, 0.4])
    assert sorted(stored(uow, run, "e2e_latency")) == pytest.approx([1.2, 1.2, 2.4, 2.4])
    # 10 tokens after the first in 1.0 s, and 20 in 2.0 s: 10 tokens/s either way.
    assert stored(uow, run, "TPS") == pytest.approx([10.0] * 4)
    assert run.details["inter_token_latency_ms"]["p50"] == pytest.approx(100.0)
    assert run.details["requests_sent"] == run.details["completed"] == 4
    assert run.details["plan"]["requests"] == 4  # the plan it was queued with stays beside the results
    assert {request.api_key for request in use_cases.client.requests} == {None}  # an endpoint without a key
    assert uow.store.simulation_locks == 0  # measured runs complete side by side, unlike simulations


def test_executing_a_measured_run_that_does_not_exist_is_not_found_by_its_id():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    with pytest.raises(NotFound, match=r"^measured run 999 does not exist$"):
        use_cases.execute(999)


def test_warm_up_requests_are_sent_first_and_never_measured():
    slow_warmup = ok(5.0, 9.0, 11)
    client = ScriptedClient(slow_warmup, slow_warmup, ok(0.2, 1.2, 11), ok(0.2, 1.2, 11), ok(0.2, 1.2, 11))
    use_cases, uow, _ = benchmarks(client)
    run = use_cases.run_now("fake", use_cases.plan(3, warmup=2))
    assert len(client.requests) == 5
    assert list(stored(uow, run, "TTFT")) == pytest.approx([0.2, 0.2, 0.2])


def test_errors_are_counted_by_kind_and_never_become_samples():
    throttled, timed_out = RequestOutcome(10.0, 10.5, error="http_429"), RequestOutcome(10.0, 10.1, error="timeout")
    client = ScriptedClient(ok(0.2, 1.2, 11), throttled, timed_out, throttled)
    use_cases, uow, _ = benchmarks(client)
    run = use_cases.run_now("fake", use_cases.plan(8, warmup=0))
    assert run.details["errors"] == {"http_429": 4, "timeout": 2}
    assert run.details["completed"] == 2 and stored(uow, run, "TTFT").size == 2


def test_a_run_where_nothing_succeeds_fails_naming_the_errors_and_what_the_first_one_said():
    failures = (
        RequestOutcome(10.2, 10.5, error="http_5xx", error_detail="502 Bad Gateway"),
        RequestOutcome(10.0, 10.5, error="timeout"),
        RequestOutcome(10.1, 10.5, error="http_5xx", error_detail="503 overloaded"),
    )
    use_cases, uow, cache = benchmarks(ScriptedClient(*failures))
    run = use_cases.run_now("fake", use_cases.plan(3, warmup=0))
    assert run.status is RunStatus.FAILED
    assert run.error == "no request succeeded (http_5xx: 2, timeout: 1); the first said: 503 overloaded"
    assert run.details["first_errors"] == {"http_5xx": "503 overloaded"}  # the earliest sent; a timeout says nothing
    assert cache.changes == 1
    with uow:  # the failure's details join the plan it was queued with, as stored
        details = uow.runs.get(run.id).details
    assert details["plan"]["requests"] == 3 and details["errors"] == {"http_5xx": 2, "timeout": 1}
    quiet, _, _ = benchmarks(ScriptedClient(RequestOutcome(10.0, 10.5, error="timeout")))
    assert quiet.run_now("fake", quiet.plan(2, warmup=0)).error == "no request succeeded (timeout: 2)"


def test_an_endpoint_whose_key_variable_is_unset_fails_without_sending_anything():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client, Secrets(OTHER="x"), Resolver(**{"api.example.com": ["93.184.216.34"]}))
    use_cases.add_endpoint("keyed", "GPT-4o", "https://api.example.com/v1", "gpt-4o", "PAID_API_KEY")
    run = use_cases.run_now("keyed", use_cases.plan(3, warmup=0))
    assert run.status is RunStatus.FAILED and client.requests == []
    assert run.error == "the environment variable PAID_API_KEY (the endpoint's key) is not set"
    use_cases.secrets = Secrets(PAID_API_KEY="sk-test")
    use_cases.run_now("keyed", use_cases.plan(1, warmup=0))
    assert client.requests[-1].api_key == "sk-test" and client.requests[-1].base_url == "https://api.example.com/v1"


def test_an_unknown_endpoint_is_not_found_and_the_known_ones_are_named():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    use_cases.add_endpoint("other", "GPT-4o", "http://127.0.0.1:9/v1", "gpt-4o", None)
    with pytest.raises(NotFound, match=r"^no endpoint is named 'nope'; known: fake, other$"):
        use_cases.queue("nope", use_cases.plan(1))
    empty = BenchmarkUseCases(
        seeded_uow(), ScriptedClient(), WordTokenizer(), Secrets(), Resolver(), FakeTaskQueue(), FakeCache(),
        FixedClock(), BenchmarkSettings(),
        RecordingTelemetry(), Quotas(),
    )  # fmt: skip
    with pytest.raises(NotFound, match=r"^no endpoint is named 'x{100}'; known: none$"):
        empty.queue("x" * 150, empty.plan(1))


def test_only_operators_start_measured_runs():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    with pytest.raises(
        Forbidden, match=r"^starting a measured run needs the role operator or admin; this key is a reader key$"
    ):
        use_cases.queue("fake", use_cases.plan(1), Caller("key:1", Role.READER))
    assert use_cases.queue("fake", use_cases.plan(1), Caller("key:2", Role.OPERATOR)).requested_by == "key:2"


def test_endpoints_are_checked_and_stored_without_trailing_slashes_or_spaces():
    use_cases, _, _ = benchmarks(ScriptedClient(), resolver=Resolver(h=["93.184.216.34"]))
    added = use_cases.add_endpoint(" local ", "GPT-4o", "http://127.0.0.1:8000/v1//", " gpt-4o ", "LOCAL_API_KEY")
    assert (added.name, added.base_url, added.model, added.api_key_env) == (
        "local", "http://127.0.0.1:8000/v1", "gpt-4o", "LOCAL_API_KEY",
    )  # fmt: skip
    assert added.llm_id == next(e for e in use_cases.endpoints() if e.name == "fake").llm_id  # GPT-4o's
    with pytest.raises(InvalidParameter, match=r"^base_url must be an http\(s\) URL with a host, got 'ftp://x'$"):
        use_cases.add_endpoint("a", "GPT-4o", "ftp://x", "m", None)
    with pytest.raises(InvalidParameter, match=r"^base_url must be at most 500 characters$"):
        use_cases.add_endpoint("a", "GPT-4o", "http://" + "y" * 600, "m", None)
    with pytest.raises(InvalidParameter, match=r"^unknown LLM 'GPT-5'$") as unknown:
        use_cases.add_endpoint("b", "GPT-5", "http://h/v1", "m", None)
    assert "GPT-4o" in unknown.value.choices and unknown.value.choices == sorted(unknown.value.choices)
    with pytest.raises(Conflict, match=r"^an endpoint is already named 'fake'$"):
        use_cases.add_endpoint("fake", "GPT-4o", "http://h/v1", "m", None)


@pytest.mark.parametrize(
    ("base_url", "words"),
    [
        ("http://user:pw@h/v1", "must not carry credentials (user:password@)"),
        ("http://169.254.169.254/latest/meta-data", "link-local address 169.254.169.254, where cloud metadata"),
        ("http://[::ffff:169.254.169.254]/v1", "link-local address 169.254.169.254"),
        ("http://[fe80::1]/v1", "link-local address fe80::1"),
        ("http://metadata.google.internal/v1", "names a cloud metadata service"),
        ("http://10.0.0.5:8000/v1", "private address 10.0.0.5; allow its network in ENDPOINT_ALLOWED_NETWORKS"),
        ("http://rebound/v1", "private address 192.168.1.9"),  # a public name pointing inside
        ("http://h/v1?key=sk", "must have no query or fragment"),
        ("http://h:port/v1", "base_url is not a URL"),
        ("http://nowhere.invalid/v1", "cannot be resolved"),
    ],
)
def test_an_endpoint_cannot_point_at_metadata_services_private_networks_or_carry_credentials(base_url, words):
    resolver = Resolver(h=["93.184.216.34"], rebound=["93.184.216.34", "192.168.1.9"])
    use_cases, _, _ = benchmarks(ScriptedClient(), resolver=resolver)
    with pytest.raises(InvalidParameter, match=re.escape(words)) as refused:
        use_cases.add_endpoint("a", "GPT-4o", base_url, "m", None)
    assert refused.value.parameter == "base_url" and [e.name for e in use_cases.endpoints()] == ["fake"]


def test_private_networks_are_allowed_only_where_the_settings_say_and_link_local_never():
    allowed = networks(["127.0.0.0/8", "10.0.0.0/8", "169.254.0.0/16"])
    use_cases, _, _ = benchmarks(ScriptedClient(), allowed_networks=allowed)
    assert use_cases.add_endpoint("vpc", "GPT-4o", "http://10.1.2.3:8000/v1", "m", None).base_url.startswith(
        "http://10."
    )
    for refused in ("http://192.168.0.7:8000/v1", "http://169.254.169.254/v1"):
        with pytest.raises(InvalidParameter):
            use_cases.add_endpoint("x", "GPT-4o", refused, "m", None)


def test_an_endpoint_whose_name_comes_to_point_inside_fails_its_next_run_without_sending():
    client, resolver = ScriptedClient(ok(0.2, 1.2, 11)), Resolver(api=["93.184.216.34"])
    use_cases, _, _ = benchmarks(client, resolver=resolver)
    use_cases.add_endpoint("api", "GPT-4o", "https://api/v1", "gpt-4o", None)
    resolver.names["api"] = ["169.254.169.254"]  # DNS changed after the check
    run = use_cases.run_now("api", use_cases.plan(2, warmup=0))
    assert run.status is RunStatus.FAILED and "link-local" in run.error and client.requests == []


NAME_API_KEY = "api_key_env must name a variable such as OPENAI_API_KEY (NAME_API_KEY, not the service's own API_KEY)"


@pytest.mark.parametrize(
    ("allowed", "name", "message"),
    [
        (None, "SECRET_KEY", f"{NAME_API_KEY}, got 'SECRET_KEY'"),
        (None, "DATABASE_URL", f"{NAME_API_KEY}, got 'DATABASE_URL'"),
        (None, "API_KEY", f"{NAME_API_KEY}, got 'API_KEY'"),
        (None, "lower_api_key", f"{NAME_API_KEY}, got 'lower_api_key'"),
        (None, "A" * 150, f"{NAME_API_KEY}, got '{'A' * 100}'"),
        (("OPENAI_API_KEY",), "B" * 150, f"api_key_env '{'B' * 100}' is not one of ENDPOINT_KEY_VARIABLES"),
        (("OPENAI_API_KEY",), "ANTHROPIC_API_KEY",
         "api_key_env 'ANTHROPIC_API_KEY' is not one of ENDPOINT_KEY_VARIABLES"),
    ],
)  # fmt: skip
def test_an_endpoints_key_comes_only_from_a_variable_the_settings_allow(allowed, name, message):
    use_cases, _, _ = benchmarks(ScriptedClient(), key_variables=allowed)
    with pytest.raises(InvalidParameter, match=f"^{re.escape(message)}$") as refused:
        use_cases.add_endpoint("k", "GPT-4o", "http://127.0.0.1/v1", "m", name)
    assert (refused.value.parameter, refused.value.choices) == ("api_key_env", list(allowed) if allowed else None)
    if allowed:
        assert use_cases.add_endpoint("k", "GPT-4o", "http://127.0.0.1/v1", "m", allowed[0]).api_key_env == allowed[0]


def test_only_admins_add_endpoints_whose_names_and_models_fit_their_bounds():
    use_cases, _, _ = benchmarks(ScriptedClient())
    with pytest.raises(Forbidden, match=r"^adding an endpoint needs the role admin; this key is an operator key$"):
        use_cases.add_endpoint("a", "GPT-4o", "http://127.0.0.1/v1", "m", None, Caller("key:3", Role.OPERATOR))
    widest = use_cases.add_endpoint("n" * 100, "GPT-4o", "http://127.0.0.1/v1", "m" * 200, None)
    assert (len(widest.name), len(widest.model)) == (100, 200)
    for name, model, wrong in (("n" * 101, "m", "name"), (" ", "m", "name"), ("a", "m" * 201, "model"),
                               ("a", "  ", "model")):  # fmt: skip
        with pytest.raises(InvalidParameter) as refused:
            use_cases.add_endpoint(name, "GPT-4o", "http://127.0.0.1/v1", model, None)
        bound = 100 if wrong == "name" else 200
        told = f"an endpoint needs a {wrong} of 1 to {bound} characters"
        assert (str(refused.value), refused.value.parameter) == (told, wrong)
    for model in ("", " ", "m" * 201):  # nor can a change leave it without one
        with pytest.raises(InvalidParameter, match=r"^an endpoint needs a model of 1 to 200 characters$"):
            use_cases.change_endpoint("n" * 100, {"model": model})
    assert use_cases.change_endpoint("n" * 100, {"model": "m" * 200}).model == "m" * 200


def test_admins_change_and_remove_endpoints_but_one_with_runs_is_kept():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    operator = Caller("key:3", Role.OPERATOR)
    with pytest.raises(Forbidden, match=r"^changing an endpoint needs the role admin; this key is an operator key$"):
        use_cases.change_endpoint("fake", {"model": "gpt-4o-mini"}, operator)
    changed = use_cases.change_endpoint("fake", {"model": "gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"})
    assert (changed.model, changed.api_key_env) == ("gpt-4o-mini", "OPENAI_API_KEY")
    with pytest.raises(InvalidParameter, match="link-local"):
        use_cases.change_endpoint("fake", {"base_url": "http://169.254.169.254/v1"})
    moved = use_cases.change_endpoint(
        "fake", {"base_url": "http://127.0.0.1:8001/v1/", "max_tokens_field": "max_completion_tokens"}
    )
    assert (moved.base_url, moved.max_tokens_field) == (
        "http://127.0.0.1:8001/v1",
        MaxTokensField.MAX_COMPLETION_TOKENS,
    )
    with pytest.raises(InvalidParameter, match=r"^api_key_env must name a variable such as OPENAI_API_KEY") as refused:
        use_cases.change_endpoint("fake", {"api_key_env": "SECRET_KEY"})
    assert refused.value.parameter == "api_key_env" and use_cases.endpoint("fake").api_key_env == "OPENAI_API_KEY"
    with pytest.raises(Forbidden, match=r"^removing an endpoint needs the role admin; this key is an operator key$"):
        use_cases.remove_endpoint("fake", operator)
    with pytest.raises(InvalidParameter, match=r"^an endpoint's llm_id cannot be changed$") as refused:
        use_cases.change_endpoint("fake", {"llm_id": 3})
    assert refused.value.choices == ["base_url", "model", "api_key_env", "max_tokens_field", "stream_usage"]
    use_cases.add_endpoint("spare", "GPT-4o", "http://127.0.0.1:9/v1", "m", None)
    use_cases.remove_endpoint("spare")
    assert [e.name for e in use_cases.endpoints()] == ["fake"]
    use_cases.secrets = Secrets(OPENAI_API_KEY="sk")
    use_cases.run_now("fake", use_cases.plan(1, warmup=0))
    with pytest.raises(Conflict, match=r"^endpoint 'fake' has measured runs or sweeps, which keep it$"):
        use_cases.remove_endpoint("fake")
    with pytest.raises(NotFound, match="no endpoint is named 'spare'; known: fake"):
        use_cases.remove_endpoint("spare")


def test_an_endpoint_names_the_field_its_api_reads_the_output_limit_from_and_its_requests_use_it():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    assert use_cases.endpoints()[0].max_tokens_field is MaxTokensField.MAX_TOKENS
    with pytest.raises(InvalidParameter, match=r"^unknown max_tokens_field 'max_new_tokens'$") as refused:
        use_cases.add_endpoint("o", "GPT-4o", "http://127.0.0.1:9/v1", "o4", None, max_tokens_field="max_new_tokens")
    assert refused.value.choices == ["max_tokens", "max_completion_tokens"]
    assert [e.name for e in use_cases.endpoints()] == ["fake"]
    changed = use_cases.change_endpoint("fake", {"max_tokens_field": "max_completion_tokens"})
    assert changed.max_tokens_field is MaxTokensField.MAX_COMPLETION_TOKENS
    with pytest.raises(InvalidParameter, match=r"^unknown max_tokens_field 'y{50}'$") as refused:
        use_cases.change_endpoint("fake", {"max_tokens_field": "y" * 80})
    assert refused.value.parameter == "max_tokens_field"
    use_cases.run_now("fake", use_cases.plan(1, warmup=0, max_tokens=7))
    assert [(r.max_tokens_field, r.max_tokens) for r in client.requests] == [("max_completion_tokens", 7)]


def test_an_endpoint_says_whether_its_requests_ask_for_usage_in_the_stream():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    assert use_cases.endpoints()[0].stream_usage is True  # exact counts where the API offers them
    strict = use_cases.add_endpoint("strict", "GPT-4o", "http://127.0.0.1:9/v1", "m", None, stream_usage=False)
    assert strict.stream_usage is False
    use_cases.run_now("fake", use_cases.plan(1, warmup=0))
    assert use_cases.change_endpoint("fake", {"stream_usage": False}).stream_usage is False
    use_cases.run_now("fake", use_cases.plan(1, warmup=0))
    assert [r.stream_usage for r in client.requests] == [True, False]


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("requests", 0, "between 1 and 10000"), ("requests", 10_001, "between 1 and 10000"),
        ("concurrency", 0, "between 1 and 1000"), ("concurrency", 1001, "between 1 and 1000"),
        ("warmup", -1, "between 0 and 100"), ("warmup", 101, "between 0 and 100"),
        ("max_tokens", 0, "between 1 and 8192"), ("max_tokens", 8193, "between 1 and 8192"),
        ("rate", 0, "above 0 and at most 1000"), ("rate", 1000.5, "above 0 and at most 1000"),
    ],
)  # fmt: skip
def test_each_field_of_a_plan_is_checked_and_named(field, value, words):
    with pytest.raises(InvalidParameter, match=rf"^{field} must be {words}, got {value}$") as refused:
        BenchmarkPlan(**{"requests": 10, field: value})
    assert refused.value.parameter == field


def test_a_plan_from_plain_values_takes_every_field_of_a_request_and_names_what_does_not_fit():
    fields = {"requests": 20, "concurrency": 2, "rate": 4.0, "burstiness": 0.5, "warmup": 1, "max_tokens": 64,
              "reuse_connections": False, "slo": {"ttft_ms": 500}, "workload": {"input_tokens": 32},
              "force_output": True}  # fmt: skip
    plan = plan_from(fields, BenchmarkSettings())
    expected = BenchmarkPlan(**fields | {"slo": Slo(ttft_ms=500), "workload": Workload(input_tokens=32)})
    assert plan == expected and set(fields) == set(PLAN_FIELDS)
    with pytest.raises(InvalidParameter, match=r"^unknown plan field 'prompt'$") as refused:
        plan_from({"requests": 1, "prompt": "hi"}, BenchmarkSettings())
    assert refused.value.choices == list(PLAN_FIELDS)
    for misfit in ({"concurrency": 2}, {"requests": 1, "slo": {"ttft": 5}}):
        with pytest.raises(InvalidParameter, match=r"^the plan does not fit: .*(requests|ttft)") as refused:
            plan_from(misfit, BenchmarkSettings())
        assert refused.value.choices == list(PLAN_FIELDS)


def test_a_checked_plan_cannot_be_changed_past_its_checks():
    plan = BenchmarkPlan(requests=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.requests = 10**9  # type: ignore[misc]


def test_the_default_benchmark_settings_and_plan_are_the_documented_ones():
    settings = BenchmarkSettings()
    assert (settings.max_tokens, settings.timeout_s, settings.warmup, settings.max_duration_s) == (256, 60.0, 2, 600.0)
    assert settings.prompt.startswith("Explain, in about three hundred words, how a hash table resolves collisions")
    assert settings.prompt.endswith("compare separate chaining with open addressing.")
    assert (settings.streams_per_worker, settings.shard_start_delay_s) == (400, 5.0)
    plan = BenchmarkPlan(requests=5)
    assert (plan.concurrency, plan.rate, plan.burstiness, plan.warmup, plan.max_tokens) == (1, None, 1.0, 2, 256)
    # Kept-alive connections, no SLO, the settings' prompt, replies of any length up to max_tokens.
    assert (plan.reuse_connections, plan.slo, plan.workload, plan.prompts, plan.force_output) == (True, None, None,
                                                                                                 (), False)  # fmt: skip


def test_progress_is_reported_after_each_request_and_the_run_is_seeded_for_its_arrivals():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    heard: list[tuple[int, int]] = []
    run = use_cases.run_now("fake", use_cases.plan(3, warmup=0), progress=lambda done, of: heard.append((done, of)))
    assert heard == [(1, 3), (2, 3), (3, 3)]
    other = use_cases.queue("fake", use_cases.plan(3))
    assert 0 <= run.seed < 2**63 and other.seed != run.seed


def test_poisson_arrivals_of_a_measured_run_repeat_with_its_seed(monkeypatch):
    use_cases, uow, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))

    def arrivals(seed: int) -> list[float]:
        with monkeypatch.context() as patched:
            clock = VirtualTime(patched)
            run = use_cases.queue("fake", use_cases.plan(20, rate=5.0, warmup=0))
            uow.store.runs[run.id].seed = seed
            use_cases.execute(run.id)
        return clock.arrivals

    assert arrivals(11) == arrivals(11) != arrivals(12)


def test_requests_a_poisson_run_could_not_send_within_the_time_cap_are_counted(monkeypatch):
    VirtualTime(monkeypatch)
    use_cases, uow, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)), max_duration_s=2.0)
    queued = use_cases.queue("fake", BenchmarkPlan(10, rate=2.0, warmup=0))  # 5 s expected: past the cap
    uow.store.runs[queued.id].seed = 1  # any seed but the 0.8% whose 10 arrivals all come within 2 s
    run = use_cases.execute(queued.id)
    sent = run.details["requests_sent"]
    assert 1 <= sent < 10 and run.details["not_sent_duration_cap"] == 10 - sent


def test_seeds_of_measured_runs_are_63_bit_and_plans_default_to_one_request_at_a_time():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    assert use_cases.plan(5).concurrency == 1
    seeds = [use_cases.run_now("fake", use_cases.plan(1, warmup=0)).seed for _ in range(64)]
    assert all(0 <= seed < 2**63 for seed in seeds) and len(set(seeds)) == 64  # 64 bits would pass 2^63 half the time


def test_a_completed_run_is_returned_as_it_is_when_its_message_comes_again():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    run = use_cases.run_now("fake", use_cases.plan(2, warmup=0))
    again = use_cases.execute(run.id)
    assert again.status is RunStatus.COMPLETED and len(client.requests) == 2


def test_a_failed_request_has_no_first_token_no_tokens_and_no_client_time():
    failed = RequestOutcome(1.0, 1.5, error="timeout")
    assert (failed.first_token_at, failed.output_tokens, failed.input_tokens) == (None, 0, None)
    assert (failed.tokens_from_usage, failed.client_overhead_s) == (False, 0.0)


def test_requests_per_second_is_the_successes_over_the_wall_time():
    outcomes = [ok(0.1, 0.5, 3), ok(0.1, 0.5, 3), RequestOutcome(1.0, 1.1, error="timeout")]
    details = measurement_details(outcomes, wall=4.0, tokenizer="words")
    assert details["requests_per_second"] == 0.5 and details["wall_seconds"] == 4.0
    assert details["tokens_counted_by"] == "usage" and details["output_tokens"]["mean"] == 3
    assert measurement_details([], wall=0.0, tokenizer="words")["requests_per_second"] == 0.0


def test_the_details_of_a_run_hold_known_values():
    def outcome(finished, first, tokens, inputs, overhead, counted):
        return RequestOutcome(0.0, finished, first, tokens, inputs, tokens_from_usage=True, client_overhead_s=overhead,
                              tokenizer_tokens=counted, prompt_tokens=12)  # fmt: skip

    outcomes = [
        outcome(1.0, 0.2, 5, 20, 0.002, 4),  # 4 gaps in 0.8 s: 200 ms each
        outcome(2.0, 0.5, 4, 30, 0.004, 4),  # 3 gaps in 1.5 s: 500 ms each
        outcome(0.3, 0.3, 1, None, 0.003, 3),  # one token: no gap to time
        outcome(0.4, 0.4, 3, None, 0.003, 3),  # every token at the end: no time to divide
        RequestOutcome(0.0, 0.5, error="timeout", client_overhead_s=0.001),
    ]
    assert measurement_details(outcomes, wall=4.0, tokenizer="words") == {
        "definitions": DEFINITIONS_VERSION, "requests_sent": 5, "completed": 4, "errors": {"timeout": 1},
        "first_errors": {},
        "wall_seconds": 4.0, "requests_per_second": 1.0, "output_tokens_per_second": 13 / 4.0,
        "mean_in_flight": pytest.approx((1.0 + 2.0 + 0.3 + 0.4 + 0.5) / 4.0),  # the failed request's 0.5 s too
        "ttft_ms": {"mean": pytest.approx(350.0), "p50": pytest.approx(350.0), "p99": pytest.approx(497.0)},
        "e2e_latency_ms": {"mean": pytest.approx(925.0), "p50": pytest.approx(700.0), "p99": pytest.approx(1970.0)},
        "inter_chunk_latency_ms": None,
        "inter_token_latency_ms": {"mean": pytest.approx(350.0), "p50": pytest.approx(350.0),
                                   "p99": pytest.approx(497.0)},
        "output_tokens": {"mean": 3.25, "p50": 3.5, "p99": pytest.approx(4.97)},
        "input_tokens": {"mean": 25.0, "p50": 25.0, "p99": pytest.approx(29.9)},
        "tokens_counted_by": "usage", "tokenizer": "words",
        "usage_minus_tokenizer_tokens": {"mean": -0.25, "p50": 0.0, "p99": pytest.approx(0.97)},
        "usage_minus_prompt_tokens": {"mean": 13.0, "p50": 13.0, "p99": pytest.approx(17.9)},  # 20 and 30 of 12
        "client_overhead_ms": {"mean": pytest.approx(2.6), "p50": pytest.approx(3.0), "p99": pytest.approx(3.96)},
    }  # fmt: skip


def test_tokens_are_said_to_be_counted_by_the_tokenizer_unless_every_success_had_a_usage_report():
    counted = RequestOutcome(0.0, 1.0, 0.2, 5, tokens_from_usage=False)
    assert measurement_details([ok(0.1, 0.5, 3), counted], 1.0, "words")["tokens_counted_by"] == "tokenizer"
    timed_out = RequestOutcome(0.0, 1.0, error="timeout")
    assert measurement_details([timed_out], 1.0, "words")["tokens_counted_by"] == "tokenizer"


def test_replies_are_counted_by_the_tokenizer_whole_and_chunk_by_chunk_after_the_run():
    split = (Chunk(0.2, " hel"), Chunk(0.3, "lo there"), Chunk(0.4, "", "thinking aloud"))
    without_usage = RequestOutcome(0.0, 1.0, 0.2, chunks=split)
    with_usage = RequestOutcome(0.0, 1.0, 0.2, 9, tokens_from_usage=True, chunks=split)
    failed = RequestOutcome(0.0, 1.0, error="broken_stream", chunks=split[:1])
    counted = count_tokens([without_usage, with_usage, failed], WordTokenizer())
    assert [(c.content_tokens, c.reasoning_tokens) for c in counted[0].chunks] == [(1, 0), (2, 0), (0, 2)]
    assert [(o.output_tokens, o.tokenizer_tokens) for o in counted] == [(2, 2), (9, 2), (0, 1)]  # " hello there"
    by_characters = count_tokens([without_usage], CharacterTokenizer())[0]
    assert by_characters.output_tokens == len(" hello there")  # the chunks' contents joined as they came


def test_speed_is_stored_only_for_requests_with_time_between_tokens_and_rps_once_per_run():
    one_token, all_at_the_end = (
        RequestOutcome(10.0, 10.3, 10.3, 1, 25, True),
        RequestOutcome(10.0, 10.4, 10.4, 3, 25, True),
    )
    use_cases, uow, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 2), one_token, all_at_the_end))
    run = use_cases.run_now("fake", use_cases.plan(3, warmup=0))
    assert list(stored(uow, run, "TPS")) == pytest.approx([1.0])  # one token after the first, in 1.0 s
    assert list(stored(uow, run, "RPS")) == [run.details["requests_per_second"]]
    assert {sample[4] for sample in uow.store.samples} == {FixedClock().now().date()}  # the day retention reads
    assert run.details["not_sent_duration_cap"] == 0


class VirtualTime:
    """A clock that moves only when the load loop sleeps until its next arrival: arrival schedules
    without waiting for them. Installed as the load module's `time` and its event loop's sleep."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = 0.0
        self.arrivals: list[float] = []
        self.yield_to_others = asyncio.sleep
        monkeypatch.setattr(load, "time", self)
        monkeypatch.setattr(load.asyncio, "sleep", self.sleep)

    def perf_counter(self) -> float:
        return self.now

    def thread_time(self) -> float:
        return 0.0  # no CPU time passes in virtual time

    def time(self) -> float:
        return 1_800_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        self.arrivals.append(self.now)
        await self.yield_to_others(0)


def test_poisson_arrivals_follow_their_rate_and_repeat_with_their_seed(monkeypatch):
    def schedule(seed: int) -> list[float]:
        with monkeypatch.context() as patched:
            clock = VirtualTime(patched)
            on_own_loop(drive(answer(ok(0.1, 0.2, 3)), 2000, LoadShape(concurrency=1, rate=20.0), seed=seed))
        return clock.arrivals

    first, again, other = schedule(7), schedule(7), schedule(8)
    assert len(first) == 2000 and first == again and first != other
    gaps = np.diff([0.0, *first])
    assert np.mean(gaps) == pytest.approx(1 / 20.0, rel=0.07)  # 2,000 exponential gaps: within ~4.5% (2 sigma)
    assert np.std(gaps) == pytest.approx(np.mean(gaps), rel=0.1)  # exponential: the std is the mean


def test_poisson_arrivals_stop_at_the_time_cap_and_the_wall_time_is_the_clocks(monkeypatch):
    clock = VirtualTime(monkeypatch)
    heard: list[RequestOutcome] = []
    shape = LoadShape(concurrency=1, rate=20.0)
    sending = drive(answer(ok(0.1, 0.2, 3)), 2000, shape, seed=3, on_done=heard.append, max_seconds=10.0)
    outcomes, wall, lateness, held = on_own_loop(sending)
    assert 150 < len(clock.arrivals) < 250 and max(clock.arrivals) <= 10.0  # 200 expected in 10 s at 20/s
    assert len(outcomes) == len(clock.arrivals) and heard == outcomes
    assert wall == clock.now == clock.arrivals[-1]
    assert lateness == [0.0] * len(outcomes) and held == 0  # on virtual time every arrival leaves on the dot


def test_an_arrival_held_back_by_the_plans_most_in_flight_is_counted_and_not_as_the_clients_lateness():
    """200 arrivals a second, one in flight at most, each request 50 ms: every arrival but the first
    waits for the slot, the last about 0.9 s. The plan holds them back; counted as the client's
    lateness, they made the run client-bound (a rate sweep at the default concurrency of 1 stopped
    so at its first stage)."""

    async def slow() -> RequestOutcome:
        await asyncio.sleep(0.05)
        return ok(0.1, 0.2, 3)

    outcomes, wall, lateness, held = on_own_loop(drive(slow, 20, LoadShape(concurrency=1, rate=200.0), seed=1))
    assert len(outcomes) == 20 and wall >= 20 * 0.05  # one at a time
    assert held == 19 and len(lateness) == 20 and max(lateness) < 0.05  # the event loop's own delays only
    assert on_own_loop(drive(slow, 4, LoadShape(concurrency=2))).held == 0  # back to back: none arrives early


def test_the_garbage_collector_waits_while_requests_are_timed_and_resumes_after():
    collecting: list[bool] = []

    async def send() -> RequestOutcome:
        collecting.append(gc.isenabled())
        await asyncio.sleep(0.01)
        return ok(0.1, 0.2, 3)

    run = on_own_loop(watched(drive(send, 4, LoadShape(concurrency=2))))
    assert collecting == [False] * 4 and gc.isenabled() and len(run.driven.outcomes) == 4
    assert run.lags and run.cpu_s >= 0


def test_a_load_shape_describes_itself_in_the_words_of_the_run_details():
    assert LoadShape(concurrency=4).describe() == {"shape": "fixed_concurrency", "concurrency": 4}
    assert LoadShape(concurrency=8, rate=2.5).describe() == {
        "shape": "poisson", "rate_per_second": 2.5, "max_concurrency": 8,
    }  # fmt: skip


def test_two_output_tokens_time_one_gap_and_two_chunks_one_chunk_gap():
    two = replace(ok(0.2, 0.5, 2), chunks=(Chunk(0.2, "a"), Chunk(0.45, "b")))  # at 10.2 and 10.45 s
    details = measurement_details([two], 1.0, "words")
    assert details["inter_token_latency_ms"]["p50"] == pytest.approx(300.0)  # (0.5 - 0.2) s over 1 gap
    assert details["inter_chunk_latency_ms"]["p50"] == pytest.approx(250.0)
    assert measures.samples([two], 1.0)["TPS"] == pytest.approx([1 / 0.3])


def test_an_slo_report_of_no_requests_attains_nothing():
    assert slo_report([], 0.0, Slo(ttft_ms=100)) == {"good_requests": 0, "attainment": 0.0, "goodput_rps": 0.0,
                                                    "met": False}  # fmt: skip


def test_poisson_gaps_are_exponential_draws_and_other_burstiness_gamma_draws_of_the_same_mean():
    # Poisson schedules are drawn as before gamma arrivals came: a seed keeps its schedule.
    assert LoadShape(1, rate=5.0).gap(random.Random(3)) == random.Random(3).expovariate(5.0)
    assert LoadShape(1, rate=5.0, burstiness=0.5).gap(random.Random(3)) == random.Random(3).gammavariate(0.5, 0.4)


def test_the_client_cpu_of_a_watched_run_is_what_its_thread_spent_meanwhile():
    def burn(seconds: float) -> None:
        until = time.thread_time() + seconds
        while time.thread_time() < until:
            pass

    async def busy() -> None:
        burn(0.2)

    async def measured() -> float:
        burn(0.3)  # the thread's time before the run: not the run's
        return (await watched(busy())).cpu_s

    assert 0.2 <= on_own_loop(measured()) < 0.4


def answer(outcome: RequestOutcome):
    async def send() -> RequestOutcome:
        return outcome

    return send


def test_fixed_concurrency_never_has_more_requests_in_flight_than_asked():
    in_flight, most = 0, 0

    async def load_of_four() -> Driven:
        gate = asyncio.Barrier(4)

        async def send() -> RequestOutcome:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            await asyncio.wait_for(gate.wait(), 5)  # four at a time, exactly: a fifth would wait here for ever
            in_flight -= 1
            return ok(0.1, 0.2, 3)

        return await drive(send, 40, LoadShape(concurrency=4), on_done=heard.append)

    heard: list[RequestOutcome] = []
    outcomes, wall = on_own_loop(load_of_four())[:2]
    assert len(outcomes) == 40 and most == 4 and sorted(map(id, heard)) == sorted(map(id, outcomes))
    assert 0 < wall < 5


def test_requests_begin_one_a_turn_of_the_event_loop_so_reads_are_stamped_between_starts():
    """When many requests end together their successors do not start in one burst: a read
    that arrived meanwhile waits for at most one start, not for all of them."""
    events: list[str] = []

    async def send() -> RequestOutcome:
        events.append("start")
        return ok(0.1, 0.2, 3)

    async def stream_reading_every_turn() -> None:
        while True:
            events.append("read")
            await asyncio.sleep(0)

    async def fifty_at_once() -> None:
        reading = asyncio.create_task(stream_reading_every_turn())
        await drive(send, 50, LoadShape(concurrency=50))
        reading.cancel()

    on_own_loop(fifty_at_once())
    assert events.count("start") == 50
    assert ("start", "start") not in set(pairwise(events))


def test_a_thousand_requests_are_in_flight_at_once_on_one_event_loop():
    in_flight, most = 0, 0

    async def thousand() -> Driven:
        everyone = asyncio.Event()

        async def send() -> RequestOutcome:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            if in_flight == 1000:
                everyone.set()
            await asyncio.wait_for(everyone.wait(), 5)
            in_flight -= 1
            return ok(0.1, 0.2, 3)

        return await drive(send, 1000, LoadShape(concurrency=1000))

    outcomes = on_own_loop(thousand()).outcomes
    assert len(outcomes) == 1000 and most == 1000


def test_a_run_connects_once_keeping_connections_or_not_as_its_plan_says_with_its_concurrency_as_the_limit():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    use_cases.run_now("fake", use_cases.plan(6, concurrency=3, warmup=3))
    use_cases.run_now("fake", use_cases.plan(2, warmup=0, reuse_connections=False))
    assert client.connections == [(True, 3), (False, 1)] and len(client.requests) == 11


@pytest.mark.parametrize("rate", [None, 50.0])
def test_no_request_starts_after_the_duration_cap(rate):
    starts: list[float] = []

    async def send() -> RequestOutcome:
        starts.append(time.perf_counter())
        await asyncio.sleep(0.02)
        return ok(0.01, 0.02, 3)

    began = time.perf_counter()
    outcomes = on_own_loop(drive(send, 1000, LoadShape(concurrency=2, rate=rate), max_seconds=0.2)).outcomes
    assert 1 <= len(outcomes) == len(starts) < 1000
    assert max(starts) - began < 0.2 + 0.05  # none started after the cap (give or take a wake-up)


def test_a_request_record_holds_its_timeline_from_when_it_was_sent():
    answered = RequestOutcome(
        started=10.5, finished=11.5, first_token_at=10.8, output_tokens=3, input_tokens=7, tokens_from_usage=True,
        client_overhead_s=0.0012345678, connect_s=0.002, headers_at=10.6, first_chunk_at=10.7,
        first_reasoning_at=10.7, tokenizer_tokens=3, prompt_tokens=5,
        chunks=(Chunk(10.7, "", "think", 0, 1), Chunk(10.8, "one", "", 1, 0), Chunk(11.0, "two three", "", 2, 0)),
        finish_reason="stop", usage={"prompt_tokens": 7, "completion_tokens": 3},
    )  # fmt: skip
    timed_out = RequestOutcome(started=10.9, finished=11.2, error="timeout", error_detail="no answer")
    assert timelines.records([timed_out, answered], origin=10.0) == [
        {"request": 0, "sent_s": 0.5, "connect_s": 0.002, "headers_s": 0.1, "first_chunk_s": 0.2,
         "first_reasoning_s": 0.2, "first_token_s": 0.3, "end_s": 1.0,
         "chunks": [[0.2, 0, 1], [0.3, 1, 0], [0.5, 2, 0]], "output_tokens": 3, "tokenizer_tokens": 3,
         "prompt_tokens": 5, "input_tokens": 7,
         "tokens_from_usage": True,
         "usage": {"prompt_tokens": 7, "completion_tokens": 3}, "finish_reason": "stop", "error": None,
         "error_detail": None, "client_overhead_s": 0.001235},
        {"request": 1, "sent_s": 0.9, "connect_s": 0.0, "headers_s": None, "first_chunk_s": None,
         "first_reasoning_s": None, "first_token_s": None, "end_s": 0.3, "chunks": [], "output_tokens": None,
         "tokenizer_tokens": None, "prompt_tokens": None,
         "input_tokens": None, "tokens_from_usage": False, "usage": None, "finish_reason": None, "error": "timeout",
         "error_detail": "no answer", "client_overhead_s": 0.0},
    ]  # fmt: skip


def test_a_measured_run_keeps_every_request_it_sent_errors_too_and_no_warm_up():
    client = ScriptedClient(ok(0.2, 1.2, 11), RequestOutcome(10.0, 10.5, error="http_5xx"))
    use_cases, _, _ = benchmarks(client)
    run = use_cases.run_now("fake", use_cases.plan(4, warmup=2))
    kept = use_cases.requests(run.id)
    assert len(client.requests) == 6 and [r["request"] for r in kept] == [0, 1, 2, 3]
    assert [r["error"] for r in kept] == [None, "http_5xx", None, "http_5xx"]  # warm-ups took the script's first two
    assert [r["first_token_s"] for r in kept] == [pytest.approx(0.2), None, pytest.approx(0.2), None]


def test_requests_are_asked_of_measured_runs_and_go_with_the_raw_samples():
    use_cases, uow, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))
    with pytest.raises(NotFound, match=r"^run 99 does not exist$"):
        use_cases.requests(99)
    queued = use_cases.queue("fake", use_cases.plan(2, warmup=0))
    with pytest.raises(Conflict, match=rf"^run {queued.id} is queued: requests are kept when a run completes$"):
        use_cases.requests(queued.id)
    run = use_cases.run_now("fake", use_cases.plan(2, warmup=0))
    simulations = SimulationUseCases(uow, FakeTaskQueue(), FakeCache(), use_cases.clock, SimulationSettings(),
                                     RecordingTelemetry(), Quotas())  # fmt: skip
    simulated = simulations.queue(seed=1, samples_per_pair=2)
    with pytest.raises(NotFound, match=rf"^run {simulated.id} is simulated: only measured runs send requests$"):
        use_cases.requests(simulated.id)
    simulations.clock.advance(timedelta(days=SimulationSettings().retention_days))
    simulations.purge_expired_samples()
    assert len(use_cases.requests(run.id)) == 2  # kept as long as the samples: the retention's last day
    simulations.clock.advance(timedelta(days=1))
    simulations.purge_expired_samples()
    with pytest.raises(
        NotFound, match=rf"^run {run.id}'s requests are no longer kept \(they go with its raw samples\)$"
    ):
        use_cases.requests(run.id)


def test_inter_chunk_latency_pools_every_gap_between_text_chunks_of_completed_requests():
    def streamed(*arrivals: float, error: str | None = None) -> RequestOutcome:
        chunks = tuple(Chunk(at, " word") for at in arrivals)
        return RequestOutcome(0.0, 1.0, arrivals[0], len(arrivals), chunks=chunks, error=error)

    # Gaps of 100, 200, 100 and 100, 300 ms; a failed request's are left out.
    outcomes = [streamed(0.1, 0.2, 0.4, 0.5), streamed(0.5, 0.6, 0.9), streamed(0.1, 0.9, error="broken_stream")]
    details = measurement_details(outcomes, wall=2.0, tokenizer="words")
    assert details["inter_chunk_latency_ms"] == {
        "mean": pytest.approx(160.0),
        "p50": pytest.approx(100.0),
        "p99": pytest.approx(296.0),
    }
    assert details["output_tokens_per_second"] == 7 / 2.0  # the completed requests' tokens over the duration


def test_the_self_check_names_each_limit_the_client_passed():
    limits = ClientLimits(loop_lag_ms=20.0, cpu_share=0.9)
    # 1,000 punctual firings (11 ms of time each) and one of 60 ms: the stall is 0.5% of the time.
    kept_up = self_check([0.001] * 1000 + [0.05], cpu_s=1.0, wall=2.0, lateness_s=[], limits=limits)
    assert kept_up["reasons"] == [] and kept_up["arrival_lateness_ms"] is None and kept_up["client_cpu"] == 0.5
    assert kept_up["loop_lag_ms"] == {"p50": 1.0, "p95": 1.0, "p99": 1.0, "max": 50.0}
    lagging = self_check([0.03] * 100, cpu_s=0.95, wall=1.0, lateness_s=[0.001, 0.025], limits=limits)
    assert lagging["reasons"] == [
        "the client's event loop lagged 30 ms at p99 (limit 20 ms)",
        "arrivals left 25 ms late at p95 (limit 20 ms)",
        "the client's event loop used 95% of a core (limit 90%)",
    ]


def test_a_client_exactly_at_its_limits_kept_up_and_a_run_of_no_time_used_no_cpu():
    limits = ClientLimits(loop_lag_ms=15.625, cpu_share=0.5)  # 15.625 ms: 1/64 s, exact in binary
    at_limits = self_check([1 / 64] * 100, cpu_s=0.5, wall=1.0, lateness_s=[1 / 64] * 20, limits=limits)
    assert at_limits["reasons"] == [] and at_limits["loop_lag_ms"]["p99"] == 15.625
    assert self_check([], cpu_s=0.5, wall=0.0, lateness_s=[], limits=limits)["client_cpu"] == 0.0
    spread = self_check([], 0.0, 1.0, [i / 1000 for i in range(1, 101)], limits)["arrival_lateness_ms"]
    assert spread == pytest.approx({"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0})  # 1 to 100 ms
    nothing = measurement_details([], 0.0, "words")
    assert (nothing["requests_per_second"], nothing["output_tokens_per_second"], nothing["mean_in_flight"]) == (0, 0, 0)


def test_the_self_check_of_several_clients_takes_the_worst_of_each_figure_and_names_who_passed_a_limit():
    limits = ClientLimits(loop_lag_ms=20.0, cpu_share=0.9)
    calm = self_check([0.001] * 100, cpu_s=0.2, wall=1.0, lateness_s=[0.001] * 10, limits=limits)
    busy = self_check([0.03] * 100, cpu_s=0.5, wall=1.0, lateness_s=[0.03] * 10, limits=limits)
    unpaced = self_check([0.002] * 100, cpu_s=0.1, wall=1.0, lateness_s=[], limits=limits)  # no arrival rate
    for checks, names in (([calm, busy, unpaced], ["a", "b", "c"]), ([unpaced, busy, calm], ["c", "b", "a"])):
        worst = worst_check(checks, names)
        assert (
            worst["loop_lag_ms"] == busy["loop_lag_ms"] and worst["arrival_lateness_ms"] == busy["arrival_lateness_ms"]
        )
        assert worst["client_cpu"] == 0.5 and worst["reasons"] == [f"b: {reason}" for reason in busy["reasons"]]


def test_the_loop_lag_is_weighed_by_the_time_each_firing_stood_for():
    # 99 punctual firings and one 500 ms stall: 1% of the firings, but a third of the run's time,
    # and every token that arrived in it was stamped late.
    stalled = self_check([0.001] * 99 + [0.5], cpu_s=0.5, wall=1.6, lateness_s=[], limits=ClientLimits())
    assert stalled["loop_lag_ms"]["p50"] == 1.0 and stalled["loop_lag_ms"]["p95"] == 500.0
    assert stalled["reasons"] == ["the client's event loop lagged 500 ms at p99 (limit 20 ms)"]


class BlockingClient(ScriptedClient):
    """Holds the event loop in its own code, as a client overwhelmed by its streams does."""

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        time.sleep(0.06)
        return await super().stream(request)


def test_a_run_whose_client_was_the_bottleneck_is_kept_but_ranked_only_when_asked_for_by_id():
    use_cases, uow, _ = benchmarks(BlockingClient(ok(0.2, 1.2, 11)), client_limits=ClientLimits(loop_lag_ms=20.0))
    run = use_cases.run_now("fake", use_cases.plan(8, warmup=0))
    assert run.status is RunStatus.COMPLETED and run.invalid.startswith("client-bound: the client's event loop lagged")
    assert run.details["self_check"]["loop_lag_ms"]["p99"] > 20 and run.details["self_check"]["reasons"]
    rankings = RankingUseCases(uow, use_cases.clock)
    assert rankings.rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED)).entries == ()
    assert rankings.rank_metric("TTFT", scope=Scope(window=Window.DAY, source=RunSource.MEASURED)).entries == ()
    alone = rankings.rank_metric("TTFT", scope=Scope(run_id=run.id))
    assert [entry.subject.name for entry in alone.entries] == ["GPT-4o"]


def test_a_run_whose_client_kept_up_says_so_and_is_ranked():
    class Paced(ScriptedClient):
        async def stream(self, request: ChatRequest) -> RequestOutcome:
            await asyncio.sleep(0.02)  # waiting on the endpoint, as a real stream does
            return await super().stream(request)

    # Limits well above a busy host's noise: a client that only waits never reaches them.
    use_cases, uow, _ = benchmarks(Paced(ok(0.2, 1.2, 11)), client_limits=ClientLimits(loop_lag_ms=200.0))
    run = use_cases.run_now("fake", use_cases.plan(10, concurrency=2, rate=50.0, warmup=0))
    check = run.details["self_check"]
    assert run.invalid is None and check["reasons"] == [] and check["client_cpu"] < 0.9
    assert check["arrival_lateness_ms"]["p50"] < 20 and check["loop_lag_ms"]["p50"] < 20
    ranked = RankingUseCases(uow, use_cases.clock).rank_metric("TTFT", scope=Scope(source=RunSource.MEASURED))
    assert [entry.subject.name for entry in ranked.entries] == ["GPT-4o"]
    # At 500 a second with one slot and 20 ms a request, every arrival but the first waits for it.
    held = use_cases.run_now("fake", use_cases.plan(10, concurrency=1, rate=500.0, warmup=0))
    assert held.invalid is None and held.details["arrivals_held_back"] == 9


class BrokenClient(ScriptedClient):
    """A client with a fault of its own (a bug, not an endpoint's error, which it would report)."""

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        raise RuntimeError("x" * 400)


def test_a_fault_of_the_client_fails_the_run_naming_its_first_error_and_is_raised():
    use_cases, uow, _ = benchmarks(BrokenClient())
    queued = use_cases.queue("fake", use_cases.plan(3, concurrency=3, warmup=0))
    with pytest.raises(ExceptionGroup):
        use_cases.execute(queued.id)
    assert uow.store.runs[queued.id].error == "RuntimeError: " + "x" * 400


def test_a_run_is_measured_even_from_a_thread_whose_event_loop_is_running():
    """As under a browser driver or an async server: the run gets a loop of its own."""
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11)))

    async def caller() -> RunStatus:
        return use_cases.run_now("fake", use_cases.plan(2, warmup=0)).status

    assert on_own_loop(caller()) is RunStatus.COMPLETED  # the caller's own loop runs while it waits


def test_a_good_request_completed_and_met_every_threshold_of_the_slo():
    outcomes = [
        ok(0.5, 1.5, 11),  # ITL 100 ms
        ok(0.2, 0.7, 11),  # TTFT 200 ms, ITL 50 ms
        ok(1.2, 2.0, 11),  # TTFT 1,200 ms
        ok(0.3, 0.3, 1),  # one token: no ITL to miss
        ok(1.0, 1.6, 11),  # TTFT and ITL exactly at their thresholds
        RequestOutcome(0.0, 0.1, error="http_5xx"),
    ]
    slo = Slo(ttft_ms=1000, itl_ms=60)
    assert [slo.met_by(o) for o in outcomes] == [False, True, False, True, True, False]
    assert slo_report(outcomes, wall=2.0, slo=slo) == {
        "good_requests": 3, "attainment": 0.5, "goodput_rps": 1.5, "met": False,
    }  # fmt: skip
    assert slo_report(outcomes, wall=2.0, slo=Slo(ttft_ms=1000, itl_ms=60, attainment=0.5))["met"] is True
    assert [Slo(e2e_ms=1500).met_by(o) for o in outcomes] == [True, True, False, True, False, False]


@pytest.mark.parametrize(
    "asked, message",
    [
        ({}, "an SLO needs at least one of ttft_ms, itl_ms and e2e_ms"),
        ({"ttft_ms": 0}, "slo.ttft_ms must be above 0 and at most 3600000, got 0"),
        ({"itl_ms": 50, "attainment": 1.5}, "slo.attainment must be above 0 and at most 1, got 1.5"),
    ],
)
def test_an_slo_is_checked_and_its_faults_named(asked, message):
    with pytest.raises(InvalidParameter, match=rf"^{re.escape(message)}$"):
        Slo(**asked)


def test_a_run_with_an_slo_reports_its_goodput_and_keeps_the_slo_in_its_plan():
    use_cases, _, _ = benchmarks(ScriptedClient(ok(0.2, 0.7, 11), ok(1.2, 2.0, 11)))
    queued = use_cases.queue("fake", use_cases.plan(4, warmup=0, slo=Slo(ttft_ms=1000)))
    assert queued.details["plan"]["slo"] == {"ttft_ms": 1000, "itl_ms": None, "e2e_ms": None, "attainment": 0.95}
    run = use_cases.execute(queued.id)
    report = run.details["slo"]
    assert (report["good_requests"], report["attainment"], report["met"]) == (2, 0.5, False)
    assert report["goodput_rps"] == pytest.approx(2 / run.details["wall_seconds"])
    assert "slo" not in use_cases.run_now("fake", use_cases.plan(1, warmup=0)).details


@pytest.mark.parametrize("burstiness, spread", [(0.25, 2.0), (4.0, 0.5)])
def test_gamma_arrivals_keep_their_rate_and_bunch_as_their_burstiness_says(monkeypatch, burstiness, spread):
    clock = VirtualTime(monkeypatch)
    shape = LoadShape(concurrency=1, rate=20.0, burstiness=burstiness)
    on_own_loop(drive(answer(ok(0.1, 0.2, 3)), 4000, shape, seed=5))
    gaps = np.diff([0.0, *clock.arrivals])
    assert np.mean(gaps) == pytest.approx(1 / 20.0, rel=0.07)  # within ~3 standard errors at either shape
    assert np.std(gaps) / np.mean(gaps) == pytest.approx(spread, rel=0.12)  # a gamma's CV: 1 / sqrt(shape)
    assert shape.describe() == {"shape": "gamma", "rate_per_second": 20.0, "burstiness": burstiness,
                                "max_concurrency": 1}  # fmt: skip


def test_burstiness_shapes_arrivals_at_a_rate_only():
    with pytest.raises(InvalidParameter, match=r"^burstiness shapes arrivals at a rate: give a rate too$") as refused:
        BenchmarkPlan(10, burstiness=0.5)
    assert refused.value.parameter == "burstiness"
    with pytest.raises(InvalidParameter, match=r"^burstiness must be above 0 and at most 100, got 0$"):
        BenchmarkPlan(10, rate=2.0, burstiness=0)
    assert BenchmarkPlan(10, rate=2.0, burstiness=0.5).shape == LoadShape(1, 2.0, 0.5)


def test_a_workload_draws_the_same_prompts_for_the_same_seed_and_others_for_warm_ups():
    fixed = Workload(input_tokens=40, seed=7)
    prompts = fixed.prompts(5, WordTokenizer())
    assert [len(p.split()) for p in prompts] == [40] * 5 and len(set(prompts)) == 5
    assert fixed.prompts(5, WordTokenizer()) == prompts
    assert Workload(input_tokens=40, seed=8).prompts(5, WordTokenizer()) != prompts
    assert not set(fixed.prompts(5, WordTokenizer(), FOR_WARM_UP)) & set(prompts)


def test_warm_ups_send_the_workloads_warm_up_prompts_and_the_run_counts_the_tokens_of_every_prompt_sent():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    workload = Workload(input_tokens=12, distribution="uniform", spread=6, seed=3)
    run = use_cases.run_now("fake", use_cases.plan(5, warmup=2, workload=workload))
    sent = [r.prompt for r in client.requests]
    assert sent == workload.prompts(2, WordTokenizer(), FOR_WARM_UP) + workload.prompts(5, WordTokenizer())
    assert run.plan["prompt_tokens"] == sum(r.prompt_tokens for r in client.requests) == len(" ".join(sent).split())


@pytest.mark.parametrize(
    "workload, mean, spread",
    [
        (Workload(512, "normal", spread=64), 512, 64),
        (Workload(512, "uniform", spread=100), 512, 200 / np.sqrt(12)),  # the uniform's sd: width / sqrt(12)
    ],
)
def test_input_lengths_follow_their_distribution(workload, mean, spread):
    lengths = np.array(workload.lengths(4000))
    assert lengths.mean() == pytest.approx(mean, rel=0.01) and lengths.std() == pytest.approx(spread, rel=0.05)
    if workload.distribution == "uniform":
        assert (lengths.min(), lengths.max()) == (412, 612)


def test_a_shared_prefix_starts_every_prompt_and_counts_in_its_length():
    prompts = Workload(30, "uniform", spread=10, shared_prefix_tokens=15).prompts(20, WordTokenizer())
    prefixes = {" ".join(p.split()[:15]) for p in prompts}
    assert len(prefixes) == 1 and all(20 <= len(p.split()) <= 40 for p in prompts)
    assert len({" ".join(p.split()[15:]) for p in prompts}) == 20  # the rest is each prompt's own


@pytest.mark.parametrize(
    "asked, message",
    [
        ({"input_tokens": 10, "distribution": "zipf"}, "unknown distribution 'zipf'"),
        ({"input_tokens": 0}, "workload.input_tokens must be between 1 and 131072, got 0"),
        ({"input_tokens": 10, "distribution": "uniform", "spread": 10},
         "a uniform spread must be below input_tokens: every prompt needs a token"),
        ({"input_tokens": 10, "shared_prefix_tokens": 11}, "the shared prefix must fit in the shortest prompt drawn"),
        ({"input_tokens": 10, "distribution": "uniform", "spread": 3, "shared_prefix_tokens": 8},
         "the shared prefix must fit in the shortest prompt drawn"),  # the shortest has 7 tokens
        ({"input_tokens": 10, "spread": -1}, "workload.spread must be between 0 and 131071, got -1"),
        ({"input_tokens": 10, "shared_prefix_tokens": -1},
         "workload.shared_prefix_tokens must be between 0 and 131071, got -1"),
        ({"input_tokens": 10, "seed": -1}, f"workload.seed must be between 0 and {2**63 - 1}, got -1"),
    ],
)  # fmt: skip
def test_a_workload_is_checked_and_its_faults_named(asked, message):
    with pytest.raises(InvalidParameter, match=rf"^{re.escape(message)}$"):
        Workload(**asked)


def test_an_unknown_distribution_is_refused_with_the_known_ones_and_a_workload_defaults_to_fixed_lengths():
    with pytest.raises(InvalidParameter) as refused:
        Workload(10, "zipf")
    assert (refused.value.choices, refused.value.parameter) == (["fixed", "normal", "uniform"], "distribution")
    assert Workload(10) == Workload(10, "fixed", spread=0, shared_prefix_tokens=0, seed=0)
    assert Workload(10, "uniform", spread=3, shared_prefix_tokens=7).lengths(50, FOR_WARM_UP)  # a prefix that fits


def test_a_workloads_draws_stay_the_same_from_one_version_to_the_next():
    """Runs are compared over months: a seed must keep drawing the same lengths and words."""
    normal = Workload(100, "normal", spread=10, seed=3)
    assert normal.lengths(4) == [88, 81, 120, 88] and normal.lengths(2, FOR_WARM_UP) == [115, 87]
    assert Workload(6, seed=7).prompts(1, WordTokenizer()) == [" alpha alpha alpha alpha gamma gamma"]
    prefixed = Workload(8, shared_prefix_tokens=6, seed=7).prompts(2, WordTokenizer())
    assert {prompt[: len(" alpha alpha alpha beta alpha beta")] for prompt in prefixed} == {
        " alpha alpha alpha beta alpha beta"
    }


def test_normal_lengths_never_fall_below_one_token_or_the_shared_prefix():
    assert min(Workload(2, "normal", spread=50).lengths(100)) == 1
    assert min(Workload(20, "normal", spread=30, shared_prefix_tokens=10).lengths(200)) == 10


def test_a_run_sends_its_workloads_prompts_and_counts_replies_of_another_length_than_forced():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    workload = Workload(input_tokens=20, distribution="uniform", spread=5, seed=3)
    run = use_cases.run_now("fake", use_cases.plan(6, warmup=2, max_tokens=12, workload=workload, force_output=True))
    warm_ups, measured = client.requests[:2], client.requests[2:]
    assert [r.prompt for r in measured] == workload.prompts(6, WordTokenizer())
    assert [r.prompt_tokens for r in measured] == workload.lengths(6)
    assert all(r.force_output and r.max_tokens == 12 for r in client.requests)
    assert not {r.prompt for r in warm_ups} & {r.prompt for r in measured}
    assert run.details["plan"]["workload"] == {"input_tokens": 20, "distribution": "uniform", "spread": 5,
                                               "shared_prefix_tokens": 0, "seed": 3}  # fmt: skip
    assert run.details["output_length_mismatches"] == 6  # 11 tokens each, 12 asked
    plain = use_cases.run_now("fake", use_cases.plan(2, warmup=0))
    assert "output_length_mismatches" not in plain.details
    assert {r.prompt for r in client.requests[-2:]} == {BenchmarkSettings().prompt}


def test_given_prompts_are_sent_in_turn_and_bounded_and_never_with_a_workload():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, _, _ = benchmarks(client)
    use_cases.run_now("fake", use_cases.plan(5, warmup=1, prompts=("a b", "c")))
    # The warm-up sends the default prompt (19 words to this tokenizer).
    assert [(r.prompt, r.prompt_tokens) for r in client.requests] == [
        (BenchmarkSettings().prompt, 19), ("a b", 2), ("c", 1), ("a b", 2), ("c", 1), ("a b", 2),
    ]  # fmt: skip
    with pytest.raises(InvalidParameter, match=r"^give prompts or a workload, not both$") as refused:
        BenchmarkPlan(5, prompts=("a",), workload=Workload(10))
    assert refused.value.parameter == "prompts"
    with pytest.raises(InvalidParameter, match=r"^prompts must be between 1 and 10000, got 10001$"):
        BenchmarkPlan(5, prompts=("a",) * 10_001)
    with pytest.raises(InvalidParameter, match=r"^the prompts' characters must be between 1 and 5000000, got 5000001$"):
        BenchmarkPlan(5, prompts=("a" * 5_000_000, "b"))


def test_given_prompts_are_kept_once_apart_and_a_runs_plan_names_them_by_digest_and_count():
    client = ScriptedClient(ok(0.2, 1.2, 11))
    use_cases, uow, _ = benchmarks(client)
    prompts = ("a b", "c", "d e f")
    first = use_cases.queue("fake", use_cases.plan(3, warmup=0, prompts=prompts))
    second = use_cases.queue("fake", use_cases.plan(6, warmup=0, prompts=prompts))
    digest = hashlib.sha256(b'["a b","c","d e f"]').hexdigest()
    assert first.plan["prompts"] == second.plan["prompts"] == {"sha256": digest, "count": 3}
    assert uow.store.prompt_sets == {digest: prompts}  # once for both runs
    assert describe(first.plan) == "3 requests, concurrency 1, up to 256 tokens out, 3 given prompts"
    use_cases.execute(second.id)
    assert [r.prompt for r in client.requests] == list(prompts) * 2  # read back by the run that sends them
    other = use_cases.queue("fake", use_cases.plan(3, warmup=0, prompts=("c", "a b", "d e f")))
    assert plan_key(other.plan) != plan_key(first.plan) and len(uow.store.prompt_sets) == 2  # the order counts
    plain = use_cases.queue("fake", use_cases.plan(3, warmup=0))
    assert plain.plan["prompts"] == [] and len(uow.store.prompt_sets) == 2
    del uow.store.runs[plain.id].details["plan"]["prompts"]  # queued before plans held prompts
    assert use_cases.execute(plain.id).status is RunStatus.COMPLETED


def test_runs_are_listed_by_endpoint_and_status_and_an_unknown_endpoint_names_the_known():
    use_cases, uow, _ = benchmarks(ScriptedClient(ok(0.2, 1.2, 11), RequestOutcome(10.0, 10.5, error="timeout")))
    use_cases.add_endpoint("other", "GPT-4o", "http://127.0.0.1:9/v1", "m", None)
    completed = use_cases.run_now("fake", use_cases.plan(1, warmup=0))
    failed = use_cases.run_now("fake", use_cases.plan(1, warmup=0))
    elsewhere = use_cases.run_now("other", use_cases.plan(1, warmup=0))
    runs = SimulationUseCases(uow, FakeTaskQueue(), FakeCache(), FixedClock(), SimulationSettings(),
                              RecordingTelemetry(), Quotas())  # fmt: skip

    def listed(*asked, **named) -> tuple[list[int | None], int]:
        page, total = runs.list(*asked, **named)
        return [run.id for run in page], total

    assert listed(10, 0, endpoint="fake") == ([failed.id, completed.id], 2)
    assert listed(10, 0, RunStatus.FAILED, "fake") == ([failed.id], 1)
    assert listed(1, 1, endpoint="fake") == ([completed.id], 2)
    assert listed(10, 0) == ([elsewhere.id, failed.id, completed.id], 3)
    simulated = runs.queue(seed=1, samples_per_pair=5)
    assert listed(10, 0, source=RunSource.MEASURED) == ([elsewhere.id, failed.id, completed.id], 3)
    assert listed(10, 0, source=RunSource.SIMULATED) == ([simulated.id], 1)
    assert listed(10, 0, RunStatus.FAILED, source=RunSource.SIMULATED) == ([], 0)
    with pytest.raises(InvalidParameter, match=r"^unknown endpoint 'u{100}'$") as refused:
        runs.list(10, 0, endpoint="u" * 150)
    assert (refused.value.choices, refused.value.parameter) == (["fake", "other"], "endpoint")
