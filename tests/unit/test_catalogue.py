"""The open catalogue: LLMs added by admins beside the twelve seeded ones."""

from __future__ import annotations

import pytest

from src.application.domain.errors import Conflict, Forbidden, InvalidParameter
from src.application.domain.model import Caller, Role
from src.application.use_cases.catalogue import CatalogueUseCases
from src.application.use_cases.rankings import RankingUseCases
from tests.unit.fakes import FakeCache, FakeUnitOfWork, FixedClock, seeded_uow


def test_an_admin_adds_an_llm_with_its_family_and_size_and_the_data_version_moves():
    uow = seeded_uow()
    cache = FakeCache()
    catalogue, rankings = CatalogueUseCases(uow, cache), RankingUseCases(uow, FixedClock())
    before = rankings.data_version()
    llm = catalogue.add_llm(" Qwen 2.5 72B ", "Alibaba", "Qwen 2.5", "72B")
    assert (llm.name, llm.vendor, llm.family, llm.size) == ("Qwen 2.5 72B", "Alibaba", "Qwen 2.5", "72B")
    assert len(catalogue.llms()) == 13 and rankings.data_version() != before  # cached answers see it
    assert catalogue.llm_names()[llm.id] == "Qwen 2.5 72B"  # as endpoints tell the LLM they serve
    assert sorted(catalogue.llm_names().values()) == sorted(known.name for known in catalogue.llms())
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


def test_seeding_adds_only_what_the_store_lacks_and_again_nothing():
    uow = FakeUnitOfWork()
    catalogue = CatalogueUseCases(uow, FakeCache())
    assert catalogue.seed() == 4 + 12 and catalogue.seed() == 0
    uow.store.llms = [llm for llm in uow.store.llms if llm.name != "GPT-4o"]  # as committed
    uow.store.metrics = [metric for metric in uow.store.metrics if metric.name != "TPS"]
    assert catalogue.seed() == 2 and {llm.name for llm in catalogue.llms()} >= {"GPT-4o"}
    assert sorted(metric.name for metric in catalogue.metrics()) == ["RPS", "TPS", "TTFT", "e2e_latency"]


@pytest.mark.parametrize(
    "fields, message, parameter",
    [
        ({"name": "n" * 101}, "an LLM's name must be 1 to 100 printable characters", "name"),
        ({"name": "line\nbreak"}, "an LLM's name must be 1 to 100 printable characters", "name"),
        ({"family": "f" * 101}, "an LLM's family must be 1 to 100 printable characters", "family"),
        ({"vendor": "v" * 101}, "an LLM's vendor must be 1 to 100 printable characters", "vendor"),
    ],
)
def test_each_field_of_an_llm_is_checked_and_named(fields, message, parameter):
    catalogue = CatalogueUseCases(seeded_uow(), FakeCache())
    with pytest.raises(InvalidParameter) as refused:
        catalogue.add_llm(**{"name": "X", "vendor": "Lab"} | fields)
    assert (str(refused.value), refused.value.parameter) == (message, parameter)


def test_fields_at_their_longest_are_accepted():
    catalogue = CatalogueUseCases(seeded_uow(), FakeCache())
    llm = catalogue.add_llm("n" * 100, "v" * 100, "f" * 100, "s" * 40)
    assert (len(llm.name), len(llm.vendor), len(llm.family), len(llm.size)) == (100, 100, 100, 40)
    with pytest.raises(Conflict) as refused:
        catalogue.add_llm("n" * 100, "Lab")
    assert str(refused.value) == f"the catalogue already has an LLM named {'n' * 100!r}"
