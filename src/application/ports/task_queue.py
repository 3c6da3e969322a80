"""The task queue port: how the core asks for work to happen elsewhere."""

from __future__ import annotations

import abc


class AbstractTaskQueue(abc.ABC):
    @abc.abstractmethod
    def enqueue_simulation(self, run_id: int) -> None:
        """Ask a worker to execute the queued run; raises ServiceUnavailable if it cannot."""

    @abc.abstractmethod
    def enqueue_benchmark(self, run_id: int) -> None:
        """Ask a worker to measure the queued run's endpoint; raises ServiceUnavailable if it cannot."""

    @abc.abstractmethod
    def enqueue_benchmark_shards(self, run_id: int, shards: int, start_at: float) -> None:
        """Ask that many workers to measure a share of the queued run each, starting together at
        `start_at` (Unix time), and one to merge their results into the run; raises
        ServiceUnavailable if it cannot."""

    @abc.abstractmethod
    def enqueue_campaign(self, campaign_id: int) -> None:
        """Ask one worker to measure the queued campaign's endpoints together; raises
        ServiceUnavailable if it cannot."""

    @abc.abstractmethod
    def enqueue_sweep(self, sweep_id: int) -> None:
        """Ask a worker to run the queued sweep's stages; raises ServiceUnavailable if it cannot."""
