"""Validation accuracy against training-set size, one line per arm, with 95% CI bars.

The numbers are the statistics of `embtui.stats` (the same as the compare screen and the
Markdown export): per (size, arm) the mean over seeds, and mean ± CI half-width as an error
bar once a cell has two or more finished seeds. Sizes sit at evenly spaced positions
labelled with the size, as in the export's learning curve. `series` holds what is drawn.
"""

from __future__ import annotations

from textual_plotext import PlotextPlot

COLOURS = ("cyan", "orange", "magenta", "green")
MARKERS = ("o", "x", "+", "*")

# arm -> [(size, mean, half_width or None, n)]
SizeSeries = dict[str, list[tuple[int, float, float | None, int]]]


class SizeChart(PlotextPlot):
    can_focus = True

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.series: SizeSeries = {}
        self.sizes: tuple[int, ...] = ()
        self.chance: float | None = None
        self.metric = "final"

    def on_mount(self) -> None:
        self.border_title = "val_acc by training-set size"
        self.replot()

    def show(self, summary: object | None) -> None:
        """`summary`: an `embtui.stats.Summary`, or None while nothing has finished."""
        series: SizeSeries = {}
        sizes: tuple[int, ...] = ()
        chance = None
        if summary is not None:
            sizes = tuple(summary.sizes)
            chance = summary.chance
            self.metric = summary.metric
            for arm in summary.arms:
                curve = summary.curve(arm)
                if curve:
                    series[arm] = [(g.size, g.mean, g.half_width, g.n) for g in curve]
        if (series, sizes, chance) != (self.series, self.sizes, self.chance):
            self.series, self.sizes, self.chance = series, sizes, chance
            self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        if not self.series:
            plt.title("no finished runs yet")
            self.refresh()
            return
        pos = {size: i for i, size in enumerate(self.sizes)}
        k = len(self.series)
        if self.chance is not None:
            plt.plot([-0.5, len(self.sizes) - 0.5], [self.chance] * 2, marker=".", label="chance")
        for j, (arm, points) in enumerate(self.series.items()):
            shift = (j - (k - 1) / 2) * 0.12
            xs = [pos[s] + shift for s, *_ in points]
            ys = [m for _, m, _, _ in points]
            colour, marker = COLOURS[j % len(COLOURS)], MARKERS[j % len(MARKERS)]
            plt.plot(xs, ys, marker=marker, color=colour, label=arm)
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
        plt.xlabel("training reviews")
        self.refresh()
