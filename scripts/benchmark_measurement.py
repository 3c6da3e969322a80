"""How true a measured run's timings are: the service's own client and load driver against a
server that streams on an exact schedule and records what it sent (scripts/scheduled_server.py).

    make benchmark-measurement      # or: .venv/bin/python -m scripts.benchmark_measurement

Each point is STREAMS@GAP_MS: that many requests in flight at once (fixed concurrency, as a
measured run sends them), each answered with its first token after --first-token-ms and then a
token every GAP_MS, --tokens in all. A point sends max(--min-requests, 3 x streams) requests
after one warm-up request per stream (which opens the connections). It prints, in ms, TTFT and
ITL (the service's definitions, services/measures.py) at p50 and p99 as the client measured them
and as the server's record has them, the relative error (targets: 1% at p50, 3% at p99), how
late the client stamped first tokens after the server sent them (p99: its own part of the TTFT
error; the rest is the requests' way in, their wait before the server stamped them included), the
output tokens per second the client sustained, its event loop's CPU and lag (p99 of the run's
time), and the self-check's
verdict: a run past the client's limits is marked client-bound (invalid) and never published.

The server and the client share this host's cores, so the errors are upper bounds of the
client's own.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from scripts.scheduled_server import Schedule, ServerProcess
from src.adapters.measurement.openai_client import OpenAIStreamingClient
from src.application.ports.llm_client import ChatRequest
from src.application.services.load import LoadShape, Watched, drive, on_own_loop, watched
from src.application.services.measures import ClientLimits, itl_s, self_check, timed_speed

TARGETS = {50: 0.01, 99: 0.03}  # the relative error allowed at each percentile


async def measure(client: OpenAIStreamingClient, base_url: str, streams: int, total: int, tokens: int) -> Watched:
    """As a measured run: one warm-up request a stream (they open the connections), then `total`
    measured, on the client's own event loop in a thread of its own."""
    request = ChatRequest(base_url, "bench", None, "Say something.", tokens, 120.0)
    async with client.connect(True, streams) as chats:
        await drive(lambda: chats.stream(request), streams, LoadShape(streams))
        return await watched(drive(lambda: chats.stream(request), total, LoadShape(streams)))


def row(streams: int, gap_ms: float, args: argparse.Namespace) -> str:
    schedule = Schedule(args.first_token_ms / 1000, gap_ms / 1000, args.tokens)
    total = max(args.min_requests, 3 * streams)
    with ServerProcess(schedule) as server:
        client = OpenAIStreamingClient()
        watched = on_own_loop(measure(client, server.base_url, streams, total, args.tokens), client.new_event_loop)
        sent = server.records()[streams:]  # in order of arrival: the warm-ups' first
    outcomes = watched.driven.outcomes
    ok = [o for o in outcomes if o.error is None]
    # The client's own part of its TTFT error: each first token stamped after the server sent it
    # (the request's first token names its record). The rest is the request's way in, the time
    # before the server stamped its arrival included.
    sent_at = {s.number: s.tokens[0] for s in sent}
    stamped_late = [o.first_token_at - sent_at[int(o.chunks[0].content)] for o in ok]  # ok: first_token_at is set
    wall = watched.driven.wall
    cells = [f"{streams:>7} {gap_ms:>6g} {len(outcomes) - len(ok):>6}"]
    for measured, record in (
        ([o.ttft_s for o in ok], [s.ttft for s in sent]),
        ([itl_s(o) for o in ok if timed_speed(o)], [s.itl for s in sent]),
    ):
        for percentile, allowed in TARGETS.items():
            got, truth = np.percentile(measured, percentile) * 1000, np.percentile(record, percentile) * 1000
            error = got / truth - 1
            cells.append(f"{got:>8.2f} {truth:>8.2f} {error:>+7.2%}{' ' if abs(error) <= allowed else '!'}")
    checked = self_check(watched.lags, watched.cpu_s, wall, [], ClientLimits())
    tokens_per_second = sum(o.output_tokens for o in ok) / wall
    cells.append(f"{np.percentile(stamped_late, 99) * 1000:>10.2f}")
    cells.append(f"{tokens_per_second:>9,.0f} {checked['client_cpu']:>5.0%} {checked['loop_lag_ms']['p99']:>7.1f}")
    cells.append("client-bound" if checked["reasons"] else "valid")
    if unstamped := sum(not s.from_kernel for s in sent):  # the kernel gave no receive time
        cells.append(f"\n{'':>21} {unstamped} arrivals stamped by the server, not the kernel: late by its delay")
    return " ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--points", default="1@10,64@10,256@10,1000@50,512@10,640@10,800@10,2000@50", help="STREAMS@GAP_MS,..."
    )
    parser.add_argument("--first-token-ms", type=float, default=100.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--min-requests", type=int, default=50)
    args = parser.parse_args()
    assert abs(time.perf_counter() - time.monotonic()) < 0.001, "the server's clock must be the client's"
    print(f"first token after {args.first_token_ms:g} ms, {args.tokens} tokens; times in ms, measured, the "
          f"server's record, the error ('!': past {TARGETS[50]:.0%} at p50, {TARGETS[99]:.0%} at p99)")  # fmt: skip
    print(f"{'streams':>7} {'gap':>6} {'errors':>6} {'TTFT p50':>26} {'TTFT p99':>26} {'ITL p50':>26} "
          f"{'ITL p99':>26} {'stamp p99':>10} {'tokens/s':>9} {'CPU':>5} {'lag p99':>7} verdict")  # fmt: skip
    for point in args.points.split(","):
        streams, gap_ms = point.split("@")
        print(row(int(streams), float(gap_ms), args), flush=True)


if __name__ == "__main__":
    main()
