"""A local OpenAI-compatible chat server that streams server-sent events with set delays and
errors, for measuring the measurement."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Behaviour:
    first_token_delay: float = 0.2  # seconds before the first content token
    token_delay: float = 0.01  # seconds between content tokens: 100 tokens/s
    tokens: int = 40
    prompt_tokens: int = 25
    fail_every: int = 0  # every n-th request answers 500 (0: never)
    throttle_every: int = 0  # every n-th request answers 429 (0: never)
    send_usage: bool = True


class FakeOpenAI:
    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.requests = 0
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the stream ends when the connection closes

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.requests += 1
                    number = fake.requests
                b = fake.behaviour
                if b.fail_every and number % b.fail_every == 0:
                    return self._status(500)
                if b.throttle_every and number % b.throttle_every == 0:
                    return self._status(429)
                if self.path != "/v1/chat/completions" or not body.get("stream"):
                    return self._status(404)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                time.sleep(b.first_token_delay)
                for index in range(min(b.tokens, body.get("max_tokens", b.tokens))):
                    if index:
                        time.sleep(b.token_delay)
                    self._event({"choices": [{"index": 0, "delta": {"content": f"tok{index} "}}]})
                if b.send_usage:
                    self._event({"choices": [], "usage": {"prompt_tokens": b.prompt_tokens,
                                                           "completion_tokens": b.tokens}})  # fmt: skip
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, data: dict[str, object]) -> None:
                self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
                self.wfile.flush()

            def _status(self, status: int) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"error": {"message": "fake failure"}}).encode())

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # many clients connect at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *args: object) -> None:
        self.server.shutdown()
        self.server.server_close()
