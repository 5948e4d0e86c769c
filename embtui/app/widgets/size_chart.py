"""Validation accuracy against training-set size, one line per arm, with 95% CI bars.

The numbers are the statistics of `embtui.stats` (the same as the compare screen and the
Markdown export): per (size, arm) the mean over seeds, and mean ± CI half-width as an error
bar once a cell has two or more finished seeds. The statistics import scipy and take a
moment the first time; until they arrive the chart draws the plain means of the finished
runs at once (`SizeState.means`) and says the intervals are being computed, so a finished
experiment never reads "no finished runs". Sizes sit at evenly spaced positions labelled
with the size, as in the export's learning curve. The y axis is accuracy's whole range,
[0, 1], from the first frame: it does not jump when the intervals arrive, and an interval
that reaches past 0 or 1 (two seeds far apart) is cut at the edge, never stretching the
axis beyond what an accuracy can be. `series` holds what is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from embtui.app.view_state import SizeSeries
from embtui.app.widgets.metric_chart import rich_colour
from embtui.escape import terminal

if TYPE_CHECKING:
    from embtui.stats import Summary

COLOURS = ("cyan", "orange", "magenta", "green")
MARKERS = ("o", "x", "+", "*")


@dataclass(frozen=True)
class SizeState:
    """What the by-size chart shows: the statistics when built, else the plain means."""

    summary: Summary | None = field(default=None, compare=False)
    summary_key: object = None  # what `summary` was built from: compared instead of it
    means: tuple[tuple[str, tuple[tuple[int, float, float | None, int], ...]], ...] = ()
    computing: bool = False

    @classmethod
    def of(
        cls, summary: Summary | None, summary_key: object, means: SizeSeries, computing: bool
    ) -> SizeState:
        frozen = tuple((arm, tuple(points)) for arm, points in means.items())
        return cls(summary, summary_key, frozen, computing)


def series_of(state: SizeState) -> tuple[SizeSeries, tuple[int, ...], float | None]:
    """(arm -> points, sizes, chance) from the statistics, else from the plain means."""
    summary = state.summary
    if summary is not None and summary.groups:
        series: SizeSeries = {}
        for arm in summary.arms:
            curve = summary.curve(arm)
            if curve:
                series[arm] = [(g.size, g.mean, g.half_width, g.n) for g in curve]
        return series, tuple(summary.sizes), summary.chance
    means = {arm: list(points) for arm, points in state.means}
    sizes = tuple(sorted({p[0] for points in means.values() for p in points}))
    return means, sizes, None


def legend(state: SizeState) -> Text:
    series, _, chance = series_of(state)
    text = Text()
    for j, arm in enumerate(series):
        text.append(MARKERS[j % len(MARKERS)], style=rich_colour(COLOURS[j % len(COLOURS)]))
        text.append(f" {terminal(arm)}  ")
    if chance is not None:
        text.append("· chance  ")
    if series:
        with_ci = state.summary is not None and state.summary.groups
        text.append("│ 95% CI" if with_ci else "95% CI: computing…" if state.computing else "")
    return text


class SizeChart(PlotextPlot):
    DEFAULT_CSS = """
    SizeChart {
        height: 1fr;
    }
    """

    state: reactive[SizeState] = reactive(SizeState, always_update=False)
    """The statistics, or the plain means while they are computed."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.series: SizeSeries = {}
        self.sizes: tuple[int, ...] = ()
        self.chance: float | None = None

    def on_mount(self) -> None:
        self.replot()

    def watch_state(self) -> None:
        self.replot()

    def replot(self) -> None:
        self.series, self.sizes, self.chance = series_of(self.state)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xaxes(True, False)
        plt.yaxes(True, False)
        if not self.series:
            plt.xaxes(False, False)
            plt.yaxes(False, False)
            plt.xticks([])
            plt.yticks([])
            plt.title("computing…" if self.state.computing else "no finished runs yet")
            self.refresh()
            return
        pos = {size: i for i, size in enumerate(self.sizes)}
        k = len(self.series)
        if self.chance is not None:
            n = 4 * len(self.sizes) + 1  # points every quarter: plotext joins only near ones
            xs = [-0.5 + i * len(self.sizes) / (n - 1) for i in range(n)]
            plt.plot(xs, [self.chance] * n, marker=".", color="gray")
        for j, points in enumerate(self.series.values()):
            shift = (j - (k - 1) / 2) * 0.12
            xs = [pos[s] + shift for s, *_ in points]
            ys = [m for _, m, _, _ in points]
            colour, marker = COLOURS[j % len(COLOURS)], MARKERS[j % len(MARKERS)]
            plt.plot(xs, ys, marker=marker, color=colour)
            bars = [(x, m, h) for x, (_, m, h, _) in zip(xs, points, strict=True) if h]
            if bars:
                plt.error(
                    [b[0] for b in bars],
                    [b[1] for b in bars],
                    yerr=[2 * b[2] for b in bars],  # plotext draws y ± yerr / 2
                    color=colour,
                )
        plt.xticks(list(range(len(self.sizes))), [str(s) for s in self.sizes])
        plt.xlim(-0.5, len(self.sizes) - 0.5)
        plt.ylim(0.0, 1.0)
        plt.yticks([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], ["0", "0.2", "0.4", "0.6", "0.8", "1"])
        self.refresh()
