"""An OpenAI-compatible streaming server with an exact schedule that records what it sent: the
truth `make benchmark-measurement` holds the client's measurements against.

Each request is answered with its first token FIRST_TOKEN seconds after the request arrived, then
a token every GAP seconds, TOKENS in all, and the usage report with the last. The first token's
text is the request's number (in order of arrival), so a client's timings can be matched with the
record of the same request. Every send is stamped on the host's monotonic clock
(`time.perf_counter`, CLOCK_MONOTONIC on Linux: the same clock in every process), so a late timer
in the server moves the record, not the error.

A request arrives when the kernel received its last bytes: each read is made with recvmsg and
SO_TIMESTAMPNS, which gives the kernel's moment of receiving it. The server's own stamp, taken when
its loop got round to the read, was late by 3 ms at p99 at 256 and 1,000 streams and by 11 ms at
800 and 2,000, while it sent their tokens (their timers fire together); that delay counted against
the client: TTFT p99 read +2.6-3.5% high at 256 and 800 streams and +11% at 2,000, though the
client stamped its first tokens within 3 ms of their sending.

It is a minimal HTTP/1.1 (chunked replies on kept-alive connections) on uvloop's event loop, in a
process of its own: a server framework's per-event cost would make the server, not the client,
the bottleneck at tens of thousands of events a second on a shared host. libuv's timers count
whole milliseconds, so one gap may be 9-11 ms of a 10 ms schedule; the record holds the moments
each token left. Linux only (SO_TIMESTAMPNS).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import socket
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

import uvloop

HEADERS = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
SO_TIMESTAMPNS = 35  # Linux's option and control message (Python's socket module lacks the name)


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
    from_kernel: bool = True  # the arrival is the kernel's; else the server's, when it read it

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


class _Connection:
    """One kept-alive connection, read with recvmsg: each read comes with the kernel's moment of
    receiving it, so a request's arrival is not stamped late while the server is busy sending."""

    def __init__(self, server: ScheduledServer, sock: socket.socket):
        self.server, self.sock, self.buffer, self.closed = server, sock, b"", False
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # SO_TIMESTAMPNS: the listener's
        server.loop.add_reader(sock, self.readable)

    def readable(self) -> None:
        try:
            data, ancillary, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(16))
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return self.close()
        self.buffer += data
        while (request_end := self._request_end()) is not None:
            self.buffer = self.buffer[request_end:]
            self.server.answer(self, _received(ancillary))

    def _request_end(self) -> int | None:
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        length = next(
            int(line.split(b":", 1)[1])
            for line in self.buffer[:head_end].split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        end = head_end + 4 + length
        return end if len(self.buffer) >= end else None

    def write(self, data: bytes) -> None:
        """Sends at once or not at all: a write the socket cannot take whole would leave later
        than the record says, so the connection is closed (the client counts a broken stream)."""
        try:
            if self.sock.send(data) == len(data):
                return
        except OSError:
            pass
        self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.loop.remove_reader(self.sock)
            self.sock.close()


def _received(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's moment of receiving a read (CLOCK_REALTIME), on perf_counter's clock; None if
    the kernel did not stamp it."""
    for _, kind, data in ancillary:
        if kind == SO_TIMESTAMPNS:
            seconds, nanoseconds = struct.unpack("qq", data)
            return seconds + nanoseconds * 1e-9 - (time.time() - time.perf_counter())
    return None


class ScheduledServer:
    def __init__(self, schedule: Schedule):
        self.schedule = schedule
        self.records: list[Sent] = []
        self.answered = 0
        self.loop = asyncio.get_running_loop()

    def accept(self, listening: socket.socket) -> None:
        while True:
            try:
                _Connection(self, listening.accept()[0])
            except BlockingIOError:
                return

    def answer(self, connection: _Connection, received: float | None) -> None:
        sent = Sent(self.answered, received or time.perf_counter(), from_kernel=received is not None)
        self.answered += 1
        self.records.append(sent)
        connection.write(HEADERS)
        self._send_at(self._due(sent, 0), connection, sent)

    def _send_at(self, due: float, connection: _Connection, sent: Sent) -> None:
        # uvloop's clock is libuv's, not perf_counter's: the wait is given, not the moment.
        self.loop.call_later(max(0.0, due - time.perf_counter()), self._send, connection, sent)

    def _due(self, sent: Sent, index: int) -> float:
        return sent.arrived + self.schedule.first_token + index * self.schedule.gap

    def _send(self, connection: _Connection, sent: Sent) -> None:
        if connection.closed:
            return
        sent.tokens.append(time.perf_counter())
        if len(sent.tokens) < self.schedule.tokens:
            connection.write(TOKEN if len(sent.tokens) > 1 else _token(b"%d" % sent.number))
            self._send_at(self._due(sent, len(sent.tokens)), connection, sent)
            return
        usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": self.schedule.tokens}}
        connection.write(
            TOKEN + _chunk(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n") + b"0\r\n\r\n"
        )


def _serve(schedule: Schedule, control: Connection) -> None:
    async def main() -> None:
        server = ScheduledServer(schedule)
        listening = socket.create_server(("127.0.0.1", 0), backlog=4096)
        listening.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)  # and so every connection it accepts
        listening.setblocking(False)
        await asyncio.sleep(0.2)  # Linux turns receive timestamps on a moment after they are asked for
        server.loop.add_reader(listening, server.accept, listening)
        control.send(listening.getsockname()[1])
        # Each message asks for the records since the last one.
        while await server.loop.run_in_executor(None, control.recv):
            records, server.records = server.records, []
            control.send([(r.number, r.arrived, r.tokens, r.from_kernel) for r in records])

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
        return [Sent(*record) for record in self.control.recv()]

    def __exit__(self, *args: object) -> None:
        self.process.terminate()
        self.process.join(10)
