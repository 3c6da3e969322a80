"""A streaming client of OpenAI-compatible chat APIs (server-sent events), timed for measurement.

It opens a new connection per request (as a fresh client would), reads the event stream line by
line and stamps each content chunk on the monotonic clock; time spent in its own parsing is
summed and reported as client overhead.
"""

from __future__ import annotations

import http.client
import json
import os
import time
from urllib.parse import urlsplit

from src.application.ports.llm_client import AbstractLLMClient, AbstractSecrets, ChatRequest, RequestOutcome


class EnvironmentSecrets(AbstractSecrets):
    def get(self, name: str) -> str | None:
        return os.environ.get(name) or None


class OpenAIStreamingClient(AbstractLLMClient):
    def stream_chat(self, request: ChatRequest) -> RequestOutcome:
        started = time.perf_counter()
        stream = _Stream(started)
        url = urlsplit(request.base_url)
        connection_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(url.hostname or "", url.port, timeout=request.timeout_s)
        try:
            connection.request("POST", url.path.rstrip("/") + "/chat/completions", **_body_and_headers(request))
            response = connection.getresponse()
            if response.status != 200:
                return stream.failed(_status_kind(response.status))
            stream.read(response, deadline=started + request.timeout_s)
        except TimeoutError:  # socket.timeout too
            return stream.failed("timeout")
        except OSError:
            return stream.failed("connection")
        except (http.client.HTTPException, ValueError, KeyError, IndexError, TypeError, AttributeError):
            return stream.failed("broken_stream")
        finally:
            connection.close()
        return stream.outcome()


def _body_and_headers(request: ChatRequest) -> dict[str, object]:
    body = {
        "model": request.model,
        "messages": [{"role": "user", "content": request.prompt}],
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},  # exact token counts where the API offers them
    }
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if request.api_key:
        headers["Authorization"] = f"Bearer {request.api_key}"
    return {"body": json.dumps(body), "headers": headers}


class _Stream:
    """What one response's event stream has shown so far."""

    def __init__(self, started: float):
        self.started = started
        self.first_token_at: float | None = None
        self.chunks = 0
        self.usage: dict[str, int] | None = None
        self.overhead = 0.0
        self.finished: float | None = None

    def read(self, response: http.client.HTTPResponse, deadline: float) -> None:
        while True:
            line = response.readline()
            arrived = time.perf_counter()
            if arrived > deadline:
                raise TimeoutError
            if not line:
                raise ValueError("the stream ended before [DONE]")
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    self.finished = arrived
                    return
                self._take(json.loads(payload), arrived)
            self.overhead += time.perf_counter() - arrived

    def _take(self, event: dict[str, object], arrived: float) -> None:
        if event.get("usage"):
            self.usage = event["usage"]  # type: ignore[assignment]
        for choice in event.get("choices") or []:  # type: ignore[attr-defined]
            if choice.get("delta", {}).get("content"):
                self.chunks += 1
                if self.first_token_at is None:
                    self.first_token_at = arrived

    def outcome(self) -> RequestOutcome:
        finished = self.finished or time.perf_counter()
        if self.first_token_at is None:
            return self.failed("broken_stream")  # a stream with no content is no measurement
        from_usage = bool(self.usage and self.usage.get("completion_tokens"))
        return RequestOutcome(
            started=self.started,
            finished=finished,
            first_token_at=self.first_token_at,
            output_tokens=int(self.usage["completion_tokens"]) if from_usage and self.usage else self.chunks,
            input_tokens=int(self.usage["prompt_tokens"]) if self.usage and "prompt_tokens" in self.usage else None,
            tokens_from_usage=from_usage,
            client_overhead_s=self.overhead,
        )

    def failed(self, kind: str) -> RequestOutcome:
        return RequestOutcome(
            started=self.started, finished=time.perf_counter(), client_overhead_s=self.overhead, error=kind
        )


def _status_kind(status: int) -> str:
    if status == 429:
        return "http_429"
    return "http_5xx" if status >= 500 else "http_4xx"
