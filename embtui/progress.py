"""What `embtui run` and `resume` print while they train, and the summary at the end.

On a terminal, a Rich live display shows the grid's progress (runs done of all, the current
run's epoch and its latest val_acc). When stdout is not a terminal (nohup, a CI log, a pipe)
each finished epoch is one plain line instead, so logs stay greppable and small.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from embtui.engine.events import (
    EpochMetrics,
    Event,
    ExperimentFinished,
    RunFinished,
    RunStarted,
    Stage,
)
from embtui.escape import rich_text, terminal

if TYPE_CHECKING:  # the statistics (and scipy, ~1 s to import) load only for the summary
    from embtui.export.report import Report
    from embtui.store import Store


class PlainReporter:
    """One line per epoch and per run, flushed at once (safe for `tail -f`). While several
    runs train at once (worker processes, a Ray cluster) each epoch line names its run."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.current: RunStarted | None = None
        self.in_flight: dict[int, str] = {}  # run id -> "run 3/20"

    def _whose(self, run_id: int) -> str:
        """'run 3/20 ' while other runs train too, else nothing (the line above says)."""
        if len(self.in_flight) > 1 or (self.current and self.current.run_id != run_id):
            return f"{self.in_flight.get(run_id, f'run id {run_id}')} "
        return ""

    def __enter__(self) -> PlainReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def count_from(self, store: Store, experiment_id: int) -> None:
        """The live display's; one line per epoch needs no totals."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, Stage):
            line = f"{event.text}"
        elif isinstance(event, RunStarted):
            self.current = event
            self.in_flight[event.run_id] = f"run {event.position + 1}/{event.total}"
            line = (
                f"run {event.position + 1}/{event.total}: size {event.size}, {event.label}, "
                f"seed {event.seed} on {event.device}"
            )
        elif isinstance(event, EpochMetrics):
            line = (
                f"  {self._whose(event.run_id)}epoch {event.epoch}: "
                f"loss {event.loss:.4f} acc {event.acc:.4f} "
                f"val_loss {event.val_loss:.4f} val_acc {event.val_acc:.4f} "
                f"({event.seconds:.2f}s)"
            )
        elif isinstance(event, RunFinished):
            line = f"  {self._whose(event.run_id)}{event.status}" + (
                f": {event.error}" if event.error else ""
            )
            self.in_flight.pop(event.run_id, None)
        elif isinstance(event, ExperimentFinished):
            line = f"experiment {event.experiment_id} {event.status}"
        else:  # pragma: no cover - every event type is handled above
            return
        # Paths, Ray addresses, arm labels and errors come from users: never raw escapes.
        print(terminal(line), file=self.stream, flush=True)


class LiveReporter:
    """A Rich progress display: runs done of all, the current run's epoch k of N, its latest
    val_acc.

    The runs bar counts *done* runs, as the store does (a run that was cancelled or failed
    is not done), so after Ctrl-C it reads what `embtui list` reads, and the epoch bar
    knows each run's epochs (5/10, not 5/?): `count_from` reads both from the store, once
    the experiment is recorded (epochs can differ per run in a sweep). `epochs` and `done`
    give them directly.
    """

    def __init__(self, *, epochs: int | None = None, done: int = 0) -> None:
        self.epochs_per_run = epochs or None
        self.done = done
        self.store: Store | None = None
        self.progress = Progress(
            # Not markup: the detail names paths, Ray addresses and arms as users wrote them.
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}", markup=False),
            TimeElapsedColumn(),
        )
        self.overall = self.progress.add_task("runs", total=None, detail="")
        self.epochs = self.progress.add_task("epochs", total=None, detail="", visible=False)

    def count_from(self, store: Store, experiment_id: int) -> None:
        """Count as the store does: its done runs, and each run's epochs from its record."""
        self.store = store
        self.done = sum(r.status == "done" for r in store.runs(experiment_id))

    def _epochs_of(self, run_id: int) -> int | None:
        if self.store is not None:
            epochs = self.store.run(run_id).factors.get("epochs")
            if isinstance(epochs, int):
                return epochs
        return self.epochs_per_run

    def __enter__(self) -> LiveReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        p = self.progress
        if isinstance(event, Stage):
            p.update(self.overall, detail=terminal(event.text.strip()))
        elif isinstance(event, RunStarted):
            p.update(
                self.overall,
                total=event.total,
                completed=self.done,
                detail=terminal(f"size {event.size} · {event.label} · seed {event.seed}"),
            )
            p.reset(self.epochs, total=self._epochs_of(event.run_id), visible=True, detail="")
        elif isinstance(event, EpochMetrics):
            p.update(
                self.epochs,
                completed=event.epoch,
                detail=f"val_acc {event.val_acc:.4f}  loss {event.loss:.4f}",
            )
        elif isinstance(event, RunFinished):
            if event.status == "done":
                self.done += 1
            p.update(self.overall, completed=self.done)
            if event.error:
                p.console.print(
                    Text.assemble((f"run {event.run_id} {event.status}:", "red"), " ")
                    + rich_text(event.error)
                )
        elif isinstance(event, ExperimentFinished):
            p.update(self.overall, completed=self.done, detail=event.status)


def make_reporter(
    *, plain: bool, epochs: int | None = None, done: int = 0
) -> PlainReporter | LiveReporter:
    """`epochs` (per run) and `done` (runs done before a resume) let the live display
    count as the store does; the plain log does not need them."""
    return PlainReporter() if plain else LiveReporter(epochs=epochs, done=done)


def summary_table(report: Report) -> Table:
    """The per-size comparison, as printed at the end of `embtui run`."""
    from embtui.metrics import METRIC_TITLES

    s = report.summary
    table = Table(title=Text(f"experiment {report.experiment.id}: {METRIC_TITLES[s.metric]}"))
    arms = [a for a in s.arms if any(g.arm == a for g in s.groups)]
    table.add_column("size", justify="right")
    for arm in arms:
        table.add_column(rich_text(arm), justify="right")
    table.add_column("difference", justify="right")
    table.add_column("verdict")
    for size in s.sizes:
        cells = [(g.label() if (g := s.group(size, a)) else "–") for a in arms]
        comps = [c for c in s.comparisons if c.size == size]
        if not comps:
            table.add_row(str(size), *cells, "–", "–")
        for i, c in enumerate(comps):
            row = [str(size), *cells] if i == 0 else ["", *("" for _ in arms)]
            table.add_row(*row, f"{c.diff:+.3f}", rich_text(c.verdict))
    return table


def print_summary(report: Report) -> None:
    console = Console()
    if not report.summary.groups:
        console.print("no finished runs to summarise")
        return
    console.print(summary_table(report))
    console.print(rich_text(report.summary.conclusion()), soft_wrap=False)
