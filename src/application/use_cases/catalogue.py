"""The catalogue of LLMs and metrics: seeded from catalogue.json, read by everything else."""

from __future__ import annotations

from dataclasses import replace

from injector import inject

from src.application.domain.catalogue import load_catalogue
from src.application.domain.model import LLM, Metric
from src.application.ports.unit_of_work import AbstractUnitOfWork


class CatalogueUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork):
        self.uow = uow

    def seed(self) -> int:
        """Add the LLMs and metrics the store lacks; running it again adds nothing."""
        catalogue = load_catalogue()
        with self.uow:
            known = {llm.name for llm in self.uow.catalogue.llms()}
            known |= {metric.name for metric in self.uow.catalogue.metrics()}
            entries: list[LLM | Metric] = [*catalogue.metrics, *catalogue.llms]
            missing = [_copy(entry) for entry in entries if entry.name not in known]
            for item in missing:
                self.uow.catalogue.add(item)
            self.uow.commit()
        return len(missing)

    def llms(self) -> list[LLM]:
        with self.uow:
            return self.uow.catalogue.llms()

    def metrics(self) -> list[Metric]:
        with self.uow:
            return self.uow.catalogue.metrics()


def _copy(item: LLM | Metric) -> LLM | Metric:
    """A fresh object: the loaded catalogue is shared and must never join a session."""
    return replace(item, id=None)
