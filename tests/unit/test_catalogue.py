"""The open catalogue: LLMs added by admins beside the twelve seeded ones."""

from __future__ import annotations

import pytest

from src.application.domain.errors import Conflict, Forbidden, InvalidParameter
from src.application.domain.model import Caller, Role
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.rankings import RankingUseCases
from tests.unit.fakes import FakeCache, FixedClock, seeded_uow


def test_an_admin_adds_an_llm_with_its_family_and_size_and_the_data_version_moves():
    uow = seeded_uow()
    cache = FakeCache()
    catalogue, rankings = CatalogueUseCases(uow, cache), RankingUseCases(uow, FixedClock())
    before = rankings.data_version()
    llm = catalogue.add_llm(" Qwen 2.5 72B ", "Alibaba", "Qwen 2.5", "72B")
    assert (llm.name, llm.vendor, llm.family, llm.size) == ("Qwen 2.5 72B", "Alibaba", "Qwen 2.5", "72B")
    assert len(catalogue.llms()) == 13 and rankings.data_version() != before  # cached answers see it
    assert cache.changes == 1  # this process reads the new version at once
    assert catalogue.add_llm("Tiny", "Lab", family=" ", size=None).family is None


def test_a_taken_name_an_empty_or_overlong_field_or_a_non_admin_is_refused():
    catalogue = CatalogueUseCases(seeded_uow(), FakeCache())
    with pytest.raises(Conflict, match="the catalogue already has an LLM named 'GPT-4o'"):
        catalogue.add_llm("GPT-4o", "OpenAI")
    with pytest.raises(InvalidParameter, match="an LLM's vendor must be 1 to 100 printable characters"):
        catalogue.add_llm("X", " ")
    with pytest.raises(InvalidParameter, match="an LLM's size must be 1 to 40 printable characters"):
        catalogue.add_llm("X", "Lab", size="9" * 41)
    with pytest.raises(Forbidden, match="adding an LLM needs the role admin"):
        catalogue.add_llm("X", "Lab", caller=Caller("key:4", Role.OPERATOR))
    assert len(catalogue.llms()) == 12
