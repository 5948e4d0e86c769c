"""The messages of the console: how its parts tell each other what happened or is wanted.

Two kinds, both plain Textual messages (thread-safe to post, never blocking):

* **From workers** (the training thread, the export and statistics threads, the store
  watcher): what happened. The engine calls its sink on the training thread; the console
  wraps each event in `EngineEvent` and posts it, so training never waits for the UI to
  draw. Messages only prompt a refresh: what is drawn is always read back from the store.
* **From screens** (requests): what the user asked for. A screen posts one and the app,
  which owns the store, the engine and the training worker, handles it with `@on(...)`.
  Screens never call the app's own methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from pathlib import Path

    from embtui.config import ExperimentConfig
    from embtui.engine.events import Event
    from embtui.report.model import Report

# Each message is a dataclass (as Textual's own and Toolong's are): its fields are its
# payload, typed, and `Message.__post_init__` (which the generated `__init__` calls) sets up
# what Textual needs.

# -- from workers ---------------------------------------------------------------------


@dataclass
class EngineEvent(Message):
    """An event from the engine (`embtui.engine.events.Event`: Stage, RunStarted,
    EpochMetrics, RunFinished, ExperimentFinished), posted by the app's sink on the
    training thread."""

    event: Event


@dataclass
class TrainingStarted(Message):
    """The experiment exists in the store (after `prepare` succeeded); training follows."""

    experiment_id: int


@dataclass
class TrainingEnded(Message):
    """The training worker returned: `status` is the experiment's, or `error` says why not
    (`kind`: the error's class name, e.g. DataError, which tells the form which field)."""

    experiment_id: int | None
    status: str
    error: str | None = None
    kind: str | None = None


@dataclass
class ReportReady(Message):
    """A `Report` (statistics over the finished runs) was built off the UI thread, or
    `error` says in one line why it could not be (a compared experiment deleted meanwhile);
    `key` names the state of the runs it was built for (a newer one makes it stale)."""

    experiment_id: int
    metric: str
    report: Report | None
    key: object = None
    error: str | None = None


@dataclass
class ExportDone(Message):
    """An export was written to `path`, or failed with `error`."""

    experiment_id: int | tuple[int, ...]
    path: Path | None
    error: str | None = None


@dataclass
class StoreChanged(Message, bubble=False):
    """The store may hold something new (see `embtui.app.store_watcher`): read it again.

    Such messages replace each other while they wait: however many arrive while the screen
    is busy, it reads the store once."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StoreChanged)


@dataclass
class OwnersChecked(Message, bubble=False):
    """The store watcher marked these experiments `interrupted` (their process died)."""

    experiment_ids: list[int]


@dataclass
class PoolChecked(Message):
    """The marked experiments' pooled report (or, in `error`, why they cannot be compared:
    the same one line `embtui export 3,5` prints)."""

    experiment_ids: list[int]
    report: Report | None
    error: str | None = None


# -- from screens: requests the app carries out ---------------------------------------


@dataclass
class NewRequested(Message):
    """Open the form for a new experiment, filled from `from_experiment` if given."""

    from_experiment: int | None


@dataclass
class StartRequested(Message):
    """The form's ctrl+s: prepare and train `config` (the form stays open until the
    experiment is recorded, and shows any error under the field it concerns)."""

    config: ExperimentConfig


@dataclass
class CancelRequested(Message):
    """Stop the training of `experiment_id` after the current epoch (after asking)."""

    experiment_id: int | None


@dataclass
class ResumeRequested(Message):
    """Finish an interrupted, cancelled or failed experiment."""

    experiment_id: int | None


@dataclass
class ExportRequested(Message):
    """Write the experiment's summary in `fmt` (md, html, csv, summary-csv, json) for `metric`;
    given several ids (a tuple), their comparison as one pool."""

    experiment_id: int | tuple[int, ...]
    metric: str = "final"
    fmt: str = "md"


@dataclass
class DeleteRequested(Message):
    """Delete the experiment, its runs and epochs (the user has confirmed)."""

    experiment_id: int


@dataclass
class RenameRequested(Message):
    """Give the experiment a new name (already checked by the dialog)."""

    experiment_id: int
    name: str
