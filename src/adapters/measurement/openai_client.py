"""A streaming client of OpenAI-compatible chat APIs (server-sent events) on aiohttp, timed for
measurement.

aiohttp, as vLLM's `bench serve` and AIPerf use: one event loop holds thousands of streams in
flight, and its parser (in C) costs less per chunk than httpx's pure-Python one, so the client
stays out of the way of what it measures. Every stamp is `time.perf_counter()` (monotonic); time
spent in this module's own parsing is summed and reported as client overhead. Connection set-up
is timed by aiohttp's tracing hooks, so TTFT can be read with it and without it. Each read is
stamped as it arrives and its events parsed at once, a few microseconds of work: a whole reply
parsed at its end held the loop long enough to stamp other streams' tokens late. Events are
parsed by orjson (in C): the client's own work per event fell from 7 to 4 µs.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import uvloop
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from src.application.domain.errors import InvalidParameter
from src.application.ports.llm_client import (
    AbstractChatStreams,
    AbstractLLMClient,
    AbstractSecrets,
    ChatRequest,
    Chunk,
    RequestOutcome,
)
from src.application.services.addresses import Network, check_addresses, networks

DETAIL_CHARACTERS = 300  # of what a failing server said: an API's message, never a whole page


class EnvironmentSecrets(AbstractSecrets):
    def get(self, name: str) -> str | None:
        return os.environ.get(name) or None


class OpenAIStreamingClient(AbstractLLMClient):
    def __init__(self, allowed_networks: tuple[Network, ...] = networks(["127.0.0.0/8", "::1/128"])):
        self.allowed_networks = allowed_networks  # private networks endpoints may be in (link-local never)

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        # uvloop (libuv): a third less CPU a streamed event than asyncio's loop, measured by
        # `make benchmark-measurement` (44-67% of a core against 78-89% at 256 streams).
        return uvloop.new_event_loop()

    @asynccontextmanager
    async def connect(self, reuse_connections: bool, max_streams: int) -> AsyncIterator[AbstractChatStreams]:
        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_start.append(_connecting)
        tracing.on_connection_create_end.append(_connected)
        tracing.on_request_headers_sent.append(_sending)
        connector = aiohttp.TCPConnector(
            limit=max_streams,
            limit_per_host=0,
            force_close=not reuse_connections,
            resolver=_CheckedResolver(self.allowed_networks),
        )
        async with aiohttp.ClientSession(
            connector=connector, trace_configs=[tracing], auto_decompress=False
        ) as session:
            yield _Streams(session)


# A request starts when the client opens its connection, or, on a kept-alive one, when it sends
# its headers: the time the client spends building a request is its own, not the endpoint's.
class _CheckedResolver(ThreadedResolver):
    """aiohttp's resolver, refusing addresses an endpoint may not be at when it connects: its name
    was checked when stored and before the run, but may point elsewhere by now (DNS rebinding)."""

    def __init__(self, allowed: tuple[Network, ...]):
        super().__init__()
        self.allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await super().resolve(host, port, family)
        try:
            check_addresses(host, [result["host"] for result in found], self.allowed)
        except InvalidParameter as refused:
            raise OSError(str(refused)) from None  # aiohttp's connection error: the request fails as one
        return found


async def _connecting(_: aiohttp.ClientSession, context: SimpleNamespace, __: Any) -> None:
    stream = context.trace_request_ctx
    stream.started = stream.connect_started = time.perf_counter()


async def _connected(_: aiohttp.ClientSession, context: SimpleNamespace, __: Any) -> None:
    stream = context.trace_request_ctx
    stream.connect_s += time.perf_counter() - stream.connect_started


async def _sending(_: aiohttp.ClientSession, context: SimpleNamespace, __: Any) -> None:
    stream = context.trace_request_ctx
    if not stream.connect_s:
        stream.started = time.perf_counter()


class _Streams(AbstractChatStreams):
    def __init__(self, session: aiohttp.ClientSession):
        self.session = session

    async def stream(self, request: ChatRequest) -> RequestOutcome:
        stream = _Stream(time.perf_counter(), request.prompt_tokens)
        try:
            async with self.session.post(
                request.base_url.rstrip("/") + "/chat/completions",
                **_body_and_headers(request),
                timeout=aiohttp.ClientTimeout(total=request.timeout_s),
                trace_request_ctx=stream,
                # A chat API does not move: following a redirect would time two servers as one,
                # and could lead to an address literal, which no resolver checks.
                allow_redirects=False,
            ) as response:
                stream.headers_at = time.perf_counter()
                if response.status != 200:
                    body = await response.content.read(DETAIL_CHARACTERS * 4)  # UTF-8: 4 bytes a character at most
                    moved = f"to {response.headers['Location']} " if "Location" in response.headers else ""
                    said = f"{response.status} {moved}{body.decode(errors='replace')}"
                    return stream.failed(_status_kind(response.status), _detail(said, request))
                await stream.read(response.content)
        except TimeoutError:  # asyncio's too
            return stream.failed("timeout")
        except _ErrorEvent as error:
            return stream.failed("stream_error", _detail(str(error), request))
        except (aiohttp.ClientConnectionError, OSError) as error:
            # Once the server has answered, a lost connection is a stream cut midway.
            return stream.failed("broken_stream" if stream.headers_at else "connection", _detail(str(error), request))
        except (aiohttp.ClientPayloadError, ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            return stream.failed("broken_stream", _detail(f"{type(error).__name__}: {error}", request))
        return stream.outcome()


def _body_and_headers(request: ChatRequest) -> dict[str, Any]:
    body = {
        "model": request.model,
        "messages": [{"role": "user", "content": request.prompt}],
        request.max_tokens_field: request.max_tokens,
        "stream": True,
    }
    if request.stream_usage:  # exact token counts where the API offers them
        body["stream_options"] = {"include_usage": True}
    if request.force_output:  # vLLM's and SGLang's extensions; other APIs may refuse them (a 400)
        body |= {"min_tokens": request.max_tokens, "ignore_eos": True}
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if request.api_key:
        headers["Authorization"] = f"Bearer {request.api_key}"
    return {"data": json.dumps(body), "headers": headers}


class _ErrorEvent(Exception):
    """The server reported an error inside the stream."""


class _Stream:
    """What one response's event stream has shown so far."""

    def __init__(self, started: float, prompt_tokens: int | None):
        self.started = started
        self.prompt_tokens = prompt_tokens
        self.connect_started = started
        self.connect_s = 0.0
        self.headers_at: float | None = None
        self.first_chunk_at: float | None = None
        self.chunks: list[Chunk] = []
        self.usage: dict[str, int] | None = None
        self.finish_reason: str | None = None
        self.overhead = 0.0
        self.finished: float | None = None

    async def read(self, content: aiohttp.StreamReader) -> None:
        partial = b""  # a line not yet complete
        async for data in content.iter_any():  # each read as it came, to the body's end (a kept
            arrived = time.perf_counter()  # connection is read out)
            *lines, partial = (partial + data).split(b"\n")
            for line in lines:  # an event is timed by the read that completed its line
                if line.startswith(b"data:") and self.finished is None:
                    self._event(line[5:].strip(), arrived)
            self.overhead += time.perf_counter() - arrived
        if self.finished is None:
            raise ValueError("the stream ended before [DONE]")

    def _event(self, payload: bytes, arrived: float) -> None:
        if payload == b"[DONE]":
            self.finished = arrived
            return
        self.first_chunk_at = self.first_chunk_at or arrived
        self._take(orjson.loads(payload), arrived)

    def _take(self, event: dict[str, Any], arrived: float) -> None:
        if error := event.get("error"):  # vLLM's and OpenAI's way to fail a stream already answered 200
            raise _ErrorEvent(error.get("message", error) if isinstance(error, dict) else error)
        if event.get("usage"):
            self.usage = event["usage"]
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            content = delta.get("content") or ""
            # vLLM, SGLang and DeepSeek name it reasoning_content; some servers reasoning.
            reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
            if content or reasoning:
                self.chunks.append(Chunk(arrived, content, reasoning))
            self.finish_reason = choice.get("finish_reason") or self.finish_reason

    def outcome(self) -> RequestOutcome:
        first_token = next((c.at for c in self.chunks if c.content), None)
        if first_token is None:
            return self.failed("broken_stream", "the stream carried no content")  # no measurement
        usage = self.usage or {}
        from_usage = bool(usage.get("completion_tokens"))
        return RequestOutcome(
            started=self.started,
            finished=self.finished or time.perf_counter(),
            first_token_at=first_token,
            output_tokens=int(usage["completion_tokens"]) if from_usage else 0,
            input_tokens=int(usage["prompt_tokens"]) if "prompt_tokens" in usage else None,
            tokens_from_usage=from_usage,
            client_overhead_s=self.overhead,
            **self._timeline(),
        )

    def failed(self, kind: str, detail: str | None = None) -> RequestOutcome:
        return RequestOutcome(
            started=self.started, finished=time.perf_counter(), client_overhead_s=self.overhead, error=kind,
            error_detail=detail, **self._timeline(),
        )  # fmt: skip

    def _timeline(self) -> dict[str, Any]:
        return {
            "connect_s": self.connect_s,
            "headers_at": self.headers_at,
            "first_chunk_at": self.first_chunk_at,
            "first_reasoning_at": next((c.at for c in self.chunks if c.reasoning), None),
            "chunks": tuple(self.chunks),
            "finish_reason": self.finish_reason,
            "usage": self.usage,
            "prompt_tokens": self.prompt_tokens,
        }


def _detail(said: str, request: ChatRequest) -> str:
    """What the server said, on one line, cut short; the endpoint's key never in it, should the
    server echo it."""
    text = " ".join(said.split())
    if request.api_key:
        text = text.replace(request.api_key, "[key]")
    return text[:DETAIL_CHARACTERS]


def _status_kind(status: int) -> str:
    """http_429 (throttled), else the status's class: http_5xx, http_4xx, http_3xx (a redirect), http_2xx (not 200)."""
    return "http_429" if status == 429 else f"http_{status // 100}xx"
