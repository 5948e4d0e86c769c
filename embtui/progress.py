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

from embtui.engine.events import EpochMetrics, ExperimentFinished, RunFinished, RunStarted, Stage
from embtui.engine.listeners import GridListener, InFlight
from embtui.escape import rich_text, terminal

if TYPE_CHECKING:  # the statistics (and scipy, ~1 s to import) load only for the summary
    from embtui.report.model import Report
    from embtui.store import Store


class PlainReporter(GridListener):
    """One line per epoch and per run, flushed at once (safe for `tail -f`). While several
    runs train at once (worker processes, a Ray cluster) each epoch line names its run."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.runs = InFlight()

    def _whose(self, run_id: int) -> str:
        """'run 3/20 ' while other runs train too, else nothing (the line above says)."""
        return "" if self.runs.alone(run_id) else f"{self.runs.name_of(run_id)} "

    def __enter__(self) -> PlainReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.flush()

    def count_from(self, store: Store, experiment_id: int) -> None:
        """The live display's; one line per epoch needs no totals."""

    def _print(self, line: str) -> None:
        # Paths, Ray addresses, arm labels and errors come from users: never raw escapes.
        print(terminal(line), file=self.stream, flush=True)

    def on_stage(self, event: Stage) -> None:
        self._print(event.text)

    def on_run_begin(self, event: RunStarted) -> None:
        self.runs.on_run_begin(event)
        self._print(
            f"{self.runs.name_of(event.run_id)}: size {event.size}, {event.label}, "
            f"seed {event.seed} on {event.device}"
        )

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self._print(
            f"  {self._whose(metrics.run_id)}epoch {metrics.epoch}: "
            f"loss {metrics.loss:.4f} acc {metrics.acc:.4f} "
            f"val_loss {metrics.val_loss:.4f} val_acc {metrics.val_acc:.4f} "
            f"({metrics.seconds:.2f}s)"
        )

    def on_run_end(self, event: RunFinished) -> None:
        error = f": {event.error}" if event.error else ""
        self._print(f"  {self._whose(event.run_id)}{event.status}{error}")
        self.runs.on_run_end(event)

    def on_grid_end(self, event: ExperimentFinished) -> None:
        self._print(f"experiment {event.experiment_id} {event.status}")


class LiveReporter(GridListener):
    """A Rich progress display: runs done of all, the current run's epoch k of N, its latest
    val_acc.

    The runs bar counts *done* runs, as the store does (a run that was cancelled or failed
    is not done), so after Ctrl-C it reads what `embtui list` reads: `count_from` reads
    them from the store, once the experiment is recorded. The epoch bar's N is the run's
    own (as `RunStarted` says: epochs can differ per run in a sweep). `epochs` (for events
    that do not say) and `done` give them directly.
    """

    def __init__(self, *, epochs: int | None = None, done: int = 0, stream: Any = None) -> None:
        self.epochs_per_run = epochs or None
        self.done = done
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
        """Count the runs done as the store does."""
        self.done = sum(r.status == "done" for r in store.runs(experiment_id))

    def __enter__(self) -> LiveReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def on_stage(self, event: Stage) -> None:
        self.progress.update(self.overall, detail=terminal(event.text.strip()))

    def on_run_begin(self, event: RunStarted) -> None:
        p = self.progress
        p.update(
            self.overall,
            total=event.total,
            completed=self.done,
            detail=terminal(f"size {event.size} · {event.label} · seed {event.seed}"),
        )
        total = event.epochs or self.epochs_per_run
        p.reset(self.epochs, total=total, visible=True, detail="")

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.progress.update(
            self.epochs,
            completed=metrics.epoch,
            detail=f"val_acc {metrics.val_acc:.4f}  loss {metrics.loss:.4f}",
        )

    def on_run_end(self, event: RunFinished) -> None:
        p = self.progress
        if event.status == "done":
            self.done += 1
        p.update(self.overall, completed=self.done)
        if event.error:
            p.console.print(
                Text.assemble((f"run {event.run_id} {event.status}:", "red"), " ")
                + rich_text(event.error)
            )

    def on_grid_end(self, event: ExperimentFinished) -> None:
        self.progress.update(self.overall, completed=self.done, detail=event.status)


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
    """The verdicts (`embtui.report.verdicts`), as printed at the end of `embtui run`: per
    size each arm's mean with two arms, the best arm against each other in a sweep."""
    from embtui.metrics import METRIC_TITLES
    from embtui.report.verdicts import fmt_ci, fmt_diff, fmt_p, verdicts

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
    from embtui.report.verdicts import effect_name, fmt_ci, fmt_diff, fmt_p, verdicts

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
    (`embtui.report.verdicts`); the appendix of every pair is left to `embtui export`.

    On a terminal the tables fit its width (long cells wrap, never cut); into a log or a
    pipe they are laid out 120 columns wide, so each verdict stays on one line.
    """
    from embtui.report.verdicts import verdicts

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
