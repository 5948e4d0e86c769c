"""The main screen: experiments, their runs, the focused run's epochs, and live charts.

Everything drawn here is read back from the store, the single source of truth: a 1 s poll
of `store.data_version()` notices commits by any other connection (the training worker's
own, or `embtui run` in another process), and messages from the in-process worker mark the
screen dirty for a prompt refresh. Refreshes are coalesced by a short timer, so a burst of
epochs costs one redraw, never a redraw storm over SSH.

Statistics (the size chart, grouped CIs) come from `embtui.export.report`, which imports
scipy; they are built in a thread worker, and only while the size chart or the grouped
table is on screen, so neither the first paint, nor key presses, nor training wait on them.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Footer, TabbedContent, TabPane

from embtui.app.messages import ReportReady
from embtui.app.view_state import ExperimentView, RunView, load_experiments, load_runs
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.size_chart import SizeChart
from embtui.app.widgets.status_line import StatusLine
from embtui.errors import printable

REFRESH_S = 0.5  # at most two redraws a second while training
CHART_TABS = ("tab-loss", "tab-acc", "tab-size")


class MainScreen(Screen):
    AUTO_FOCUS = "#runs"
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (110, "-wide")]
    VERTICAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-short"), (34, "-tall")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="new", tooltip="Configure and start a new experiment"),
        Binding("c", "compare", "Compare", id="compare", tooltip="Compare the arms per size"),
        Binding("e", "export", "Export", id="export", tooltip="Write the Markdown summary"),
        Binding("x", "cancel", "Cancel", id="cancel", tooltip="Stop the running experiment"),
        Binding("r", "resume", "Resume", id="resume", tooltip="Finish an interrupted experiment"),
        Binding("g", "group", "Group", id="group", tooltip="Group the runs table by (size, arm)"),
        Binding(
            "v",
            "next_chart",
            "Chart",
            show=False,
            id="chart",
            tooltip="Next chart: loss, accuracy, by size",
        ),
        Binding(
            "z",
            "zoom",
            "Zoom",
            show=False,
            id="zoom",
            tooltip="Fill the screen with the focused pane",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.experiment_id: int | None = None
        self.focused_run: int | None = None  # chosen with enter; None follows the live run
        self.marked: set[int] = set()
        self.grouped = False
        self.experiments: list[ExperimentView] = []
        self.runs: list[RunView] = []
        self.report = None
        self._dirty = True
        self._version: int | None = None
        self._report_sig: tuple | None = None
        self._live_run: int | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield ExperimentList(id="experiments")
            yield RunsTable(id="runs")
        with Horizontal(id="bottom"):
            yield EpochTable(id="epochs")
            with TabbedContent(id="charts"):
                with TabPane("loss", id="tab-loss"):
                    yield MetricChart("loss", id="loss-chart")
                with TabPane("accuracy", id="tab-acc"):
                    yield MetricChart("acc", id="acc-chart")
                with TabPane("by size", id="tab-size"):
                    yield SizeChart(id="size-chart")
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one(ExperimentList).border_title = "experiments"
        self.query_one(RunsTable).border_title = "runs"
        self.set_interval(self.app.poll_interval, self._poll)
        self.set_interval(REFRESH_S, self._flush)
        self.set_status(self.app.activity or f"store {self.app.store.path}  ·  ? for keys")
        self.refresh_data()

    # -- refresh ---------------------------------------------------------------------

    def mark_dirty(self) -> None:
        self._dirty = True

    def _poll(self) -> None:
        version = self.app.store.data_version()
        if version != self._version:
            self._version = version
            self._dirty = True

    def _flush(self) -> None:
        if self._dirty:
            self.refresh_data()

    def refresh_data(self) -> None:
        """Read the store and update every pane (cheap: a few indexed queries)."""
        self._dirty = False
        store = self.app.store
        self.experiments = load_experiments(store)
        ids = [e.row.id for e in self.experiments]
        elist = self.query_one(ExperimentList)
        with self.app.batch_update():
            elist.show(self.experiments)
            if self.experiment_id not in ids:
                self._select(self._default_experiment(), move_cursor=True)
            exp = self.experiment
            self.runs = load_runs(store, exp.row) if exp else []
            focused = self.focused_view
            runs_table = self.query_one(RunsTable)
            runs_table.border_title = (
                f"runs · #{exp.row.id} {printable(exp.row.name)} · {exp.row.status} · "
                f"{exp.progress} done"
                if exp
                else "runs · no experiments yet: press n"
            )
            summary = self.report.summary if self.report is not None else None
            runs_table.show(self.runs, self.marked, self.grouped, summary)
            self._follow_live_run(runs_table)
            self.query_one(EpochTable).show(focused)
            overlay = ([focused] if focused else []) + [r for r in self.runs if r.id in self.marked]
            self.query_one("#loss-chart", MetricChart).show(overlay)
            self.query_one("#acc-chart", MetricChart).show(overlay)
            self.query_one(SizeChart).show(summary)
            if self.app.activity:  # news the worker reported since the last redraw
                self.set_status(self.app.activity, error=self.app.activity_error)
        # Statistics import scipy: start them once this frame is on screen.
        self.call_after_refresh(self._maybe_build_report)

    def _follow_live_run(self, runs_table: RunsTable) -> None:
        """While no run is chosen, keep the cursor on the run that just started."""
        live = next((r.id for r in self.runs if r.run.status == "running"), None)
        if live is not None and live != self._live_run and self.focused_run is None:
            for key, ids in runs_table.row_runs.items():
                if live in ids:
                    runs_table.move_to_key(key)
        self._live_run = live

    @property
    def experiment(self) -> ExperimentView | None:
        for e in self.experiments:
            if e.row.id == self.experiment_id:
                return e
        return None

    @property
    def focused_view(self) -> RunView | None:
        """The run shown in the epoch table: the chosen one, else the live one."""
        by_id = {r.id: r for r in self.runs}
        if self.focused_run in by_id:
            return by_id[self.focused_run]
        running = [r for r in self.runs if r.run.status == "running"]
        if running:
            return running[0]
        with_epochs = [r for r in self.runs if r.epochs]
        if with_epochs:
            return with_epochs[-1]
        return self.runs[0] if self.runs else None

    def _default_experiment(self) -> int | None:
        running = [e.row.id for e in self.experiments if e.row.status == "running"]
        if running:
            return running[-1]
        return self.experiments[-1].row.id if self.experiments else None

    def _select(self, experiment_id: int | None, *, move_cursor: bool) -> None:
        if experiment_id != self.experiment_id:
            self.experiment_id = experiment_id
            self.focused_run = None
            self.marked = set()
            self.report = None
            self._report_sig = None
        if move_cursor and experiment_id is not None:
            self.query_one(ExperimentList).move_to_key(str(experiment_id))

    def select_experiment(self, experiment_id: int) -> None:
        """Show this experiment (the console calls it when it starts training one)."""
        self.refresh_data()
        self._select(experiment_id, move_cursor=True)
        self.refresh_data()

    # -- statistics, off the UI thread ------------------------------------------------

    def _maybe_build_report(self) -> None:
        # Only when something on screen shows statistics: on a 2-core box the scipy import
        # and the tests would otherwise take CPU from the training they describe.
        if self.experiment_id is None or not (self.grouped or self._size_chart_visible):
            return
        sig = (
            self.experiment_id,
            tuple((r.id, r.run.status, len(r.epochs)) for r in self.runs if r.run.status == "done"),
        )
        if sig != self._report_sig:
            self._report_sig = sig
            self._build_report(self.experiment_id)

    @property
    def _size_chart_visible(self) -> bool:
        return self.query_one(TabbedContent).active == "tab-size"

    @on(TabbedContent.TabActivated, "#charts")
    def _chart_switched(self, event: TabbedContent.TabActivated) -> None:
        self._maybe_build_report()

    @work(thread=True, exclusive=True, group="report")
    def _build_report(self, experiment_id: int) -> None:
        from embtui.export.report import build_report

        report = build_report(self.app.store, experiment_id)
        self.post_message(ReportReady(experiment_id, "final", report))

    def on_report_ready(self, message: ReportReady) -> None:
        if message.experiment_id == self.experiment_id:
            self.report = message.report
            self.refresh_data()

    # -- events from the widgets ------------------------------------------------------

    @on(DataTable.RowHighlighted, "#experiments")
    def _experiment_highlighted(self, event: DataTable.RowHighlighted) -> None:
        # Stale events (from rows added before the cursor was placed) are ignored.
        if event.cursor_row != event.data_table.cursor_row or event.row_key.value is None:
            return
        exp_id = int(event.row_key.value)
        if exp_id != self.experiment_id:
            self._select(exp_id, move_cursor=False)
            self.refresh_data()

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        ids = self.query_one(RunsTable).row_runs.get(event.row_key.value or "", [])
        if ids:
            self.focused_run = ids[0]
            self.refresh_data()

    def on_runs_table_mark_toggled(self, message: RunsTable.MarkToggled) -> None:
        ids = set(message.run_ids)
        if ids <= self.marked:
            self.marked -= ids
        else:
            self.marked |= ids
        self.refresh_data()

    # -- actions ----------------------------------------------------------------------

    def action_new(self) -> None:
        self.app.open_configure()

    def action_compare(self) -> None:
        if self.experiment_id is None:
            self.notify("no experiment to compare yet", severity="warning")
            return
        from embtui.app.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.experiment_id))

    def action_export(self) -> None:
        if self.experiment_id is None:
            self.notify("no experiment to export yet", severity="warning")
            return
        self.app.export(self.experiment_id)

    def action_cancel(self) -> None:
        self.app.request_cancel(self.experiment)

    def action_resume(self) -> None:
        self.app.request_resume(self.experiment)

    def action_group(self) -> None:
        self.grouped = not self.grouped
        self.refresh_data()

    def action_next_chart(self) -> None:
        tabs = self.query_one(TabbedContent)
        i = CHART_TABS.index(tabs.active) if tabs.active in CHART_TABS else -1
        tabs.active = CHART_TABS[(i + 1) % len(CHART_TABS)]

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.query_one(StatusLine).set(text, error=error)
