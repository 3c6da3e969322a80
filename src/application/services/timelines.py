"""Each measured request as it happened: the record kept with its run (as long as raw samples) and
exported as JSON Lines, a request a line, in the order they were sent. Warm-up requests are not
measured and not kept.

Times are in seconds on the client's monotonic clock: `sent_s` from the start of the run's
measured requests, every other time from the moment its own request began (so `first_token_s`
is the request's TTFT, connection set-up included; `connect_s` is that set-up, 0 on a connection
kept alive). A chunk is [arrival, content tokens, reasoning tokens] for every streamed event that
carried text, its tokens counted by the tokenizer after the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from src.application.ports.llm_client import RequestOutcome


def records(outcomes: Sequence[RequestOutcome], origin: float) -> list[dict[str, Any]]:
    """The requests' records in the order they were sent; `origin`: when the first could be."""
    in_order = sorted(outcomes, key=lambda outcome: outcome.started)
    return [record(index, outcome, origin) for index, outcome in enumerate(in_order)]


def record(index: int, outcome: RequestOutcome, origin: float) -> dict[str, Any]:
    def since_sent(moment: float | None) -> float | None:
        return None if moment is None else _micro(moment - outcome.started)

    return {
        "request": index,
        "sent_s": _micro(outcome.started - origin),
        "connect_s": _micro(outcome.connect_s),
        "headers_s": since_sent(outcome.headers_at),
        "first_chunk_s": since_sent(outcome.first_chunk_at),
        "first_reasoning_s": since_sent(outcome.first_reasoning_at),
        "first_token_s": since_sent(outcome.first_token_at),
        "end_s": since_sent(outcome.finished),
        "chunks": [[since_sent(c.at), c.content_tokens, c.reasoning_tokens] for c in outcome.chunks],
        "output_tokens": None if outcome.error else outcome.output_tokens,
        "tokenizer_tokens": outcome.tokenizer_tokens,
        "prompt_tokens": outcome.prompt_tokens,
        "input_tokens": outcome.input_tokens,
        "tokens_from_usage": outcome.tokens_from_usage,
        "usage": outcome.usage,
        "finish_reason": outcome.finish_reason,
        "error": outcome.error,
        "error_detail": outcome.error_detail,
        "client_overhead_s": _micro(outcome.client_overhead_s),
    }


def _micro(seconds: float) -> float:
    return round(seconds, 6)  # the clock's microseconds: finer digits are noise and bytes
