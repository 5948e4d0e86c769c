"""The comparison of an experiment's arms: the verdicts of the Markdown export.

It shows what every view shows (`embtui.report.verdicts`): the verdicts' family in a line,
then per size the verdict first (in view at 80 columns) and, with two arms, each arm's mean
± 95% CI half-width (n seeds); in a sweep, each size's statement, then the best arm against
each other arm. When the screen is wide or `w` asks for them: the difference with its CI
and p. A sweep's main effects follow; then the val_acc-by-size chart with the same CI bars,
the conclusion, and, in a sweep, every pair of arms as an appendix (its own Holm family). `m`
switches the per-run metric (final, best, at lowest val_loss); `e` exports it. The screen
follows the store while runs are still finishing (the console's one `StoreWatcher`, which
the main screen owns, tells it when the store changed: the console's own training, or
`embtui run` in another shell), rebuilding only when a run finished, so a table scrolled
sideways stays where it is.

Given several experiments (marked with `space` in the experiment list), it compares them
as one pool, exactly as `embtui export 3,5` does: the same report, arms matched by their
factor values.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Static

from embtui.app.messages import ExportRequested, ReportReady, StoreChanged
from embtui.app.screens.export_dialog import ExportDialog
from embtui.app.store_watcher import StoreWatcher
from embtui.app.widgets.size_chart import SizeChart, SizeState, legend
from embtui.app.widgets.summary_table import EffectsTable, PairsTable, SummaryState, SummaryTable
from embtui.app.workers import ReportsFailures, background
from embtui.escape import rich_text, terminal
from embtui.store import Store

if TYPE_CHECKING:
    from embtui.report.verdicts import Verdicts

METRICS = ("final", "best", "at_min_val_loss")
METRIC_NAMES = {
    "final": "final-epoch val_acc",
    "best": "best-epoch val_acc",
    "at_min_val_loss": "val_acc at the lowest val_loss",
}
#: Below this width the difference, CI and p columns wait for `w`.
WIDE = 110


def finished_signature(
    store: Store, experiment_id: int | Sequence[int]
) -> tuple[tuple[int, int], ...]:
    """What the statistics depend on: the finished runs and their epoch counts (one
    aggregate query per experiment: this runs on the console's thread at each change)."""
    ids = [experiment_id] if isinstance(experiment_id, int) else list(experiment_id)
    return tuple(pair for exp_id in ids for pair in store.finished_epoch_counts(exp_id))


class CompareScreen(ReportsFailures, Screen[None]):
    DEFAULT_CSS = """
    CompareScreen {
        #compare-title {
            height: 1;
            padding: 0 1;
            text-style: bold;
            background: $panel;
        }
        #compare-body {
            height: 1fr;
        }
        #verdict-family, #statements, #effects-title, #pairs-title {
            padding: 0 1;
            height: auto;
        }
        #effects-title, #pairs-title {
            margin-top: 1;
        }
        #summary {
            max-height: 60%;
        }
        #compare-legend {
            height: 1;
            padding: 0 1;
        }
        #compare-chart {
            height: 14;
        }
        #conclusion {
            padding: 0 1 1 1;
            height: auto;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="back", tooltip="Back to the runs"),
        Binding(
            "m", "metric", "Metric", id="metric", tooltip="Next metric: final, best, at min loss"
        ),
        Binding(
            "w",
            "all_columns",
            "Columns",
            id="columns",
            tooltip="The difference, 95% CI and p (below 110 columns: in the means' place)",
        ),
        Binding(
            "e",
            "export",
            "Export",
            id="export",
            tooltip="Export this comparison to a file (embtui export N prints it to stdout)",
        ),
    ]

    all_columns: reactive[bool | None] = reactive(None)
    """Show every column (True), the verdict and means only (False), or by width (None)."""

    def __init__(
        self,
        store: Store,
        experiment_id: int | Sequence[int],
        *,
        watcher: StoreWatcher,
        metric: str = "final",
        name: str = "",
        cwd: Path | None = None,
        report: Any = None,
    ) -> None:
        super().__init__()
        self.store = store
        self.cwd = cwd
        ids = [experiment_id] if isinstance(experiment_id, int) else list(experiment_id)
        #: The experiments compared (several: as one pool).
        self.experiment_ids = ids
        self.experiment_id = ids[0]
        self._given = report  # already built for the final metric (the pool's check)
        self.experiment_name = name
        #: Says when the store changed (the main screen's: the store is watched once).
        self.watcher = watcher
        self.metric = metric
        self.report: object | None = None
        self.verdicts: Verdicts | None = None  # the report's, as every export shows them
        self._signature: object = None

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        with VerticalScroll(id="compare-body"):
            yield Static("", id="verdict-family")
            yield Static("", id="statements")  # a sweep's: one statement per size
            yield SummaryTable(id="summary")
            yield Static("", id="effects-title")
            yield EffectsTable(id="effects")
            yield Static("", id="compare-legend")
            yield SizeChart(id="compare-chart")
            yield Static("computing…", id="conclusion")
            yield Static("", id="pairs-title")
            yield PairsTable(id="pairs")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        for sweep_only in ("#statements", "#effects-title", "#effects", "#pairs-title", "#pairs"):
            self.query_one(sweep_only).display = False
        self._title()
        self.watcher.subscribe(self)
        self._rebuild()

    def on_unmount(self) -> None:
        self.watcher.unsubscribe(self)

    def on_resize(self) -> None:
        self._show()

    @property
    def showing_all_columns(self) -> bool:
        return self.all_columns if self.all_columns is not None else self.size.width >= WIDE

    @property
    def pooled(self) -> bool:
        return len(self.experiment_ids) > 1

    def _title(self) -> None:
        what = (
            f"experiments {' + '.join(map(str, self.experiment_ids))} as one pool"
            if self.pooled
            else f"experiment {self.experiment_id}"
        )
        self.query_one("#compare-title", Static).update(
            rich_text(f"Compare · {what} · {METRIC_NAMES[self.metric]}")
        )

    def on_store_changed(self, message: StoreChanged) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        signature = (self.metric, finished_signature(self.store, self.experiment_ids))
        if signature != self._signature:
            self._signature = signature
            if self._given is not None and self.metric == "final":
                report, self._given = self._given, None
                self.post_message(ReportReady(self.experiment_id, self.metric, report, signature))
                return
            self._build(signature)

    @background("compare", exclusive=True)
    def _build(self, signature: object) -> None:
        from embtui.errors import EmbtuiError
        from embtui.report.model import build_report

        try:
            report = build_report(self.store, self.experiment_ids, metric=self.metric)
        except EmbtuiError as exc:  # a pooled experiment deleted or changed meanwhile
            self.post_message(
                ReportReady(self.experiment_id, self.metric, None, signature, error=str(exc))
            )
            return
        self.post_message(ReportReady(self.experiment_id, self.metric, report, signature))

    def job_failed(self, group: str, error: BaseException) -> None:
        self.query_one("#conclusion", Static).update(
            rich_text(f"the comparison could not be computed: {type(error).__name__}: {error}")
        )

    def on_report_ready(self, message: ReportReady) -> None:
        if message.key != self._signature:
            return  # built for a metric or a state since replaced
        if message.report is None:
            self.query_one("#conclusion", Static).update(rich_text(message.error or ""))
            return
        from embtui.report.verdicts import verdicts

        self.report = message.report
        self.verdicts = v = verdicts(message.report)
        family = Text(f"Verdicts: {v.family_text}", style="bold")
        for note in v.notes:  # runs counted once, factors that do not apply everywhere
            family.append(f"\n{terminal(note)}", style="not bold")
        self.query_one("#verdict-family", Static).update(family)
        statements = Text()
        summary = message.report.summary
        for s in v.sizes:
            statements.append(f"{s.size:>6} reviews: ", style="bold").append(terminal(s.statement))
            best = summary.group(s.size, s.best) if s.best is not None else None
            statements.append(f" (mean {best.label()})\n" if best is not None else "\n")
        statements.rstrip()
        self.query_one("#statements", Static).update(statements)
        self.query_one("#effects-title", Static).update(
            Text(
                "Main effects: each factor's value against its first, over runs matched on "
                f"everything else (paired t-test, Holm across the {len(v.effects)} rows)",
                style="bold",
            )
        )
        self.query_one("#pairs-title", Static).update(
            Text(f"Appendix, all pairs: {v.appendix_text}", style="bold")
        )
        for sweep_only in ("#statements", "#pairs-title", "#pairs"):
            self.query_one(sweep_only).display = v.sweep
        for effects in ("#effects-title", "#effects"):
            self.query_one(effects).display = bool(v.effects)
        self.query_one("#conclusion", Static).update(rich_text(v.conclusion))
        self._show()

    def _show(self) -> None:
        if self.report is None or self.verdicts is None:
            return
        summary = self.report.summary  # type: ignore[attr-defined]
        key = (self._signature, self.showing_all_columns)
        # At 80 columns the difference, CI and p take the means' place (`w`): not both.
        means = self.size.width >= WIDE or not self.showing_all_columns
        self.query_one(SummaryTable).state = SummaryState(
            summary, (key, means), self.showing_all_columns, self.verdicts, means
        )
        for table in (self.query_one(EffectsTable), self.query_one(PairsTable)):
            table.state = SummaryState(summary, key, True, self.verdicts)
        state = SizeState(summary if summary.groups else None, self._signature)
        self.query_one(SizeChart).state = state
        self.query_one("#compare-legend", Static).update(legend(state))

    def watch_all_columns(self) -> None:
        self._show()

    def action_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self._title()
        self._rebuild()

    def action_all_columns(self) -> None:
        self.all_columns = not self.showing_all_columns

    def action_export(self) -> None:
        what = tuple(self.experiment_ids) if self.pooled else self.experiment_id

        def chosen(fmt: str | None) -> None:
            if fmt is not None:
                self.post_message(ExportRequested(what, self.metric, fmt))

        self.app.push_screen(
            ExportDialog(what, self.experiment_name, self.metric, cwd=self.cwd), chosen
        )
