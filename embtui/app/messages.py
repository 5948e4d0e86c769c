"""The messages of the console: how its parts tell each other what happened or is wanted.

Two kinds, both plain Textual messages (thread-safe to post, never blocking):

* **From workers** (the training thread, the export and statistics threads, the owner
  watch): what happened. The engine calls its sink on the training thread; the console
  wraps each event in `EngineEvent` and posts it, so training never waits for the UI to
  draw. Messages only prompt a refresh: what is drawn is always read back from the store.
* **From screens** (requests): what the user asked for. A screen posts one and the app,
  which owns the store, the engine and the training worker, handles it with `@on(...)`.
  Screens never call the app's own methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from embtui.config import ExperimentConfig

# -- from workers ---------------------------------------------------------------------


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
    """The training worker returned: `status` is the experiment's, or `error` says why not
    (`kind`: the error's class name, e.g. DataError, which tells the form which field)."""

    def __init__(
        self,
        experiment_id: int | None,
        status: str,
        error: str | None = None,
        kind: str | None = None,
    ) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.status = status
        self.error = error
        self.kind = kind


class ReportReady(Message):
    """A `Report` (statistics over the finished runs) was built off the UI thread."""

    def __init__(self, experiment_id: int, metric: str, report: Any, key: object = None) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.metric = metric
        self.report = report
        self.key = key


class ExportDone(Message):
    """An export was written to `path`, or failed with `error`."""

    def __init__(
        self, experiment_id: int | tuple[int, ...], path: Path | None, error: str | None = None
    ) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.path = path
        self.error = error


class OwnersChecked(Message):
    """The owner watch marked these experiments `interrupted` (their process died)."""

    def __init__(self, experiment_ids: list[int]) -> None:
        super().__init__()
        self.experiment_ids = experiment_ids


class SystemSampled(Message):
    """The console's own probe read the box (CPU, RAM, GPUs), about once a second;
    `problems` says, in the probe's words, which devices it cannot read."""

    def __init__(self, t: float, samples: list[Any], problems: tuple[str, ...]) -> None:
        super().__init__()
        self.t = t
        self.samples = samples
        self.problems = problems


class PoolChecked(Message):
    """The marked experiments' pooled report (or, in `error`, why they cannot be compared:
    the same one line `embtui export 3,5` prints)."""

    def __init__(self, experiment_ids: list[int], report: Any, error: str | None = None) -> None:
        super().__init__()
        self.experiment_ids = experiment_ids
        self.report = report
        self.error = error


# -- from screens: requests the app carries out ---------------------------------------


class NewRequested(Message):
    """Open the form for a new experiment, filled from `from_experiment` if given."""

    def __init__(self, from_experiment: int | None) -> None:
        super().__init__()
        self.from_experiment = from_experiment


class StartRequested(Message):
    """The form's ctrl+s: prepare and train `config` (the form stays open until the
    experiment is recorded, and shows any error under the field it concerns)."""

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__()
        self.config = config


class CancelRequested(Message):
    """Stop the training of `experiment_id` after the current epoch (after asking)."""

    def __init__(self, experiment_id: int | None) -> None:
        super().__init__()
        self.experiment_id = experiment_id


class ResumeRequested(Message):
    """Finish an interrupted, cancelled or failed experiment."""

    def __init__(self, experiment_id: int | None) -> None:
        super().__init__()
        self.experiment_id = experiment_id


class ExportRequested(Message):
    """Write the experiment's summary in `fmt` (md, html, csv, summary-csv, json) for `metric`;
    given several ids (a tuple), their comparison as one pool."""

    def __init__(
        self, experiment_id: int | tuple[int, ...], metric: str = "final", fmt: str = "md"
    ) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.metric = metric
        self.fmt = fmt


class DeleteRequested(Message):
    """Delete the experiment, its runs and epochs (the user has confirmed)."""

    def __init__(self, experiment_id: int) -> None:
        super().__init__()
        self.experiment_id = experiment_id


class RenameRequested(Message):
    """Give the experiment a new name (already checked by the dialog)."""

    def __init__(self, experiment_id: int, name: str) -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.name = name
