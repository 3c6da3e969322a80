"""The aiohttp streaming client against a local OpenAI-compatible server whose timings are set:
each request's timeline (headers, first chunk, first reasoning and content tokens, every chunk,
usage, finish reason), connection set-up kept or paid per request, and errors by kind."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from src.adapters.measurement.openai_client import OpenAIStreamingClient
from src.adapters.measurement.tokenizer import TiktokenTokenizer
from src.application.ports.llm_client import ChatRequest, RequestOutcome
from src.application.services.addresses import networks
from src.application.services.load import on_own_loop
from tests.support.fake_openai import Behaviour, FakeOpenAI

FIRST, GAP = 0.15, 0.01


def request(
    base_url: str, max_tokens: int = 256, timeout_s: float = 10.0, api_key: str | None = None, **more
) -> ChatRequest:
    return ChatRequest(base_url, "fake-model", api_key, "Say something.", max_tokens, timeout_s, **more)


def send(base_url: str, count: int = 1, reuse: bool = True, **asked) -> list[RequestOutcome]:
    """`count` requests one after another on one client, as a run sends them."""

    async def sequence() -> list[RequestOutcome]:
        async with OpenAIStreamingClient().connect(reuse, max_streams=4) as streams:
            return [await streams.stream(request(base_url, **asked)) for _ in range(count)]

    return on_own_loop(sequence())


def test_a_timeline_holds_each_chunk_in_order_at_the_servers_pace():
    with FakeOpenAI(Behaviour(first_token_delay=FIRST, token_delay=GAP, tokens=20, prompt_tokens=9)) as server:
        (outcome,) = send(server.base_url)
    assert outcome.error is None and outcome.finish_reason == "stop"
    assert outcome.started <= outcome.headers_at <= outcome.first_chunk_at == outcome.first_token_at
    assert outcome.ttft_s == pytest.approx(FIRST, abs=0.03)
    assert [c.content for c in outcome.chunks] == [" hello"] * 20
    gaps = np.diff([c.at for c in outcome.chunks])
    assert np.median(gaps) == pytest.approx(GAP, abs=0.003) and outcome.finished >= outcome.chunks[-1].at
    assert outcome.usage == {"prompt_tokens": 9, "completion_tokens": 20} and outcome.tokens_from_usage
    assert (outcome.output_tokens, outcome.input_tokens, outcome.first_reasoning_at) == (20, 9, None)


def test_reasoning_tokens_are_timed_apart_from_the_first_content_token():
    behaviour = Behaviour(first_token_delay=0.05, token_delay=GAP, tokens=5, reasoning_tokens=10)
    with FakeOpenAI(behaviour) as server:
        (outcome,) = send(server.base_url)
    assert outcome.first_reasoning_at == outcome.first_chunk_at < outcome.first_token_at
    assert outcome.first_token_at - outcome.first_reasoning_at == pytest.approx(10 * GAP, abs=0.02)
    assert [bool(c.reasoning) for c in outcome.chunks] == [True] * 10 + [False] * 5
    assert outcome.ttft_s == pytest.approx(0.05 + 10 * GAP, abs=0.03)  # TTFT: the first content token


def test_a_reply_cut_by_max_tokens_says_length():
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=10)) as server:
        (outcome,) = send(server.base_url, max_tokens=4)
    assert outcome.finish_reason == "length" and len(outcome.chunks) == 4


def test_an_api_that_refuses_max_tokens_gets_the_limit_in_the_field_its_endpoint_names():
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=10, refuse_max_tokens=True)) as server:
        (refused,) = send(server.base_url, max_tokens=4)
        (limited,) = send(server.base_url, max_tokens=4, max_tokens_field="max_completion_tokens")
    assert refused.error == "http_4xx"
    assert limited.error is None and limited.finish_reason == "length" and len(limited.chunks) == 4


def test_an_api_that_refuses_unknown_fields_is_sent_none_when_its_endpoint_asks_no_usage():
    behaviour = Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=6, refuse_unknown_fields=True)
    with FakeOpenAI(behaviour) as server:
        (refused,) = send(server.base_url)
        (plain,) = send(server.base_url, stream_usage=False)
    assert refused.error == "http_4xx" and "Extra inputs are not permitted: stream_options" in refused.error_detail
    assert plain.error is None and len(plain.chunks) == 6 and plain.usage is None  # a usage never asked for


def test_kept_connections_are_set_up_once_and_fresh_ones_by_every_request():
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3)) as server:
        kept = send(server.base_url, count=4, reuse=True)
        fresh = send(server.base_url, count=4, reuse=False)
    assert kept[0].connect_s > 0 and [o.connect_s for o in kept[1:]] == [0.0, 0.0, 0.0]
    assert all(o.connect_s > 0 for o in fresh)
    assert all(o.connect_s < o.ttft_s for o in kept + fresh)  # set-up is part of the TTFT it adds to


def test_errors_are_told_apart_by_kind():
    with FakeOpenAI(Behaviour(fail_every=1)) as failing, FakeOpenAI(Behaviour(throttle_every=1)) as throttling:
        failed = send(failing.base_url)[0]
        assert (failed.error, failed.error_detail) == ("http_5xx", '500 {"error": {"message": "fake failure"}}')
        assert send(throttling.base_url)[0].error == "http_429"
    with FakeOpenAI(Behaviour(bare_answer=(202, {}))) as queueing:
        assert send(queueing.base_url)[0].error == "http_2xx"  # no stream to read: not a 200
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=10, break_after=3)) as breaking:
        assert send(breaking.base_url.replace("/v1", "/v2"))[0].error == "http_4xx"  # no such path: 404
        cut = send(breaking.base_url)[0]
    assert cut.error == "broken_stream" and len(cut.chunks) == 3  # what came before the cut is kept
    assert cut.error_detail.startswith("ClientPayloadError: Response payload is not completed")
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=10, error_after=3)) as erring:
        reported = send(erring.base_url)[0]  # a 200 whose stream reports an error, then [DONE]
    assert reported.error == "stream_error" and len(reported.chunks) == 3
    assert reported.error_detail == "generation failed"  # the event's message
    with FakeOpenAI(Behaviour(first_token_delay=2.0)) as slow:
        timed_out = send(slow.base_url, timeout_s=0.3)[0]
    assert timed_out.error == "timeout" and timed_out.e2e_s == pytest.approx(0.3, abs=0.1)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    refused = send(f"http://127.0.0.1:{port}/v1")[0]
    assert refused.error == "connection" and refused.headers_at is None
    assert f"127.0.0.1:{port}" in refused.error_detail


def test_a_redirect_is_never_followed():
    """A chat API does not move: following one would time two servers as one, and could lead the
    client to an address literal, which no resolver checks."""
    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3)) as elsewhere:
        assert send(elsewhere.base_url)[0].error is None
        moved_to = {"Location": elsewhere.base_url + "/chat/completions"}
        with FakeOpenAI(Behaviour(bare_answer=(307, moved_to))) as moving:
            (moved,) = send(moving.base_url)
    assert moved.error == "http_3xx" and not moved.chunks
    assert moved.error_detail == f"307 to {elsewhere.base_url}/chat/completions"


def test_what_a_refusing_server_said_is_kept_without_the_key_it_echoed():
    with FakeOpenAI(Behaviour(key="sk-right")) as server:
        (refused,) = send(server.base_url, api_key="sk-wrong-and-secret")
    assert refused.error == "http_4xx"
    assert refused.error_detail == '401 {"error": {"message": "Incorrect API key provided: [key]"}}'


def test_the_tokenizer_counts_cl100k_base_tokens_from_its_packaged_encoding(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent")  # no cache to fall back on, and no network
    tokenizer = TiktokenTokenizer()
    assert tokenizer.name == "cl100k_base"
    assert tokenizer.counts(["Hello world, how are you?", " hello", "", "h"]) == [7, 1, 0, 1]


def test_a_name_that_resolves_where_endpoints_may_not_be_is_refused_when_connecting():
    """The last line against DNS rebinding: the client checks the addresses it is about to use."""

    async def to(base_url: str, allowed: tuple) -> RequestOutcome:
        async with OpenAIStreamingClient(allowed).connect(True, max_streams=1) as streams:
            return await streams.stream(request(base_url))

    with FakeOpenAI(Behaviour(first_token_delay=0.01, token_delay=0.001, tokens=3)) as server:
        by_name = server.base_url.replace("127.0.0.1", "localhost")
        assert on_own_loop(to(by_name, networks(["127.0.0.0/8", "::1/128"]))).error is None
        refused = on_own_loop(to(by_name, ()))  # loopback not allowed: as a public name come to point home
    assert refused.error == "connection" and refused.headers_at is None
