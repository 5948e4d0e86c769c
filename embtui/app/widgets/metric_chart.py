"""Loss or accuracy per epoch, train and validation, for the focused and the marked runs.

Each run has a pair of colours (validation, training) and its own markers, so the two
curves of a run differ by colour *and* line style (a solid braille line for validation,
a dotted line for training), and overlaid runs stay apart on a monochrome terminal too.
The legend is drawn outside the plot (by the chart pane, from `legend`), so it never
covers a curve. `smoothing` applies an exponential moving average (as TensorBoard's
slider); `log_y` draws the loss on a logarithmic axis; `val_only` leaves the training
curves out, so the y axis fits the validation curves (a val_acc of 0.5-0.6 is no longer
squashed into the bottom rows by a training accuracy that runs to 1.0). `series` holds
exactly what is drawn, for tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from embtui.app.view_state import RunView, ema
from embtui.escape import terminal

#: (validation, training) colour of the first, second, ... overlaid run, as plotext names
#: them (its "orange" is the terminal's yellow).
COLOURS = (
    ("cyan", "orange"),
    ("magenta", "green"),
    ("blue+", "red"),
    ("white", "gray"),
)
#: The terminal palette index of each plotext colour name: the legend's Rich style.
ANSI = {"black": 0, "red": 1, "green": 2, "orange": 3, "blue": 4, "magenta": 5, "cyan": 6}
ANSI |= {"gray+": 7, "gray": 8, "red+": 9, "green+": 10, "orange+": 11, "blue+": 12}
ANSI |= {"magenta+": 13, "cyan+": 14, "white": 15}


def rich_colour(name: str) -> str:
    """The Rich style of a plotext colour name (the same terminal palette entry)."""
    return f"color({ANSI[name]})"


VAL_MARKERS = ("braille", "x", "+", "o")
TRAIN_MARKERS = ("·", "-", ":", "~")
TITLES = {"loss": "loss", "acc": "accuracy"}


@dataclass(frozen=True)
class Series:
    run_id: int
    label: str
    kind: str  # "train" or "val"
    x: tuple[int, ...]
    y: tuple[float, ...]
    colour: str
    marker: str


def epoch_ticks(last: int) -> list[int]:
    """Every epoch up to 10, else about ten evenly spaced ones, the last always among them
    (what fits under a 30-column plot)."""
    step = max(1, math.ceil(last / 10))
    ticks = list(range(1, last + 1, step))
    if ticks[-1] != last:
        if last - ticks[-1] < step / 2:
            ticks.pop()
        ticks.append(last)
    return ticks


def unique_runs(runs: Sequence[RunView]) -> list[RunView]:
    seen: set[int] = set()
    out = []
    for r in runs:
        if r.id not in seen:
            seen.add(r.id)
            out.append(r)
    return out


def build_series(
    metric: str, runs: Sequence[RunView], smoothing: float, val_only: bool = False
) -> list[Series]:
    """What the chart draws: per run its validation then (unless `val_only`) its training
    curve."""
    series: list[Series] = []
    for i, r in enumerate(unique_runs(runs)):
        val_colour, train_colour = COLOURS[i % len(COLOURS)]
        x = tuple(e.epoch for e in r.epochs)
        val = tuple(getattr(e, f"val_{metric}") for e in r.epochs)
        train = tuple(getattr(e, metric) for e in r.epochs)
        if smoothing:
            val, train = ema(val, smoothing), ema(train, smoothing)
        marker = VAL_MARKERS[i % len(VAL_MARKERS)]
        series.append(Series(r.id, f"{r.label} val", "val", x, val, val_colour, marker))
        if val_only:
            continue
        train_marker = TRAIN_MARKERS[i % len(TRAIN_MARKERS)]
        series.append(
            Series(r.id, f"{r.label} train", "train", x, train, train_colour, train_marker)
        )
    return series


def legend(runs: Sequence[RunView], val_only: bool = False) -> Text:
    """`━ val ┄ train` in each run's colours, with the run's label; with several runs, each
    named as the runs table shows it (`500/learned/s0`, its id added only where two are
    alike: the same cell of two experiments); `━ val` alone when the training curves are
    left out."""
    runs = unique_runs(runs)
    cells = [f"{r.run.size}/{r.arm}/s{r.run.seed}" for r in runs]
    names = [f"{c} #{r.id}" if cells.count(c) > 1 else c for c, r in zip(cells, runs, strict=True)]
    text = Text()
    for i, r in enumerate(runs):
        val_colour, train_colour = COLOURS[i % len(COLOURS)]
        if i:
            text.append("  ")
        val_style, train_style = rich_colour(val_colour), rich_colour(train_colour)
        if len(runs) == 1:
            text.append("━", style=val_style).append(" val ")
            if not val_only:
                text.append("┄", style=train_style).append(" train")
            text.append(f"  {terminal(r.label)}")
        else:
            text.append("━", style=val_style)
            if not val_only:
                text.append("┄", style=train_style)
            text.append(f" {terminal(names[i])}")
    return text


class MetricChart(PlotextPlot):
    DEFAULT_CSS = """
    MetricChart {
        height: 1fr;
    }
    """

    runs: reactive[tuple[RunView, ...]] = reactive(tuple, always_update=False)
    """The focused run first, then the marked ones (duplicates are drawn once)."""

    smoothing: reactive[float] = reactive(0.0)
    """EMA factor in [0, 1): 0 draws the values as they are."""

    log_y: reactive[bool] = reactive(False)
    """Draw the y axis on a log scale (the loss chart only)."""

    val_only: reactive[bool] = reactive(False)
    """Draw the validation curves alone (the y axis then fits them)."""

    def __init__(self, metric: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.metric = metric
        self.series: list[Series] = []

    @property
    def log_scale(self) -> bool:
        """Whether the y axis is drawn on a log scale (`log_y`, for the loss only)."""
        return self.log_y and self.metric == "loss"

    @property
    def empty_text(self) -> str:
        if not self.runs:
            return "no runs yet"
        return f"{self.runs[0].label}: no epochs yet"

    def on_mount(self) -> None:
        self.replot()

    def watch_runs(self) -> None:
        self.replot()

    def watch_smoothing(self) -> None:
        self.replot()

    def watch_log_y(self) -> None:
        self.replot()

    def watch_val_only(self) -> None:
        self.replot()

    def replot(self) -> None:
        self.series = build_series(self.metric, self.runs, self.smoothing, self.val_only)
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.xaxes(True, False)
        plt.yaxes(True, False)
        drawn = [s for s in self.series if s.x]
        # Training first, so the validation curve (what the comparison is about) is on top.
        for s in sorted(drawn, key=lambda s: s.kind != "train"):
            plt.plot(list(s.x), list(s.y), marker=s.marker, color=s.colour)
        if drawn:
            top = max(max(s.x) for s in drawn)
            ticks = epoch_ticks(top)
            plt.xticks([float(t) for t in ticks], [str(t) for t in ticks])
            plt.xlim(0.5, top + 0.5)  # room for the first and last epoch's label
            if self.log_scale and all(v > 0 for s in drawn for v in s.y):
                plt.yscale("log")
        else:  # no axes around nothing: just say why
            plt.xaxes(False, False)
            plt.yaxes(False, False)
            plt.xticks([])
            plt.yticks([])
            plt.title(self.empty_text)
        self.refresh()
