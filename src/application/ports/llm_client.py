"""The port to an OpenAI-compatible chat API, as the measurement needs it: streamed requests sent
on one event loop, each timed on the monotonic clock from the moment it is sent."""

from __future__ import annotations

import abc
import asyncio
import random
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

from src.application.domain.model import Endpoint


@dataclass(frozen=True)
class ChatRequest:
    base_url: str
    model: str
    api_key: str | None
    prompt: str
    max_tokens: int
    timeout_s: float
    max_tokens_field: str = Endpoint.max_tokens_field  # the body's field for max_tokens
    stream_usage: bool = Endpoint.stream_usage  # ask for token usage in the stream (stream_options)
    prompt_tokens: int | None = None  # the prompt's length by the tokenizer, where a workload drew it
    force_output: bool = False  # ask for exactly max_tokens: min_tokens and ignore_eos, where accepted


@dataclass(frozen=True)
class Chunk:
    """One streamed event that carried text: when it arrived, and its text of each kind."""

    at: float
    content: str
    reasoning: str = ""
    content_tokens: int | None = None  # counted by the tokenizer after the run
    reasoning_tokens: int | None = None


@dataclass(frozen=True)
class RequestOutcome:
    """One request's timeline, in seconds on the monotonic clock, or the kind of error it met.

    Errors (http_429, http_5xx, http_4xx, http_3xx: a redirect, never followed; http_2xx: a status
    other than 200; timeout, connection, broken_stream, stream_error) never become samples.
    """

    started: float  # when the request began: before any connection set-up it needed
    finished: float  # the end of the stream ([DONE]), or when it failed
    first_token_at: float | None = None  # the first content token: what TTFT times
    output_tokens: int = 0  # from the usage report, else counted by the tokenizer after the run
    input_tokens: int | None = None
    tokens_from_usage: bool = False
    tokenizer_tokens: int | None = None  # the reply's content tokens by the tokenizer, after the run
    prompt_tokens: int | None = None  # the request's prompt_tokens, as sent
    client_overhead_s: float = 0.0  # time the client spent in its own code, not waiting
    error: str | None = None
    error_detail: str | None = None  # what the server said: the status and its body's start, or the stream's error
    connect_s: float = 0.0  # connection set-up (TCP, TLS) inside this request; 0 on a reused one
    headers_at: float | None = None  # the response's status and headers
    first_chunk_at: float | None = None  # the first event of the stream, whatever it carried
    first_reasoning_at: float | None = None  # the first reasoning token, where the API streams them
    chunks: tuple[Chunk, ...] = field(default=(), repr=False)
    finish_reason: str | None = None
    usage: dict[str, int] | None = None  # the API's own usage report, as it sent it

    @property
    def ttft_s(self) -> float:
        assert self.first_token_at is not None
        return self.first_token_at - self.started

    @property
    def e2e_s(self) -> float:
        return self.finished - self.started

    @property
    def decode_s(self) -> float:
        """From the first content token to the end of the stream."""
        assert self.first_token_at is not None
        return self.finished - self.first_token_at


class AbstractChatStreams(abc.ABC):
    """Open connections to endpoints, shared by the requests of one run."""

    @abc.abstractmethod
    async def stream(self, request: ChatRequest) -> RequestOutcome: ...


class AbstractLLMClient(abc.ABC):
    @abc.abstractmethod
    def connect(self, reuse_connections: bool, max_streams: int) -> AbstractAsyncContextManager[AbstractChatStreams]:
        """Streams for one run: over kept-alive connections (each opened once, by the first request
        that needs it), or over a fresh connection per request (each request's timeline then holds
        its set-up); at most `max_streams` at once."""

    @abc.abstractmethod
    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """An event loop for a run's streams: the client knows which loop serves it best."""


class AbstractTokenizer(abc.ABC):
    """Counts tokens offline, after a run (never while its requests are timed)."""

    name: str

    @abc.abstractmethod
    def counts(self, texts: Sequence[str]) -> list[int]: ...

    @abc.abstractmethod
    def text(self, tokens: int, draw: random.Random) -> str:
        """Text of exactly `tokens` tokens, its words drawn with `draw`."""


class AbstractSecrets(abc.ABC):
    """Where endpoint keys live: the environment variable an endpoint names, never the database."""

    @abc.abstractmethod
    def get(self, name: str) -> str | None: ...


class AbstractResolver(abc.ABC):
    """The network addresses a host name stands for, as a client connecting to it would find them."""

    @abc.abstractmethod
    def addresses(self, host: str) -> list[str]:
        """Its IP addresses; InvalidParameter when it has none."""
