"""The main screen: experiments, their runs, the epochs of the run under the cursor, charts.

Everything drawn here is read back from the store, the single source of truth. The
screen's `StoreWatcher` (`embtui.app.store_watcher`) says when to read it again: when
another connection committed (the training worker's own, or `embtui run` in another
process), when the app reports that its own worker wrote (`mark_dirty`), and when it found
a dead owner and marked its experiment `interrupted`; the compare screen, while open over
this one, subscribes to the same watcher. Its messages replace each other
while they wait, at most two a second, so a burst of epochs costs one redraw, never a
redraw storm over SSH. The system pane samples this machine itself (see its module).

The runs table's cursor follows the run that is training only until the user moves it
(or while follow mode, `f`, is on; the status line says so): a run starting never moves
the cursor from under a user who is reading or about to mark another row.

Statistics (the size chart's intervals, grouped CIs) come from `embtui.report.model`,
which imports scipy; they are built in a thread worker, and only while the size chart or
the grouped table is on screen, so neither the first paint, nor key presses, nor training
wait on them. Until they arrive the size chart draws the plain means.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Input

from embtui.app.messages import (
    CancelRequested,
    DeleteRequested,
    ExportRequested,
    NewRequested,
    OwnersChecked,
    PoolChecked,
    RenameRequested,
    ReportReady,
    ResumeRequested,
    StoreChanged,
)
from embtui.app.store_watcher import StoreWatcher
from embtui.app.view_state import (
    Activity,
    ExperimentView,
    RunFilter,
    RunView,
    filter_runs,
    groupings,
    load_experiments,
    load_runs,
    size_means,
)
from embtui.app.widgets.chart_pane import ChartPane
from embtui.app.widgets.epoch_table import EpochPane, EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.filter_bar import FilterBar
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.app.widgets.runs_table import (
    COST_COLUMNS,
    RUN_COLUMNS,
    RunsTable,
    Sort,
    build_state,
)
from embtui.app.widgets.size_chart import SizeState
from embtui.app.widgets.status_line import StatusLine
from embtui.app.widgets.system_pane import MachineProbe, SystemPane
from embtui.app.workers import ReportsFailures, background
from embtui.config import check_name
from embtui.errors import EmbtuiError
from embtui.escape import rich_text
from embtui.store import Store

if TYPE_CHECKING:
    from embtui.report.model import Report

NOTICE_S = 10.0  # how long a notice ("wrote ...") stays in the status line
#: Experiments with more runs than this open grouped by arm (one row per cell; `g` ungroups).
GROUP_FROM = 1000
SMOOTHING = (0.0, 0.6, 0.8, 0.9)
#: Metrics sorted best-first the first time: the highest accuracies.
DESCENDING_FIRST = ("acc", "val_acc", "best")
#: From this width the system pane shows beside the charts unless `m` hid it.
SYSTEM_WIDE = 120
#: Below this width a shown system pane takes the charts' place (they would be unreadable).
SYSTEM_BESIDE = 110


class MainScreen(ReportsFailures, Screen[None]):
    AUTO_FOCUS = "#runs"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    VERTICAL_BREAKPOINTS = [(0, "-short"), (34, "-tall")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "new", "New", id="new", tooltip="New experiment, from the selected one"),
        Binding("c", "compare", "Compare", id="compare",
                tooltip="Compare the arms per size (of the marked experiments as one, if any)"),
        Binding("e", "export", "Export", id="export",
                tooltip="Export to a file: Markdown with figures, HTML, CSV or JSON "
                "(embtui export N prints it to stdout)"),
        Binding("x", "cancel", "Cancel", id="cancel", tooltip="Stop the running experiment"),
        Binding("r", "resume", "Resume", id="resume", tooltip="Finish an interrupted experiment"),
        Binding("slash", "filter", "Filter", key_display="/", id="filter",
                tooltip="Filter the runs: glove, status:failed, size=100"),
        Binding("f", "follow", "Follow", show=False, id="follow",
                tooltip="Keep the cursor on the training run (off once you move)"),
        Binding("o", "sort", "Sort", show=False, id="sort",
                tooltip="Sort the runs by a column (or click its header)"),
        Binding("g", "group", "Group", show=False, id="group",
                tooltip="Group the runs, cycling: by arm, by each factor, off"),
        Binding("w", "all_columns", "Columns", show=False, id="columns",
                tooltip="Every column of the runs table (those left out at this width)"),
        Binding("dollar_sign", "costs", "Costs", key_display="$", show=False, id="costs",
                tooltip="Runs table: what each run cost (time, peak RSS, GPU memory, GPU %)"),
        Binding("i", "inspect", "Inspect", show=False, id="inspect",
                tooltip="Look inside the run under the cursor: its words and reviews "
                "(beside the marked runs)"),
        Binding("m", "system", "System", show=False, id="system",
                tooltip="Show or hide the system pane: CPU, RAM and GPU use over the last minutes"),
        Binding("v", "next_chart", "Chart", show=False, id="chart",
                tooltip="Next chart: loss, accuracy, by size"),
        Binding("s", "smoothing", "Smooth", show=False, id="smoothing",
                tooltip="EMA smoothing of the curves: off, 0.6, 0.8, 0.9"),
        Binding("L", "log_scale", "Log y", key_display="L", show=False, id="log-scale",
                tooltip="Loss chart on a log scale"),
        Binding("t", "val_only", "Val only", show=False, id="val-only",
                tooltip="Charts: the validation curves alone, or with training"),
        Binding("z", "zoom", "Zoom", show=False, id="zoom",
                tooltip="Fill the screen with the focused pane"),
        Binding("d", "delete", "Delete", show=False, id="delete",
                tooltip="Delete the selected experiment (asks)"),
        Binding("f2", "rename", "Rename", show=False, id="rename",
                tooltip="Rename the selected experiment"),
    ]  # fmt: skip

    follow: reactive[bool] = reactive(True)
    """Keep the runs table's cursor on the training run (off once the user moves it)."""

    activity: reactive[Activity | None] = reactive(None)
    """What the app is doing (set by the app): shown while its experiment is on screen."""

    notice: reactive[str] = reactive("")
    """A result to show for a while ("wrote ...", "copied ..."), set by the app."""

    run_filter: reactive[RunFilter | None] = reactive(None)
    """What `/` filters the runs by."""

    sort: reactive[Sort | None] = reactive(None)
    """The column the runs are sorted by (None: grid order)."""

    group_by: reactive[str | None] = reactive(None)
    """One row per (size, arm) cell ("arm"), or per (size, value of this factor) pooling the
    other factors, instead of one per run (None)."""

    costs: reactive[bool] = reactive(False)
    """The runs table shows what each run cost instead of its metrics."""

    system_shown: reactive[bool | None] = reactive(None)
    """Show the system pane (True), hide it (False), or by width (None: from 120 columns)."""

    def __init__(
        self,
        store: Store,
        *,
        poll_interval: float = 1.0,
        cwd: Path | None = None,
        probe: Callable[[], MachineProbe] | None = None,
        sample_every_s: float = 1.0,
    ):
        super().__init__()
        self.store = store
        self.cwd = cwd
        #: Makes the system pane's probe of this machine (tests pass recorded samples).
        self.probe_factory = probe
        self.sample_every_s = sample_every_s
        self.watcher = StoreWatcher(store.path, self, poll_interval=poll_interval)
        self.experiment_id: int | None = None
        #: Runs marked for the charts' overlay, by id, with their experiment's: marks
        #: outlive a switch of experiment, so an overlay may mix experiments.
        self.marked_runs: dict[int, int] = {}
        #: Experiments marked to compare as one pool (`space` in the experiment list).
        self.marked_experiments: set[int] = set()
        self._marked_elsewhere: list[RunView] = []
        self._group_anchor: int | None = None  # the run `g` keeps the cursor on
        self._notice_error = False
        self.experiments: list[ExperimentView] = []
        self.runs: list[RunView] = []
        self.shown_runs: list[RunView] = []
        self.report: Report | None = None
        self._report_key: object = None
        self._runs_of: int | None = None  # the experiment whose runs self.runs holds
        self._notice_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="top"):
            yield ExperimentList(id="experiments")
            yield RunsTable(id="runs")
        with Horizontal(id="bottom"):
            yield EpochPane(id="epoch-pane")
            yield ChartPane(id="charts")
            yield SystemPane(probe=self.probe_factory, every_s=self.sample_every_s, id="system")
        yield FilterBar(id="filter")
        yield StatusLine(id="status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # The first frame shows the experiments at once; the runs of the one shown are read
        # just after it (a 10,000-run grid's epochs take about a second).
        self.experiments = load_experiments(self.store)
        self.query_one(ExperimentList).experiments = tuple(self.experiments)
        self._select(self._default_experiment(), move_cursor=True)
        self.call_after_refresh(self.refresh_data)
        self._place_system()
        self.watcher.start()

    def on_unmount(self) -> None:
        self.watcher.stop()

    # -- refresh ---------------------------------------------------------------------

    def mark_dirty(self) -> None:
        """The app's own worker wrote to the store: read it again soon (coalesced)."""
        self.watcher.changed()

    def on_store_changed(self, message: StoreChanged) -> None:
        self.refresh_data()

    def on_owners_checked(self, message: OwnersChecked) -> None:
        for exp_id in message.experiment_ids:
            self.notify(
                f"experiment {exp_id}: its training process is gone; marked interrupted "
                "(r resumes it)",
                severity="warning",
                timeout=8,
            )
        self.refresh_data()

    def refresh_data(self) -> None:
        """Read the store and update every pane (cheap: a few indexed queries)."""
        self.experiments = load_experiments(self.store)
        ids = [e.id for e in self.experiments]
        with self.app.batch_update():
            experiments = self.query_one(ExperimentList)
            experiments.experiments = tuple(self.experiments)
            self.marked_experiments &= set(ids)  # deleted ones are no longer marked
            experiments.marked = frozenset(self.marked_experiments)
            if self.experiment_id not in ids:
                self._select(self._default_experiment(), move_cursor=True)
            exp = self.experiment
            self.runs = load_runs(self.store, exp.row) if exp else []
            if exp is not None and exp.id != self._runs_of:
                self._runs_of = exp.id
                if self.group_by is None and len(self.runs) > GROUP_FROM:
                    # Thousands of rows of seeds are unreadable (and slow to draw): a big
                    # grid opens grouped by arm, one row per cell; `g` shows every run.
                    self.group_by = "arm"
            self._load_marked_elsewhere()
            self._show_runs()
        self._show_system()
        # Statistics import scipy: start them once this frame is on screen.
        self.call_after_refresh(self._maybe_build_report)

    @property
    def marked(self) -> set[int]:
        """Every marked run's id, whichever experiment it belongs to."""
        return set(self.marked_runs)

    def _load_marked_elsewhere(self) -> None:
        """The marked runs of experiments other than the one shown, for the overlay."""
        rows = {e.id: e.row for e in self.experiments}
        here = {r.id for r in self.runs}
        elsewhere: list[RunView] = []
        for exp_id in sorted(set(self.marked_runs.values()) - {self.experiment_id}):
            if exp_id in rows:
                elsewhere += [r for r in load_runs(self.store, rows[exp_id]) if r.id in self.marked]
        found = here | {r.id for r in elsewhere}
        # A run whose experiment was deleted is no longer marked.
        self.marked_runs = {i: e for i, e in self.marked_runs.items() if i in found}
        self._marked_elsewhere = elsewhere

    def _show_runs(self) -> None:
        """The runs table, the epoch pane and the charts, from `self.runs` as it is."""
        exp = self.experiment
        table = self.query_one(RunsTable)
        self.shown_runs = filter_runs(self.runs, self.run_filter)
        shown = len(self.shown_runs)
        count = f" · {shown} of {len(self.runs)} shown" if shown != len(self.runs) else ""
        title = (
            f"runs · #{exp.id} {exp.name} · {exp.row.status} · {exp.progress} done{count}"
            if exp
            else "runs · no experiments yet: press n"
        )
        if self.group_by not in (None, "arm") and self.group_by not in self._groupings:
            self.group_by = "arm"  # another experiment, where that factor does not vary
        if self.group_by is not None:
            title += f" · grouped by {self.group_by}"
        summary = self.report.summary if self.report is not None else None
        table.state = build_state(
            self.shown_runs,
            group_by=self.group_by,
            marked=self.marked,
            sort=self.sort,
            summary=summary,
            summary_key=self._report_key,
            costs=self.costs,
        )
        if self.costs:
            title += " · costs ($: metrics)"
        if table.hidden:
            title += f" · w shows {', '.join(table.hidden)}"  # the columns left out
        table.border_title = rich_text(title)  # never markup: the name is the user's
        self._follow_live_run()
        self._show_cursor_run()
        self._update_status()

    def _follow_live_run(self) -> None:
        if not self.follow:
            return
        live = next((r for r in self.shown_runs if r.running), None)
        table = self.query_one(RunsTable)
        key = table.key_of_run(live.id) if live is not None else None
        if key is not None and table.current_key != key:
            table.move_to_key(key)

    def _show_cursor_run(self) -> None:
        """The epoch pane and the charts show the run under the runs table's cursor."""
        run = self.cursor_run
        self.query_one(EpochPane).run = run
        marked = [r for r in self.runs if r.id in self.marked_runs] + self._marked_elsewhere
        overlay = ([run] if run else []) + [r for r in marked if run is None or r.id != run.id]
        charts = self.query_one(ChartPane)
        charts.runs = tuple(overlay)
        arms = tuple(dict.fromkeys(r.arm for r in self.runs))
        summary = self.report.summary if self.report is not None else None
        charts.size_state = SizeState.of(
            summary if summary is not None and summary.groups else None,
            self._report_key,
            size_means(self.runs, arms),
            computing=self._report_wanted and summary is None,
        )

    @property
    def cursor_run(self) -> RunView | None:
        """The run under the cursor (of a group: its training run, else its latest)."""
        ids = self.query_one(RunsTable).runs_under_cursor()
        by_id = {r.id: r for r in self.runs}
        runs = [by_id[i] for i in ids if i in by_id]
        if not runs:
            return None
        running = [r for r in runs if r.running]
        if running:
            return running[0]
        with_epochs = [r for r in runs if r.epochs]
        return with_epochs[-1] if len(runs) > 1 and with_epochs else runs[0]

    @property
    def _groupings(self) -> list[str]:
        """What `g` groups by in turn (after off): "arm", then each factor that varies."""
        exp = self.experiment
        return groupings(exp.row, self.runs) if exp is not None else ["arm"]

    @property
    def experiment(self) -> ExperimentView | None:
        for e in self.experiments:
            if e.id == self.experiment_id:
                return e
        return None

    def _default_experiment(self) -> int | None:
        running = [e.id for e in self.experiments if e.row.status == "running"]
        if running:
            return running[-1]
        return self.experiments[-1].id if self.experiments else None

    def _select(self, experiment_id: int | None, *, move_cursor: bool) -> None:
        if experiment_id != self.experiment_id:
            self.experiment_id = experiment_id
            self.report = None
            self._report_key = None
            self.follow = True  # a newly shown experiment: its cursor is nobody's yet
            self.notice = ""
            runs = self.query_one(RunsTable)
            runs.sync([])
        if move_cursor and experiment_id is not None:
            self.query_one(ExperimentList).move_to_key(str(experiment_id))

    def select_experiment(self, experiment_id: int) -> None:
        """Show this experiment (the app calls it when it starts training one)."""
        self.refresh_data()
        self._select(experiment_id, move_cursor=True)
        self.follow = True
        self.refresh_data()

    # -- the system pane --------------------------------------------------------------

    @property
    def showing_system(self) -> bool:
        if self.system_shown is not None:
            return self.system_shown
        return self.size.width >= SYSTEM_WIDE

    def watch_system_shown(self) -> None:
        if self.is_mounted:
            self._place_system()

    def on_resize(self) -> None:
        self._place_system()

    def _place_system(self) -> None:
        if not self.is_mounted:
            return
        shown = self.showing_system
        self.query_one(SystemPane).display = shown
        charts = self.query_one(ChartPane)
        charts.display = not (shown and self.size.width < SYSTEM_BESIDE)
        self.query_one(SystemPane).set_class(not charts.display, "-alone")
        if not charts.display and self.focused is charts:
            self.query_one(RunsTable).focus()
        self._show_system()

    def _show_system(self) -> None:
        """The samples of the selected experiment while it trains (here or in another
        process: read from the store), else the console's own probe's."""
        pane = self.query_one(SystemPane)
        if not pane.display:
            return
        exp = self.experiment
        if exp is not None and exp.row.status == "running":
            exp_id = exp.id
            pane.show_training(exp_id, lambda since: self.store.samples(exp_id, since))
        else:
            pane.show_machine()

    def action_system(self) -> None:
        self.system_shown = not self.showing_system

    # -- the status line --------------------------------------------------------------

    def watch_activity(self) -> None:
        self._update_status()

    def watch_notice(self, notice: str) -> None:
        if not notice:
            self._notice_error = False
        if self._notice_timer is not None:
            self._notice_timer.stop()
            self._notice_timer = None
        if notice:
            self._notice_timer = self.set_timer(NOTICE_S, self._clear_notice)
        self._update_status()

    def _clear_notice(self) -> None:
        self.notice = ""

    def show_problem(self, text: str) -> None:
        """A one-line refusal in the status line, in the error colour, for a while."""
        self._notice_error = True
        self.notice = text
        self._update_status()

    def watch_follow(self) -> None:
        if self.follow and self.is_mounted:
            self._follow_live_run()
        self._update_status()

    def _update_status(self) -> None:
        if not self.is_mounted:
            return
        status = self.query_one(StatusLine)
        exp = self.experiment
        act = self.activity
        if self.notice:
            status.text, status.error = self.notice, self._notice_error
        elif act is not None and (act.experiment_id in (None, self.experiment_id)):
            status.text, status.error = act.text, act.error
        elif exp is not None:
            status.text, status.error = f"{exp.describe()}  ·  ? for keys", False
        else:
            status.text = f"store {self.store.path}  ·  n starts an experiment  ·  ? for keys"
            status.error = False
        flags = []
        if any(r.running for r in self.runs):
            flags.append("following ▶" if self.follow else "f follows ▶")
        if self.marked_runs:
            n, k = len(self.marked_runs), len(set(self.marked_runs.values()))
            flags.append(f"● {n} run{'s' * (n != 1)}" + (f" in {k} experiments" if k > 1 else ""))
        if self.marked_experiments:
            n = len(self.marked_experiments)
            flags.append(f"● {n} experiment{'s' * (n != 1)}")
        if self.run_filter is not None:
            flags.append(f"filter: {self.run_filter.text}")
        if self.sort is not None:
            flags.append(f"sort {self.sort.column}{self.sort.arrow}")
        status.flags = " · ".join(flags)

    # -- statistics, off the UI thread ------------------------------------------------

    @property
    def _report_wanted(self) -> bool:
        # Only when something on screen shows statistics: on a 2-core box the scipy import
        # and the tests would otherwise take CPU from the training they describe.
        return self.experiment_id is not None and (
            self.group_by is not None or self.query_one(ChartPane).chart == "size"
        )

    def _maybe_build_report(self) -> None:
        if not self.is_mounted or not self._report_wanted or self.experiment_id is None:
            return
        key = (
            self.experiment_id,
            tuple((r.id, r.run.status, len(r.epochs)) for r in self.runs if r.run.status == "done"),
        )
        if key != self._report_key:
            self._report_key = key
            self._show_cursor_run()  # "computing" until it arrives
            self._build_report(self.experiment_id, key)

    @background("report", exclusive=True)
    def _build_report(self, experiment_id: int, key: object) -> None:
        from embtui.report.model import build_report

        report = build_report(self.store, experiment_id)
        self.post_message(ReportReady(experiment_id, "final", report, key))

    def job_failed(self, group: str, error: BaseException) -> None:
        if group == "report":  # the grouped cells go without intervals, not "computing…"
            self.show_problem(f"statistics failed: {type(error).__name__}: {error}")
        elif group == "pool":
            self.show_problem(f"pooling failed: {type(error).__name__}: {error}")

    def on_report_ready(self, message: ReportReady) -> None:
        if message.experiment_id == self.experiment_id and message.key == self._report_key:
            self.report = message.report
            self._show_runs()

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

    @on(DataTable.RowSelected, "#experiments")
    def _experiment_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is None:
            return
        from embtui.app.screens.info import ExperimentInfoScreen

        self.app.push_screen(ExperimentInfoScreen(self.store, int(event.row_key.value)))

    @on(DataTable.RowHighlighted, "#runs")
    def _run_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_cursor_run()

    @on(DataTable.RowSelected, "#runs")
    def _run_selected(self, event: DataTable.RowSelected) -> None:
        self.query_one(EpochTable).focus()

    @on(KeyedTable.UserMoved, "#runs")
    def _runs_cursor_moved(self) -> None:
        self.follow = False

    @on(DataTable.HeaderSelected, "#runs")
    def _header_clicked(self, event: DataTable.HeaderSelected) -> None:
        column = event.column_key.value
        if column and column != "mark":
            self._sort_by(column)

    def on_runs_table_mark_toggled(self, message: RunsTable.MarkToggled) -> None:
        ids = set(message.run_ids)
        exp_of = {r.id: r.run.experiment_id for r in self.runs}
        if ids <= self.marked:
            for i in ids:
                self.marked_runs.pop(i, None)
        else:
            self.marked_runs.update({i: exp_of[i] for i in ids if i in exp_of})
        self._show_runs()

    def on_experiment_list_mark_toggled(self, message: ExperimentList.MarkToggled) -> None:
        self.marked_experiments ^= {message.experiment_id}
        self.query_one(ExperimentList).marked = frozenset(self.marked_experiments)
        self._update_status()

    @on(Input.Changed, "#filter")
    def _filter_typed(self, event: Input.Changed) -> None:
        try:
            self.run_filter = RunFilter.parse(event.value) if event.value.strip() else None
        except EmbtuiError as exc:
            self.query_one(StatusLine).text, self.query_one(StatusLine).error = str(exc), True
            return
        self._show_runs()

    @on(FilterBar.Closed)
    def _filter_closed(self) -> None:
        self.query_one(RunsTable).focus()

    # -- actions ----------------------------------------------------------------------

    def action_new(self) -> None:
        self.post_message(NewRequested(self.experiment_id))

    def action_compare(self) -> None:
        if self.marked_experiments:
            ids = sorted(self.marked_experiments)
            self._notice_error = False
            self.notice = f"comparing experiments {', '.join(map(str, ids))} as one…"
            self._check_pool(ids)
            return
        exp = self.experiment
        if exp is None:
            self.notify("no experiment to compare yet", severity="warning")
            return
        from embtui.app.screens.compare import CompareScreen

        self.app.push_screen(
            CompareScreen(
                self.store,
                exp.id,
                watcher=self.watcher,
                name=exp.row.name,
                cwd=self.cwd,
            )
        )

    @background("pool", exclusive=True)
    def _check_pool(self, ids: list[int]) -> None:
        """The marked experiments pooled as `embtui export 3,5` pools them (the same
        `build_report`), or why they cannot be: its message, word for word."""
        import sqlite3

        from embtui.report.model import build_report

        try:
            report = build_report(self.store, ids)
        except EmbtuiError as exc:
            self.post_message(PoolChecked(ids, None, str(exc)))
            return
        except sqlite3.Error as exc:  # as the CLI words a store fault on read
            self.post_message(PoolChecked(ids, None, f"run store: {exc}"))
            return
        self.post_message(PoolChecked(ids, report))

    def on_pool_checked(self, message: PoolChecked) -> None:
        if message.error is not None:
            self.show_problem(message.error)
            self.notify(message.error, severity="error", timeout=10)
            return
        from embtui.app.screens.compare import CompareScreen

        self.notice = ""
        names = {e.id: e.row.name for e in self.experiments}
        self.app.push_screen(
            CompareScreen(
                self.store,
                message.experiment_ids,
                watcher=self.watcher,
                name=names.get(message.experiment_ids[0], ""),  # an export's file name
                cwd=self.cwd,
                report=message.report,
            )
        )

    def action_export(self) -> None:
        exp = self.experiment
        if exp is None:
            self.notify("no experiment to export yet", severity="warning")
            return
        from embtui.app.screens.export_dialog import ExportDialog

        def chosen(fmt: str | None) -> None:
            if fmt is not None:
                self.post_message(ExportRequested(exp.id, "final", fmt))

        self.app.push_screen(ExportDialog(exp.id, exp.row.name, cwd=self.cwd), chosen)

    def action_cancel(self) -> None:
        self.post_message(CancelRequested(self.experiment_id))

    def action_resume(self) -> None:
        self.post_message(ResumeRequested(self.experiment_id))

    def action_filter(self) -> None:
        self.query_one(FilterBar).open()

    def action_follow(self) -> None:
        self.follow = not self.follow
        self.notice = ""
        self.notify(
            "the cursor follows the training run"
            if self.follow
            else "the cursor stays where you put it"
        )

    def action_sort(self) -> None:
        from embtui.app.screens.choice import ChoiceScreen

        current = self.sort.column if self.sort else ""
        options = [("", "grid order (as queued)")]
        columns = COST_COLUMNS if self.costs else RUN_COLUMNS
        options += [(key, label) for key, label, _ in columns if key != "mark"]

        def chosen(column: str | None) -> None:
            if column is not None:
                self._sort_by(column)

        self.app.push_screen(
            ChoiceScreen(
                "Sort the runs by",
                options,
                highlighted=current,
                describe=lambda k: (
                    "choosing the sorted column again reverses it" if k == current and k else ""
                ),
            ),
            chosen,
        )

    def _sort_by(self, column: str) -> None:
        if not column:
            self.sort = None
        elif self.sort is not None and self.sort.column == column:
            self.sort = Sort(column, not self.sort.descending)
        else:
            self.sort = Sort(column, column in DESCENDING_FIRST)
        self._show_runs()

    def action_group(self) -> None:
        # The cursor goes to the row of the run it was on before `g` grouped the runs while
        # its group is under the cursor; of another group, the run the epoch pane shows.
        table = self.query_one(RunsTable)
        run = self.cursor_run
        anchor = self._group_anchor
        if self.group_by is None or anchor not in table.runs_under_cursor():
            anchor = run.id if run is not None else None
        self._group_anchor = anchor
        cycle = [None, *self._groupings]
        at = cycle.index(self.group_by) if self.group_by in cycle else 0
        self.group_by = cycle[(at + 1) % len(cycle)]
        self._show_runs()
        key = table.key_of_run(anchor) if anchor is not None else None
        if key is not None and table.current_key != key:
            table.move_to_key(key)
            self._show_cursor_run()
        self._maybe_build_report()

    def action_all_columns(self) -> None:
        table = self.query_one(RunsTable)
        table.all_columns = not table.all_columns
        self._show_runs()

    def action_inspect(self) -> None:
        from embtui.app.screens.inspect import InspectScreen

        runs = self.query_one(RunsTable).runs_under_cursor()
        if not runs:
            self.notify("no run under the cursor: choose one in the runs table", severity="warning")
            return
        self.app.push_screen(InspectScreen(self.store, runs[0], tuple(sorted(self.marked))))

    def action_costs(self) -> None:
        self.costs = not self.costs
        self._show_runs()

    def action_next_chart(self) -> None:
        self.query_one(ChartPane).action_next_chart()
        self.call_after_refresh(self._maybe_build_report)

    def action_smoothing(self) -> None:
        charts = self.query_one(ChartPane)
        i = SMOOTHING.index(charts.smoothing) if charts.smoothing in SMOOTHING else 0
        charts.smoothing = SMOOTHING[(i + 1) % len(SMOOTHING)]

    def action_log_scale(self) -> None:
        charts = self.query_one(ChartPane)
        charts.log_y = not charts.log_y
        if charts.chart != "loss":
            self.notify(f"loss chart: log scale {'on' if charts.log_y else 'off'} (v shows it)")

    def action_val_only(self) -> None:
        charts = self.query_one(ChartPane)
        charts.val_only = not charts.val_only
        if charts.chart == "size":
            shown = "validation only" if charts.val_only else "training and validation"
            self.notify(f"loss and accuracy charts: {shown} (v shows them)")

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
        elif self.focused is not None:
            self.maximize(self.focused)

    def action_delete(self) -> None:
        exp = self.experiment
        if exp is None:
            self.notify("no experiment selected", severity="warning")
            return
        if exp.row.status == "running":
            self.notify(
                f"experiment {exp.id} is training (pid {exp.row.pid} on {exp.row.host}); "
                "stop it before deleting it",
                severity="warning",
            )
            return
        from embtui.app.screens.confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                self.post_message(DeleteRequested(exp.id))

        self.app.push_screen(
            ConfirmScreen(
                f"Delete experiment {exp.id} '{exp.name}' with its {exp.total} runs and "
                "their epochs?\nThis cannot be undone (an export keeps a copy: e)."
            ),
            answered,
        )

    def action_rename(self) -> None:
        exp = self.experiment
        if exp is None:
            self.notify("no experiment selected", severity="warning")
            return
        from embtui.app.screens.prompt import PromptScreen

        def check(name: str) -> str | None:
            try:
                check_name(name)
            except EmbtuiError as exc:
                return str(exc)
            return None

        def answered(name: str | None) -> None:
            if name is not None and name != exp.row.name:
                self.post_message(RenameRequested(exp.id, name))

        self.app.push_screen(
            PromptScreen(f"Rename experiment {exp.id}", exp.row.name, check), answered
        )
