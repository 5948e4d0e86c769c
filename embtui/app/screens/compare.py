"""The comparison of an experiment's arms: the summary table of the Markdown export.

Per size, each arm's mean ± 95% CI half-width (n seeds), the difference with its CI, p and
the verdict, the better arm starred; then the conclusion and the val_acc-by-size chart with
the same CI bars. `m` switches the per-run metric (final, best, at lowest val_loss); the
screen follows the store while runs are still finishing.
"""

from __future__ import annotations

from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from embtui.app.messages import ReportReady
from embtui.app.widgets.size_chart import SizeChart
from embtui.app.widgets.summary_table import SummaryTable

METRICS = ("final", "best", "at_min_val_loss")
METRIC_NAMES = {
    "final": "final-epoch val_acc",
    "best": "best-epoch val_acc",
    "at_min_val_loss": "val_acc at the lowest val_loss",
}


class CompareScreen(Screen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back", id="back", tooltip="Back to the runs"),
        Binding(
            "m", "metric", "Metric", id="metric", tooltip="Next metric: final, best, at min loss"
        ),
        Binding("e", "export", "Export", id="export", tooltip="Write this summary as Markdown"),
    ]

    def __init__(self, experiment_id: int, metric: str = "final") -> None:
        super().__init__()
        self.experiment_id = experiment_id
        self.metric = metric
        self.report = None
        self._version: int | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-title")
        with VerticalScroll(id="compare-body"):
            yield SummaryTable(id="summary")
            yield Static("computing…", id="conclusion")
            yield SizeChart(id="compare-chart")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._title()
        self.set_interval(self.app.poll_interval, self._poll)
        self._build()

    def _title(self) -> None:
        self.query_one("#compare-title", Static).update(
            f"Compare · experiment {self.experiment_id} · {METRIC_NAMES[self.metric]}  "
            "(m metric · e export · escape back)"
        )

    def _poll(self) -> None:
        version = self.app.store.data_version()
        if self._version is not None and version != self._version:
            self._build()
        self._version = version

    @work(thread=True, exclusive=True, group="compare")
    def _build(self) -> None:
        from embtui.export.report import build_report

        report = build_report(self.app.store, self.experiment_id, metric=self.metric)
        self.post_message(ReportReady(self.experiment_id, self.metric, report))

    def on_report_ready(self, message: ReportReady) -> None:
        if message.metric != self.metric:
            return
        self.report = message.report
        summary = message.report.summary
        table = self.query_one(SummaryTable)
        if summary.groups:
            table.show(summary)
        self.query_one("#conclusion", Static).update(summary.conclusion())
        self.query_one(SizeChart).show(summary if summary.groups else None)

    def action_metric(self) -> None:
        self.metric = METRICS[(METRICS.index(self.metric) + 1) % len(METRICS)]
        self._title()
        self._build()

    def action_export(self) -> None:
        self.app.export(self.experiment_id, self.metric)
