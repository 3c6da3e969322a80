"""The port to an OpenAI-compatible chat API, as the measurement needs it: one streamed request,
timed on the monotonic clock."""

from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class ChatRequest:
    base_url: str
    model: str
    api_key: str | None
    prompt: str
    max_tokens: int
    timeout_s: float


@dataclass(frozen=True)
class RequestOutcome:
    """One request's timings, in seconds on the monotonic clock, or the kind of error it met.

    Errors (http_429, http_5xx, http_4xx, timeout, connection, broken_stream) never become samples.
    """

    started: float
    finished: float
    first_token_at: float | None = None
    output_tokens: int = 0
    input_tokens: int | None = None
    tokens_from_usage: bool = False  # False: counted as content chunks of the stream
    client_overhead_s: float = 0.0  # time the client spent in its own code, not waiting
    error: str | None = None

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


class AbstractLLMClient(abc.ABC):
    @abc.abstractmethod
    def stream_chat(self, request: ChatRequest) -> RequestOutcome: ...


class AbstractSecrets(abc.ABC):
    """Where endpoint keys live: the environment variable an endpoint names, never the database."""

    @abc.abstractmethod
    def get(self, name: str) -> str | None: ...
