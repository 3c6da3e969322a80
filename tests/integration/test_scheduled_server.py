"""The reference server of `make benchmark-measurement` keeps its schedule and records a request's
arrival as the kernel received it: between the client's send and the server's first token."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

from scripts.scheduled_server import Schedule, ServerProcess

REQUEST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"


def test_a_request_is_answered_on_schedule_and_its_arrival_is_the_kernels():
    with ServerProcess(Schedule(first_token=0.05, gap=0.01, tokens=5)) as server:
        with socket.create_connection(("127.0.0.1", urlsplit(server.base_url).port)) as client:
            sending = time.perf_counter()
            client.sendall(REQUEST)
            reply = b""
            while not reply.endswith(b"0\r\n\r\n"):
                reply += client.recv(65536)
        [sent] = server.records()

    assert sent.from_kernel and sending <= sent.arrived <= sending + 0.01
    assert b'"content":"0"' in reply and reply.count(b'"content":" hello"') == 4  # the first token names the request
    assert len(sent.tokens) == 5 and abs(sent.ttft - 0.05) < 0.005 and abs(sent.itl - 0.01) < 0.002
