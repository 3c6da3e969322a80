"""The telemetry port: what the core reports about its work, for dashboards and alerts."""

from __future__ import annotations

import abc

from src.application.domain.model import RunStatus


class AbstractTelemetry(abc.ABC):
    @abc.abstractmethod
    def run_finished(self, status: RunStatus, sample_count: int, seconds: float) -> None:
        """A simulation run ended (completed or failed) after `seconds` of execution."""


class NoTelemetry(AbstractTelemetry):
    def run_finished(self, status: RunStatus, sample_count: int, seconds: float) -> None:
        pass
