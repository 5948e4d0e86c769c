"""Messages from the training worker to the console.

The engine calls its sink on the training thread; the console wraps each event in a message
and posts it (thread-safe, non-blocking), so training never waits for the UI to draw.
Messages only prompt a refresh: what is drawn is always read back from the store.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class EngineEvent(Message):
    """An event from the engine (Stage, RunStarted, EpochMetrics, RunFinished, ...)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class TrainingStarted(Message):
    """The experiment exists in the store (after `prepare` succeeded); training follows."""

    def __init__(self, experiment_id: int) -> None:
        super().__init__()
        self.experiment_id = experiment_id


class TrainingEnded(Message):
    """The training worker returned: `status` is the experiment's, or `error` says why not."""

    def __init__(self, experiment_id: int | None, status: str, error: str | None = None) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.status = status
        self.error = error


class ReportReady(Message):
    """A `Report` (statistics over the finished runs) was built off the UI thread."""

    def __init__(self, experiment_id: int, metric: str, report: Any) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.metric = metric
        self.report = report
