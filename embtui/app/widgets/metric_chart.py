"""Loss or accuracy per epoch, train and validation, for the focused and the marked runs.

Each run has one colour and its own marker (the focused run first), so overlaid runs stay
apart on a monochrome terminal too; validation is the line with the run's marker, training
the dotted line in the same colour. `series` holds exactly what is drawn, for tests.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual_plotext import PlotextPlot

from embtui.app.view_state import RunView

COLOURS = ("cyan", "orange", "magenta", "green", "red", "blue", "yellow", "white")
MARKERS = ("braille", "x", "+", "o", "*", "#", "@", "%")
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


class MetricChart(PlotextPlot):
    can_focus = True

    def __init__(self, metric: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.metric = metric
        self.series: list[Series] = []
        self.empty_text = "no run selected"

    def on_mount(self) -> None:
        self.border_title = TITLES[self.metric]
        self.replot()

    def show(self, runs: list[RunView]) -> None:
        """`runs`: the focused run first, then the marked ones (duplicates ignored)."""
        empty = f"{runs[0].label}: no epochs yet" if runs else "no runs yet"
        if empty != self.empty_text:
            self.empty_text = empty
            if not any(s.x for s in self.series):
                self.series = []
                self.replot()
        series: list[Series] = []
        seen: set[int] = set()
        for i, r in enumerate(r for r in runs if not (r.id in seen or seen.add(r.id))):
            colour, marker = COLOURS[i % len(COLOURS)], MARKERS[i % len(MARKERS)]
            x = tuple(e.epoch for e in r.epochs)
            val = tuple(getattr(e, f"val_{self.metric}") for e in r.epochs)
            train = tuple(getattr(e, self.metric) for e in r.epochs)
            series.append(Series(r.id, f"{r.label} val", "val", x, val, colour, marker))
            series.append(Series(r.id, f"{r.label} train", "train", x, train, colour, "dot"))
        if series != self.series:
            self.series = series
            self.replot()

    def replot(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title("")
        plt.xlabel("epoch")
        drawn = [s for s in self.series if s.x]
        for s in drawn:
            label = s.label if s.kind == "val" else "train"
            plt.plot(
                list(s.x),
                list(s.y),
                marker=s.marker,
                color=s.colour,
                label=label if (s.kind == "val" or s is drawn[1]) else None,
            )
        if drawn:
            top = max(max(s.x) for s in drawn)
            plt.xticks(list(range(1, top + 1)) if top <= 12 else None)
        else:
            plt.title(self.empty_text)
        self.refresh()
