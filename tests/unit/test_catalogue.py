from src.application.domain.catalogue import load_catalogue
from src.application.domain.model import Direction
from src.application.use_cases.catalogue import CatalogueUseCases
from tests.unit.fakes import FakeUnitOfWork

EXPECTED_LLMS = {
    "GPT-4o", "Llama 3.1 405B", "Mistral Large 2", "Claude 3.5 Sonnet", "Gemini 1.5 Pro", "GPT-4o mini",
    "Llama 3.1 70B", "Jamba 1.5 Large", "Mixtral 8x22B", "Gemini 1.5 Flash", "Claude 3 Haiku", "Llama 3.1 8B",
}  # fmt: skip


def test_the_catalogue_has_the_twelve_llms_and_four_metrics_with_their_directions():
    catalogue = load_catalogue()
    assert {llm.name for llm in catalogue.llms} == EXPECTED_LLMS
    directions = {m.name: m.direction for m in catalogue.metrics}
    assert directions == {
        "TTFT": Direction.LOWER_IS_BETTER,
        "TPS": Direction.HIGHER_IS_BETTER,
        "e2e_latency": Direction.LOWER_IS_BETTER,
        "RPS": Direction.HIGHER_IS_BETTER,
    }
    assert [p.llm_name for p in catalogue.profiles] == [llm.name for llm in catalogue.llms]


def test_seeding_adds_the_catalogue_once():
    uow = FakeUnitOfWork()
    use_cases = CatalogueUseCases(uow)
    assert use_cases.seed() == 16
    assert use_cases.seed() == 0
    assert {llm.name for llm in use_cases.llms()} == EXPECTED_LLMS
    assert len(use_cases.metrics()) == 4
