"""What the engine tells its listener while an experiment runs.

The engine calls one sink (any callable) with these plain, immutable events. The CLI turns
them into a progress display or log lines; the console wraps them in Textual messages.
Listeners with one hook per event, and the runs in flight, are in `embtui.engine.listeners`. The
sink is called on the training thread, so it must be quick and must not block: the console
posts a message, which is thread-safe and returns at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from embtui.store import EpochMetrics, ExperimentStatus, RunStatus


@dataclass(frozen=True)
class Stage:
    """A slow preparation step is under way (loading TensorFlow, data, GloVe vectors)."""

    experiment_id: int | None
    text: str


@dataclass(frozen=True)
class RunStarted:
    experiment_id: int
    run_id: int
    position: int
    total: int
    size: int
    embedding: str
    seed: int
    device: str
    arm: str = ""  # the arm's name by the factors the grid varies ("glove avgpool lr=0.01")
    epochs: int = 0  # the epochs this run trains (its own in a sweep over epochs; 0: unsaid)

    @property
    def label(self) -> str:
        """What progress lines call the run's arm: its name in a sweep, else its embedding."""
        return self.arm or self.embedding


@dataclass(frozen=True)
class RunFinished:
    experiment_id: int
    run_id: int
    status: RunStatus
    error: str | None = None


@dataclass(frozen=True)
class ExperimentFinished:
    experiment_id: int
    status: ExperimentStatus


Event = Stage | RunStarted | EpochMetrics | RunFinished | ExperimentFinished
Sink = Callable[[Event], None]


class StopFlag(Protocol):
    """What training checks between epochs to stop early: a `threading.Event`, a
    multiprocessing one, or a worker's stop-or-orphaned flag."""

    def is_set(self) -> bool: ...


def ignore(event: Event) -> None:
    """The sink used when nobody listens."""


__all__ = [
    "EpochMetrics",
    "Event",
    "ExperimentFinished",
    "RunFinished",
    "RunStarted",
    "Sink",
    "Stage",
    "StopFlag",
    "ignore",
]
