"""The catalogue of LLMs and metrics: seeded from catalogue.json, read by everything else."""

from __future__ import annotations

from dataclasses import replace

from injector import inject

from src.application.domain.catalogue import load_catalogue
from src.application.domain.errors import Conflict, InvalidParameter
from src.application.domain.model import COMMAND_LINE, LLM, Caller, Metric, Role
from src.application.ports.cache import AbstractCache
from src.application.ports.unit_of_work import AbstractUnitOfWork


class CatalogueUseCases:
    @inject
    def __init__(self, uow: AbstractUnitOfWork, cache: AbstractCache):
        self.uow = uow
        self.cache = cache

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

    def add_llm(
        self, name: str, vendor: str, family: str | None = None, size: str | None = None, caller: Caller = COMMAND_LINE
    ) -> LLM:
        """Add an LLM to the catalogue: endpoints may then serve it. The simulator keeps to the
        LLMs whose profiles catalogue.json holds."""
        caller.require(Role.ADMIN, "adding an LLM")
        llm = LLM(name=name.strip(), vendor=vendor.strip(), family=_optional(family), size=_optional(size))
        lengths = {"name": (llm.name, 100), "vendor": (llm.vendor, 100), "family": (llm.family or "-", 100),
                   "size": (llm.size or "-", 40)}  # fmt: skip
        for field_name, (value, longest) in lengths.items():
            if not 1 <= len(value) <= longest or not value.isprintable():
                raise InvalidParameter(f"an LLM's {field_name} must be 1 to {longest} printable characters",
                                       parameter=field_name)  # fmt: skip
        with self.uow:
            if any(known.name == llm.name for known in self.uow.catalogue.llms()):
                raise Conflict(f"the catalogue already has an LLM named {llm.name!r}")
            self.uow.catalogue.add(llm)
            self.uow.commit()
        self.cache.data_changed()  # this process's cached answers go at once, others' within a second
        return llm

    def llms(self) -> list[LLM]:
        with self.uow:
            return self.uow.catalogue.llms()

    def llm_names(self) -> dict[int | None, str]:
        """The LLMs' names by id: what an endpoint serves, told as the catalogue names it."""
        return {llm.id: llm.name for llm in self.llms()}

    def metrics(self) -> list[Metric]:
        with self.uow:
            return self.uow.catalogue.metrics()


def _optional(text: str | None) -> str | None:
    return text.strip() or None if text is not None else None


def _copy(item: LLM | Metric) -> LLM | Metric:
    """A fresh object: the loaded catalogue is shared and must never join a session."""
    return replace(item, id=None)
