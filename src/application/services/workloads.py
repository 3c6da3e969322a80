"""What a measured run sends: its prompts, drawn before the run from a seeded workload, so that two
runs with the same workload send the same prompts and can be compared.

Input lengths are in tokens of the tokenizer (services/measures.py): fixed; normal (mean, standard
deviation `spread`, at least 1); or uniform (mean +- `spread`). Each prompt is words drawn from the
tokenizer's vocabulary, one token each, so it is exactly as long as drawn; a shared prefix of
`shared_prefix_tokens` (drawn once) starts every prompt and counts in its length.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from src.application.domain import bounds
from src.application.domain.errors import InvalidParameter
from src.application.ports.llm_client import AbstractTokenizer

DISTRIBUTIONS = ("fixed", "normal", "uniform")
FOR_WARM_UP, FOR_MEASURING = "warm-up", "measured"  # what prompts are drawn for: each purpose draws its own


@dataclass(frozen=True)
class Workload:
    input_tokens: int  # each prompt's length, or the mean of the lengths drawn
    distribution: str = "fixed"
    spread: int = 0  # normal: the standard deviation; uniform: the half-width
    shared_prefix_tokens: int = 0
    seed: int = 0  # of the prompts (the run's own seed times its arrivals)

    def __post_init__(self) -> None:
        if self.distribution not in DISTRIBUTIONS:
            raise InvalidParameter(
                f"unknown distribution {self.distribution!r}", choices=list(DISTRIBUTIONS), parameter="distribution"
            )
        bounds.INPUT_TOKENS.check("workload.input_tokens", self.input_tokens)
        bounds.INPUT_SPREAD.check("workload.spread", self.spread)
        bounds.INPUT_SPREAD.check("workload.shared_prefix_tokens", self.shared_prefix_tokens)
        if self.distribution == "uniform" and self.spread >= self.input_tokens:
            raise InvalidParameter("a uniform spread must be below input_tokens: every prompt needs a token")
        if self.shared_prefix_tokens > self.input_tokens - self.spread * (self.distribution == "uniform"):
            raise InvalidParameter("the shared prefix must fit in the shortest prompt drawn")
        bounds.SEED.check("workload.seed", self.seed)

    def lengths(self, count: int, purpose: str = FOR_MEASURING) -> list[int]:
        draw = random.Random(f"{self.seed}:{purpose}:lengths")  # lengths, not secrets  # nosec B311
        if self.distribution == "normal":
            return [max(1, self.shared_prefix_tokens, round(draw.gauss(self.input_tokens, self.spread)))
                    for _ in range(count)]  # fmt: skip
        if self.distribution == "uniform":
            low, high = self.input_tokens - self.spread, self.input_tokens + self.spread
            return [draw.randint(low, high) for _ in range(count)]
        return [self.input_tokens] * count

    def prompts(self, count: int, tokenizer: AbstractTokenizer, purpose: str = FOR_MEASURING) -> list[str]:
        """`count` prompts, the same for the same workload and purpose (warm-ups get others, so
        they cannot warm a cache for the measured ones): the prefix, then words to each length."""
        prefix = tokenizer.text(self.shared_prefix_tokens, random.Random(f"{self.seed}:prefix"))  # nosec B311
        words = random.Random(f"{self.seed}:{purpose}:words")  # nosec B311
        lengths = self.lengths(count, purpose)
        return [prefix + tokenizer.text(length - self.shared_prefix_tokens, words) for length in lengths]
