"""The console's background jobs, and the one rule for their failures.

Every job that would hold up the screen (training, exports, statistics, the system
sampler, TensorFlow's warm-up) runs in a thread worker started with `background(...)`;
the store watcher (`embtui.app.store_watcher`) is a thread of its own that posts its
failures as `JobFailed` itself. None of them may close the console when it fails, and none may
fail silently: Textual posts `Worker.StateChanged` when a worker ends in error, and the
node that started the job (the app or a screen, each a `ReportsFailures`) first puts its
own state right (`job_failed(group, error)`: an "exporting…" notice cleared, "computing…"
replaced by the error), then posts `JobFailed`, which bubbles to the app, where one handler
(`EmbtuiApp.on_job_failed`) writes the error and its traceback to the message log and says
in a notification what failed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from textual import work
from textual.message import Message
from textual.worker import Worker, WorkerState

F = TypeVar("F", bound=Callable[..., Any])

#: What each group of jobs does, as a failure names it ("export failed: ...").
JOB_NAMES: dict[str, str] = {
    "training": "training",
    "warm-up": "loading TensorFlow",
    "export": "export",
    "report": "the statistics",
    "compare": "the comparison",
    "pool": "pooling the marked experiments",
    "owners": "watching the store (new results, dead training processes)",
    "system": "the system sampler",
    "inspect": "reading the run's kept weights",
    "closing": "closing the console after training",
}


#: Jobs that run again on every poll: a failure is reported once, not every second.
PERIODIC_JOBS = frozenset({"owners", "system"})


def background(group: str, *, exclusive: bool = False) -> Callable[[F], F]:
    """`@work` in a thread, with the console's failure rule (see the module docstring):
    a failure is reported by the app, never raised into the event loop."""
    if group not in JOB_NAMES:
        raise ValueError(f"unknown job group {group!r}; name it in JOB_NAMES")
    return work(thread=True, group=group, exclusive=exclusive, exit_on_error=False)  # type: ignore[return-value]


def job_name(group: str) -> str:
    return JOB_NAMES.get(group, group)


class JobFailed(Message):
    """A background job ended in an error (bubbles to the app, which reports it)."""

    def __init__(self, group: str, error: BaseException) -> None:
        super().__init__()
        self.group = group
        self.error = error


class ReportsFailures:
    """For the app and each screen that starts `background` jobs: a job's failure is put
    right where it happened (`job_failed`) and reported by the app (`JobFailed`)."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        # Reported first: putting a screen's state right may fail on a screen being closed.
        self.post_message(JobFailed(worker.group, worker.error))  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):  # the failure itself is already on its way
            self.job_failed(worker.group, worker.error)

    def job_failed(self, group: str, error: BaseException) -> None:
        """Put this node's own state right after its job `group` failed (default: nothing)."""
