"""How many streams one worker process holds, and how true its timings stay: the measured-run
client (aiohttp, one event loop) against a local OpenAI-compatible server whose delays are set.

    make benchmark-client          # or: .venv/bin/python -m scripts.benchmark_client

The server (aiohttp's, in a process of its own) answers every stream with its first token after
FIRST_TOKEN seconds and then a token every TOKEN_GAP seconds, each at its own time from the
request's arrival. For each concurrency, the client sends 2x that many requests at fixed
concurrency, as a measured run does, and prints: the most streams in flight at once; TTFT and
inter-token gaps against the server's (the excess is the client's and the host's); the event
loop's lag (a timer that should fire every 10 ms); the client's own parsing time per request; and
the client process's CPU. The two processes share this host's cores: figures are upper bounds of
the client's own error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import time
from multiprocessing.connection import Connection

import numpy as np
from aiohttp import web

from src.adapters.measurement.openai_client import OpenAIStreamingClient
from src.application.ports.llm_client import ChatRequest, RequestOutcome
from src.application.services.load import LoadShape, drive

FIRST_TOKEN = 0.5  # seconds
TOKEN_GAP = 0.05  # seconds: 20 tokens/s a stream
TOKENS = 20
TICK = 0.01  # the lag probe's period


def serve(report: Connection) -> None:
    async def chat(request: web.Request) -> web.StreamResponse:
        arrived = time.monotonic()
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for index in range(TOKENS):
            await asyncio.sleep(max(0.0, arrived + FIRST_TOKEN + index * TOKEN_GAP - time.monotonic()))
            event = {"choices": [{"index": 0, "delta": {"content": f"tok{index} "}}]}
            await response.write(b"data: " + json.dumps(event).encode() + b"\n\n")
        usage = {"choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": TOKENS}}
        await response.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        return response

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        report.send(runner.addresses[0][1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def measure(base_url: str, concurrency: int) -> dict[str, float]:
    request = ChatRequest(base_url, "bench", None, "Say something.", TOKENS, 60.0)
    in_flight = most = 0
    lags: list[float] = []

    async def probe() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(TICK)
            lags.append(time.perf_counter() - before - TICK)

    async with OpenAIStreamingClient().connect(True, concurrency) as streams:

        async def send() -> RequestOutcome:
            nonlocal in_flight, most
            in_flight += 1
            most = max(most, in_flight)
            try:
                return await streams.stream(request)
            finally:
                in_flight -= 1

        await drive(send, concurrency, LoadShape(concurrency))  # warm-up: the connections opened
        prober = asyncio.create_task(probe())
        cpu_before = resource.getrusage(resource.RUSAGE_SELF)
        outcomes, wall = await drive(send, 2 * concurrency, LoadShape(concurrency))
        cpu_after = resource.getrusage(resource.RUSAGE_SELF)
        prober.cancel()
    ok = [o for o in outcomes if o.error is None]
    ttft = np.array([o.ttft_s for o in ok])
    gaps = np.concatenate([np.diff([c.at for c in o.chunks]) for o in ok])
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {
        "most": most,
        "errors": len(outcomes) - len(ok),
        "ttft_p50": np.percentile(ttft, 50) - FIRST_TOKEN,
        "ttft_p99": np.percentile(ttft, 99) - FIRST_TOKEN,
        "gap_p50": np.percentile(gaps, 50) - TOKEN_GAP,
        "gap_p99": np.percentile(gaps, 99) - TOKEN_GAP,
        "lag_p99": float(np.percentile(lags, 99)),
        "overhead": float(np.mean([o.client_overhead_s for o in outcomes])),
        "cpu": cpu / wall,
        "events": len(outcomes) * (TOKENS + 2) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrency", default="100,500,1000,2000")
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    port_in, port_out = context.Pipe()
    server = context.Process(target=serve, args=(port_out,), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{port_in.recv()}/v1"
    print(f"server: first token after {FIRST_TOKEN * 1000:.0f} ms, then one every {TOKEN_GAP * 1000:.0f} ms "
          f"({TOKENS} tokens); 2x the concurrency in requests; excess over the server's timing in ms")  # fmt: skip
    print(f"{'streams':>8} {'most':>6} {'errors':>6} {'TTFT p50':>9} {'p99':>6} {'gap p50':>8} {'p99':>6} "
          f"{'loop lag p99':>13} {'parsing/req':>12} {'client CPU':>11} {'events/s':>9}")  # fmt: skip
    try:
        for concurrency in (int(c) for c in args.concurrency.split(",")):
            m = asyncio.run(measure(base_url, concurrency))
            print(f"{concurrency:>8} {m['most']:>6} {m['errors']:>6} {m['ttft_p50'] * 1000:>9.1f} "
                  f"{m['ttft_p99'] * 1000:>6.1f} {m['gap_p50'] * 1000:>8.1f} {m['gap_p99'] * 1000:>6.1f} "
                  f"{m['lag_p99'] * 1000:>13.1f} {m['overhead'] * 1000:>10.2f}ms {m['cpu']:>11.0%} "
                  f"{m['events']:>9,.0f}")  # fmt: skip
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
