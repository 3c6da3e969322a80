"""An OpenAI-compatible streaming server with an exact schedule that records what it sent: the
truth `make benchmark-measurement` holds the client's measurements against.

Each request is answered with its first token FIRST_TOKEN seconds after the request arrived, then
a token every GAP seconds, TOKENS in all, and the usage report with the last. The first token's
text is the request's number (in order of arrival), so a client's timings can be matched with the
record of the same request. Every send is stamped on the host's monotonic clock
(`time.perf_counter`, CLOCK_MONOTONIC on Linux: the same clock in every process), so a late timer
in the server moves the record, not the error.

It is asyncio's protocol layer on uvloop and a minimal HTTP/1.1 (chunked replies on kept-alive
connections), in a process of its own: a server framework's per-event cost would make the server,
not the client, the bottleneck at tens of thousands of events a second on a shared host. On
asyncio's own loop it fell 11-53 ms behind its schedule at p99 at 1,000 streams, and requests
waited in its socket before it stamped their arrival, hiding part of the client's error. libuv's
timers count whole milliseconds, so one gap may be 9-11 ms of a 10 ms schedule; the record holds
the moments each token left.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import cast

import uvloop

HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)


@dataclass(frozen=True)
class Schedule:
    first_token: float  # seconds from the request's arrival to its first token
    gap: float  # seconds between tokens
    tokens: int


@dataclass
class Sent:
    """The server's record of one reply: when its request arrived and when each token left."""

    number: int  # of arrival, from 0
    arrived: float
    tokens: list[float] = field(default_factory=list)

    @property
    def ttft(self) -> float:
        return self.tokens[0] - self.arrived

    @property
    def itl(self) -> float:
        return (self.tokens[-1] - self.tokens[0]) / (len(self.tokens) - 1)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _token(text: bytes) -> bytes:
    return _chunk(b'data: {"choices":[{"index":0,"delta":{"content":"%s"}}]}\n\n' % text)


TOKEN = _token(b" hello")


class _Connection(asyncio.Protocol):
    def __init__(self, server: ScheduledServer):
        self.server = server
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's: a transport, not asyncio's class

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = next(
            int(line.split(b":", 1)[1])
            for line in self.buffer[:head_end].split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        if len(self.buffer) < head_end + 4 + length:
            return
        self.buffer = self.buffer[head_end + 4 + length :]
        self.server.answer(self.transport)


class ScheduledServer:
    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.records: list[Sent] = []
        self.answered = 0
        self.loop = asyncio.get_running_loop()

    def answer(self, transport: asyncio.Transport) -> None:
        sent = Sent(self.answered, time.perf_counter())
        self.answered += 1
        self.records.append(sent)
        transport.write(HEADERS)
        self._send_at(self._due(sent, 0), transport, sent)

    def _send_at(self, due: float, transport: asyncio.Transport, sent: Sent) -> None:
        # uvloop's clock is libuv's, not perf_counter's: the wait is given, not the moment.
        self.loop.call_later(max(0.0, due - time.perf_counter()), self._send, transport, sent)

    def _due(self, sent: Sent, index: int) -> float:
        return sent.arrived + self.schedule.first_token + index * self.schedule.gap

    def _send(self, transport: asyncio.Transport, sent: Sent) -> None:
        if transport.is_closing():
            return
        sent.tokens.append(time.perf_counter())
        if len(sent.tokens) < self.schedule.tokens:
            transport.write(TOKEN if len(sent.tokens) > 1 else _token(b"%d" % sent.number))
            self._send_at(self._due(sent, len(sent.tokens)), transport, sent)
            return
        usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": self.schedule.tokens}}
        transport.write(TOKEN + _chunk(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n") + b"0\r\n\r\n")


def _serve(schedule: Schedule, control: Connection) -> None:
    async def main() -> None:
        server = ScheduledServer(schedule)
        listening = await server.loop.create_server(lambda: _Connection(server), "127.0.0.1", 0, backlog=4096)
        control.send(listening.sockets[0].getsockname()[1])
        # Each message asks for the records since the last one.
        while await server.loop.run_in_executor(None, control.recv):
            records, server.records = server.records, []
            control.send([(r.number, r.arrived, r.tokens) for r in records])

    uvloop.run(main())


class ServerProcess:
    """The server in a process of its own; `records()` hands over what it sent since last asked."""

    def __init__(self, schedule: Schedule):
        context = multiprocessing.get_context("spawn")
        self.control, child_end = context.Pipe()
        self.process = context.Process(target=_serve, args=(schedule, child_end), daemon=True)

    def __enter__(self) -> ServerProcess:
        self.process.start()
        self.base_url = f"http://127.0.0.1:{self.control.recv()}/v1"
        return self

    def records(self) -> list[Sent]:
        self.control.send(True)
        return [Sent(number, arrived, tokens) for number, arrived, tokens in self.control.recv()]

    def __exit__(self, *args: object) -> None:
        self.process.terminate()
        self.process.join(10)
