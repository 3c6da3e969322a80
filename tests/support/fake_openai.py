"""A local OpenAI-compatible chat server that streams server-sent events with set delays and
errors, for measuring the measurement.

It runs in a process of its own: in the test's process its threads would share the client's GIL,
and the client would measure that contention as the server's latency.
"""

from __future__ import annotations

import collections
import contextlib
import json
import multiprocessing
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any

TEMPLATE_TOKENS = 7
WORD = " hello"  # one token in cl100k_base, the tokenizer measured runs count with


REFUSED_MAX_TOKENS = (
    "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead."
)
REFUSED_STREAM_OPTIONS = "Extra inputs are not permitted: stream_options"


@dataclass
class Behaviour:
    first_token_delay: float = 0.2  # seconds before the first content token
    token_delay: float = 0.01  # seconds between content tokens: 100 tokens/s
    tokens: int = 40
    prompt_tokens: int = 25  # the usage report's, unless counted:
    count_prompt: bool = False  # the prompt's words plus a chat template's TEMPLATE_TOKENS
    reasoning_tokens: int = 0  # streamed as reasoning_content before the content, as vLLM streams them
    break_after: int = 0  # the connection drops after this many tokens (0: never)
    error_after: int = 0  # after this many tokens an error event ends the stream, as vLLM's when generation fails
    one_character_chunks: bool = False  # each token's characters streamed as chunks of their own
    fail_every: int = 0  # every n-th request answers 500 (0: never)
    throttle_every: int = 0  # every n-th request answers 429 (0: never)
    send_usage: bool = True
    refuse_max_tokens: bool = False  # a 400 for a body with max_tokens, as OpenAI's reasoning models answer
    refuse_unknown_fields: bool = False  # a 422 for a body with stream_options, as APIs that forbid fields they lack
    key: str | None = None  # the only key it accepts; another gets a 401 that echoes it, as some APIs do
    capacity: int = 0  # requests streamed at once (0: any number); the rest wait their turn, as a saturated server's
    slower_after: int = 0  # after this many requests (0: never) every delay is `slower_by` times longer
    slower_by: float = 1.0
    # Every request answers this status with these headers and no body: a redirect, a 202 that queues work.
    bare_answer: tuple[int, dict[str, str]] | None = None


class FakeOpenAI:
    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        context = multiprocessing.get_context("spawn")  # no copy of the test's threads or connections
        self._port, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.behaviour, child_end), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._process.start()
        if not self._port.poll(30):
            raise RuntimeError("the fake OpenAI server did not start")
        self.port = self._port.recv()
        return self

    def __exit__(self, *args: object) -> None:
        self._process.terminate()
        self._process.join(10)


@contextlib.contextmanager
def fake_servers(behaviours: dict[str, Behaviour]) -> Iterator[dict[str, FakeOpenAI]]:
    """Several servers at once, by name, each in its own process; all stopped on the way out."""
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(FakeOpenAI(behaviour)) for name, behaviour in behaviours.items()}


def _serve(behaviour: Behaviour, report_port: Connection) -> None:
    server = _server(behaviour)
    report_port.send(server.server_port)
    server.serve_forever()


class TakingTurns:
    """At most `capacity` requests served at once; the rest wait their turn, first come first
    served, as in a saturated server's queue. (A semaphore lets a request that arrives as a slot
    frees take it before those waiting, a woken thread being slower to run: on a busy host more
    than half the requests at twice the capacity then went unqueued, and their median latency
    with them.)"""

    def __init__(self, capacity: int):
        self.free, self.waiting, self.lock = capacity, collections.deque[threading.Event](), threading.Lock()

    def __enter__(self) -> None:
        with self.lock:
            if self.free and not self.waiting:
                self.free -= 1
                return
            turn = threading.Event()
            self.waiting.append(turn)
        turn.wait()

    def __exit__(self, *_: object) -> None:
        with self.lock:
            if self.waiting:
                self.waiting.popleft().set()  # the slot passes to the first in line, never to a newcomer
            else:
                self.free += 1


def _server(behaviour: Behaviour) -> ThreadingHTTPServer:
    requests = 0
    lock = threading.Lock()
    slots = TakingTurns(behaviour.capacity) if behaviour.capacity else contextlib.nullcontext()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # connections kept alive: the stream is sent in chunks
        # Each event leaves at once, as serving frameworks send it: with Nagle's algorithm a small
        # write waits for the last one's acknowledgement, which the client delays up to 40 ms.
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            nonlocal requests
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                requests += 1
                number = requests
            b = behaviour
            if b.fail_every and number % b.fail_every == 0:
                return self._status(500)
            if b.throttle_every and number % b.throttle_every == 0:
                return self._status(429)
            if b.bare_answer:
                status, headers = b.bare_answer
                self.send_response(status)
                for name, value in (headers | {"Content-Length": "0"}).items():
                    self.send_header(name, value)
                return self.end_headers()
            if self.path != "/v1/chat/completions" or not body.get("stream"):
                return self._status(404)
            presented = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if b.key is not None and presented != b.key:
                return self._status(401, f"Incorrect API key provided: {presented}")
            if b.refuse_max_tokens and "max_tokens" in body:
                return self._status(400, REFUSED_MAX_TOKENS)
            if b.refuse_unknown_fields and "stream_options" in body:
                return self._status(422, REFUSED_STREAM_OPTIONS)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            slower = b.slower_by if b.slower_after and number > b.slower_after else 1.0
            with slots:
                self._stream(body, slower)

        def _stream(self, body: dict[str, Any], slower: float) -> None:
            b = behaviour
            # Each token at its own time from the request's arrival, so late wake-ups never add up.
            arrived = time.monotonic()
            tokens = min(b.tokens, body.get("max_tokens", body.get("max_completion_tokens", b.tokens)))
            for index in range(b.reasoning_tokens + tokens):
                due = arrived + (b.first_token_delay + index * b.token_delay) * slower
                time.sleep(max(0.0, due - time.monotonic()))
                if b.break_after and index == b.break_after:
                    self.close_connection = True
                    return
                if b.error_after and index == b.error_after:
                    self._send(_event({"error": {"message": "generation failed", "type": "InternalServerError"}}))
                    break
                kind = "reasoning_content" if index < b.reasoning_tokens else "content"
                last = (
                    {"finish_reason": "length" if tokens < b.tokens else "stop"}
                    if index == b.reasoning_tokens + tokens - 1
                    else {}
                )
                for text in WORD if b.one_character_chunks else [WORD]:
                    self._send(_event({"choices": [{"index": 0, "delta": {kind: text}, **last}]}))
            prompt = (
                len(body["messages"][0]["content"].split()) + TEMPLATE_TOKENS if b.count_prompt else b.prompt_tokens
            )
            asked = (body.get("stream_options") or {}).get("include_usage")  # as OpenAI: usage only when asked
            if b.send_usage and asked and not b.error_after:
                self._send(_event({"choices": [], "usage": {"prompt_tokens": prompt,
                                                             "completion_tokens": b.tokens}}))  # fmt: skip
            self._send(b"data: [DONE]\n\n")
            self._send(b"")  # the last chunk: the response ends, the connection stays

        def _send(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _status(self, status: int, message: str = "fake failure") -> None:
            body = json.dumps({"error": {"message": message}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    class Server(ThreadingHTTPServer):
        request_queue_size = 1024  # many clients connect at once
        daemon_threads = True

    return Server(("127.0.0.1", 0), Handler)


def _event(data: dict[str, object]) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"
