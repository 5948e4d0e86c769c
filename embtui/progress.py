"""What `embtui run` and `resume` print while they train, and the summary at the end.

Progress goes to stderr and results to stdout, so `embtui run ... 2>/dev/null` (or
`> results.txt`) keeps only the summary. On a terminal, a Rich live display shows the grid's
progress (runs done of all, the current run's epoch and its latest val_acc). When stderr is
not a terminal (nohup, a CI log, a pipe) each finished epoch is one plain line instead, so
logs stay greppable and small.
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
        self.stream = stream or sys.stderr
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

    def __init__(self, *, epochs: int | None = None, done: int = 0, stream: Any = None) -> None:
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
            # Progress on stderr; stdout keeps the results.
            console=Console(file=stream) if stream is not None else Console(stderr=True),
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
    *, plain: bool, epochs: int | None = None, done: int = 0, stream: Any = None
) -> PlainReporter | LiveReporter:
    """`epochs` (per run) and `done` (runs done before a resume) let the live display
    count as the store does; the plain log does not need them. Both write to `stream`
    (stderr)."""
    if plain:
        return PlainReporter(stream)
    return LiveReporter(epochs=epochs, done=done, stream=stream)


def summary_table(report: Report) -> Table:
    """The verdicts (`embtui.export.verdicts`), as printed at the end of `embtui run`: per
    size each arm's mean with two arms, the best arm against each other in a sweep."""
    from embtui.export.verdicts import fmt_ci, fmt_diff, fmt_p, verdicts
    from embtui.metrics import METRIC_TITLES

    s = report.summary
    v = verdicts(report)
    table = Table(
        title=f"experiment {report.experiment.id}: {METRIC_TITLES[s.metric]}",
        box=None,
        pad_edge=False,
    )
    table.add_column("size", justify="right")
    if v.sweep:
        table.add_column("best arm", overflow="fold")
        table.add_column("other arm", overflow="fold")
        table.add_column("best − other", justify="right")
        arms: list[str] = []
    else:
        arms = [a for a in s.arms if any(g.arm == a for g in s.groups)]
        for arm in arms:
            table.add_column(rich_text(arm), justify="right", overflow="fold")
        table.add_column("difference", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("p (Holm)" if v.n_tests > 1 else "p", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold")
    for size in s.sizes:
        cells = [(g.label() if (g := s.group(size, a)) else "–") for a in arms]
        comps = v.at(size)
        if not comps:
            lead = [str(size), *cells] if not v.sweep else [str(size), "–", "–"]
            table.add_row(*lead, "–", "–", "–", "–")
        for i, c in enumerate(comps):
            row: list[str | Text]
            if v.sweep:
                row = [str(size) if i == 0 else "", rich_text(c.arm_a), rich_text(c.arm_b)]
            else:
                row = [str(size), *cells] if i == 0 else ["", *("" for _ in arms)]
            table.add_row(
                *row,
                fmt_diff(c.diff),
                fmt_ci(c.ci_low, c.ci_high),
                fmt_p(c.p_holm, v.alpha),
                rich_text(c.text),
            )
    return table


def effects_table(report: Report) -> Table | None:
    """A sweep's main effects, as the verdicts list them (None with two arms)."""
    from embtui.export.verdicts import effect_name, fmt_ci, fmt_diff, fmt_p, verdicts

    v = verdicts(report)
    if not v.effects:
        return None
    table = Table(
        title="main effects (paired over matched runs, Holm across the rows)",
        box=None,
        pad_edge=False,
    )
    table.add_column("effect", overflow="fold")
    table.add_column("matched", justify="right")
    table.add_column("difference", justify="right")
    table.add_column("95% CI", justify="right", no_wrap=True)
    table.add_column("p (Holm)", justify="right", no_wrap=True)
    table.add_column("verdict", overflow="fold")
    for e in v.effects:
        table.add_row(
            rich_text(effect_name(e)),
            str(e.n_pairs),
            fmt_diff(e.diff),
            fmt_ci(e.ci_low, e.ci_high),
            fmt_p(e.p_holm, e.alpha),
            rich_text(e.verdict()),
        )
    return table


class _ResultsConsole(Console):
    """stdout's console for the results. Rich ends the process with status 1 when the reader
    of stdout left; here that is the BrokenPipeError every command turns into 141, the status
    `| head` expects."""

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError("stdout was closed")


def print_summary(report: Report, console: Console | None = None) -> None:
    """The verdicts, a sweep's main effects and the conclusion: what every view leads with
    (`embtui.export.verdicts`); the appendix of every pair is left to `embtui export`.

    On a terminal the tables fit its width (long cells wrap, never cut); into a log or a
    pipe they are laid out 120 columns wide, so each verdict stays on one line.
    """
    from embtui.export.verdicts import verdicts

    console = console or _ResultsConsole(width=None if sys.stdout.isatty() else 120)
    if not report.summary.groups:
        console.print("no finished runs to summarise")
        return
    v = verdicts(report)
    console.print(rich_text(f"Verdicts: {v.family_text}"), soft_wrap=False)
    for note in v.notes:
        console.print(rich_text(note), soft_wrap=False)
    console.print(summary_table(report))
    effects = effects_table(report)
    if effects is not None:
        console.print(effects)
    console.print(rich_text(v.conclusion), soft_wrap=False)
    if v.appendix is not None:
        console.print(
            f"Every pair of arms ({v.appendix.n_tests} tests, a Holm family of its own): "
            f"embtui export {report.experiment.id}",
            soft_wrap=False,
        )
