"""The chart pane: loss, accuracy or val_acc by size, with its legend above the plot.

One pane, one chart at a time (`v` or left/right when focused cycles through them); the
pane's title names the three with the shown one highlighted, and the modes in effect
(EMA smoothing and its factor, log scale, validation curves only). The legend is a line of
its own above the plot, so it never covers a curve and never takes a row of the plot area.
The pane is one tab stop and shows focus with its border.
"""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Static

from embtui.app.view_state import RunView
from embtui.app.widgets import metric_chart, size_chart
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.size_chart import SizeChart, SizeState

CHARTS = ("loss", "acc", "size")
NAMES = {"loss": "loss", "acc": "accuracy", "size": "by size"}


class ChartPane(Vertical, can_focus=True):
    DEFAULT_CSS = """
    ChartPane {
        border: round $panel;
        border-title-color: $text;
        height: 1fr;
        width: 1fr;
        &:focus {
            border: round $accent;
            /* Focused: the title as an accent-coloured label, seen in 16 and 256 colours. */
            border-title-background: $accent;
            border-title-color: $background;
            border-title-style: bold;
        }
        #legend {
            height: 1;
            padding: 0 1;
        }
        ContentSwitcher {
            height: 1fr;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "right",
            "next_chart",
            "Next chart",
            show=False,
            id="chart-next",
            tooltip="Next chart: loss, accuracy, by size",
        ),
        Binding(
            "left",
            "previous_chart",
            "Previous chart",
            show=False,
            id="chart-prev",
            tooltip="Previous chart",
        ),
    ]

    chart: reactive[str] = reactive("loss")
    """The chart shown: loss, acc or size."""

    runs: reactive[tuple[RunView, ...]] = reactive(tuple, always_update=False)
    """The focused run first, then the marked ones."""

    smoothing: reactive[float] = reactive(0.0)
    """EMA factor of the loss and accuracy charts (0: off)."""

    log_y: reactive[bool] = reactive(False)
    """The loss chart's y axis on a log scale."""

    val_only: reactive[bool] = reactive(False)
    """The loss and accuracy charts draw the validation curves alone."""

    size_state: reactive[SizeState] = reactive(SizeState, always_update=False)
    """The by-size chart's statistics (or plain means while they are computed)."""

    def compose(self) -> ComposeResult:
        yield Static("", id="legend")
        with ContentSwitcher(initial="loss-chart"):
            yield MetricChart("loss", id="loss-chart").data_bind(
                ChartPane.runs, ChartPane.smoothing, ChartPane.log_y, ChartPane.val_only
            )
            yield MetricChart("acc", id="acc-chart").data_bind(
                ChartPane.runs, ChartPane.smoothing, ChartPane.val_only
            )
            yield SizeChart(id="size-chart").data_bind(state=ChartPane.size_state)

    def on_mount(self) -> None:
        self._redraw_labels()

    def action_next_chart(self) -> None:
        self.chart = CHARTS[(CHARTS.index(self.chart) + 1) % len(CHARTS)]

    def action_previous_chart(self) -> None:
        self.chart = CHARTS[(CHARTS.index(self.chart) - 1) % len(CHARTS)]

    def watch_chart(self, chart: str) -> None:
        if self.is_mounted:
            self.query_one(ContentSwitcher).current = f"{chart}-chart"
        self._redraw_labels()

    def watch_runs(self) -> None:
        self._redraw_labels()

    def watch_smoothing(self) -> None:
        self._redraw_labels()

    def watch_log_y(self) -> None:
        self._redraw_labels()

    def watch_val_only(self) -> None:
        self._redraw_labels()

    def watch_size_state(self) -> None:
        self._redraw_labels()

    @property
    def title_text(self) -> str:
        """The pane's title as plain text (tests, and the help's description)."""
        names = "  ".join(f"[{NAMES[c]}]" if c == self.chart else NAMES[c] for c in CHARTS)
        return f"{names}{self.modes}"

    @property
    def modes(self) -> str:
        if self.chart == "size":
            return ""
        modes = []
        if self.smoothing:
            modes.append(f"EMA {self.smoothing:g}")
        if self.log_y and self.chart == "loss":
            modes.append("log y")
        if self.val_only:
            modes.append("val only")
        return f" · {' · '.join(modes)}" if modes else ""

    @property
    def legend_text(self) -> Text:
        if self.chart == "size":
            return size_chart.legend(self.size_state)
        return metric_chart.legend(self.runs, self.val_only)

    def on_resize(self) -> None:
        self._redraw_labels()

    def _redraw_labels(self) -> None:
        title = Text()
        for i, c in enumerate(CHARTS):
            if i:
                title.append(" │ ")
            title.append(NAMES[c], style="bold reverse" if c == self.chart else "")
        title.append(self.modes)
        if title.cell_len + 4 > self.size.width > 0:
            # Narrow (80 columns): the shown chart's name between arrows, and the modes.
            title = Text("‹ ").append(NAMES[self.chart], style="bold reverse").append(" ›")
            title.append(self.modes)
        self.border_title = title
        if self.is_mounted:
            self.query_one("#legend", Static).update(self.legend_text)
