"""The report's figures, drawn with matplotlib: what a reader looks at before the tables.

* ``epochs-accuracy``: training (dashed) and validation (solid) accuracy per epoch, one
  panel per training-set size, one colour per arm: the mean over the seeds with its 95%
  band (Student t, as `embtui.stats.describe` computes it; no band for a single seed);
* ``epochs-loss``: the same for the training and validation loss;
* ``size``: the report's metric against the training-set size per arm, the mean with its
  95% interval (the report's own `summary.groups`), and the chance level;
* ``effects`` (a sweep only): each factor level's mean paired difference against its
  baseline, with its 95% interval (the report's `sweep.effects`).

The numbers plotted are the report's: the figures read `Report.done` (the runs the
statistics use, grouped by size and arm) and `Report.summary` / `Report.sweep`, and the
same numbers go into ``figures.json`` beside the images (`figures_data`), so a reader can
check a figure against `embtui export --format json`.

Figures are drawn on `matplotlib.figure.Figure` directly, never through pyplot (exports run
in the console's worker threads), with every style setting fixed here: a user's
matplotlibrc changes nothing, and one matplotlib version writes byte-identical files
(`svg.hashsalt` fixed, no date and no software version in the metadata). matplotlib is
imported only when a figure is drawn, never by `import embtui` or `embtui --help`.

Arm names are user text: `mpl_text` escapes what matplotlib would read as mathtext (`$`) and
writes control characters as escapes, so `a$b$c` shows as typed.
"""

from __future__ import annotations

import io
import json
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import quote

from embtui.errors import EmbtuiError, printable
from embtui.metrics import METRIC_TITLES
from embtui.report.model import Report
from embtui.stats import describe

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: The image formats a figure is written in; "none" writes no figures.
FIGURE_FORMATS = ("svg", "png")
#: The file beside the images that holds every plotted number.
DATA_FILE = "figures.json"

#: One colour per arm, in the report's arm order (matplotlib's tab10, written out so a
#: style file cannot change it).
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
#: The style every figure is drawn and saved with, on top of matplotlib's own defaults.
STYLE: dict[str, Any] = {
    "svg.hashsalt": "embtui",
    "svg.fonttype": "path",  # glyphs as paths: the figure looks the same without the font
    "text.usetex": False,
    "font.family": "DejaVu Sans",  # ships with matplotlib
    "font.size": 9.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.dpi": 100.0,
    "savefig.dpi": 150.0,
    "savefig.facecolor": "white",
    "path.simplify": False,
}
#: The epoch figures: file name, title, and the (training, validation) fields they plot.
EPOCH_FIGURES = {
    "epochs-accuracy": ("Accuracy per epoch", ("acc", "val_acc"), "accuracy"),
    "epochs-loss": ("Loss per epoch", ("loss", "val_loss"), "loss"),
}

# rcParams are global: two exports drawing at once (two console workers) take turns.
_STYLE_LOCK = threading.RLock()


def mpl_text(text: object) -> str:
    """`text` as matplotlib shows it literally: control characters as escapes and every `$`
    escaped (matplotlib reads text between two `$` as mathtext)."""
    return printable(str(text)).replace("$", r"\$")


@contextmanager
def style() -> Iterator[None]:
    """matplotlib's defaults plus `STYLE`, whatever the user's matplotlibrc says; the
    previous settings come back on exit."""
    import matplotlib as mpl

    with _STYLE_LOCK, mpl.rc_context():
        mpl.rcdefaults()
        cast(Any, mpl.rcParams).update(STYLE)  # typed for literal keys only
        yield


@dataclass(frozen=True)
class Drawn:
    """One figure of a report: its file name (without ending), title, the text a reader
    without the image gets (alt), the matplotlib figure and the numbers it plots."""

    name: str
    title: str
    alt: str
    figure: Figure
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureLinks:
    """Where a Markdown report finds its figures: (title, alt, relative path) per figure, and
    the relative path of the plotted numbers (None where there is no such file)."""

    images: tuple[tuple[str, str, str], ...]
    data: str | None = None


# -- the numbers ----------------------------------------------------------------------------


def _cells(report: Report) -> dict[tuple[int, str], list[Any]]:
    cells: dict[tuple[int, str], list[Any]] = {}
    for r in report.done:
        cells.setdefault((r.run.size, r.arm), []).append(r)
    return cells


def shown_arms(report: Report) -> tuple[list[str], str | None]:
    """The arms the figures show (the learning curve's: all, or the best `CURVE_ARMS` at
    the largest size) and a note when some are left out."""
    arms, note = report.curve_arms()
    if not arms:  # no metric value yet, but finished runs: show them all
        arms = list(dict.fromkeys(r.arm for r in report.done))
    return arms, note


def _interval(values: Sequence[float]) -> dict[str, Any]:
    s = describe(values)
    return {"n": s.n, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high}


def epoch_series(report: Report, key: str) -> list[dict[str, Any]]:
    """Per (size, arm) of the shown arms: for each epoch, the mean of `key` (an
    `EpochMetrics` field) over the cell's finished runs, its 95% interval and n."""
    arms, _ = shown_arms(report)
    cells = _cells(report)
    out = []
    for size in sorted({s for s, _ in cells}):
        for arm in arms:
            runs = cells.get((size, arm))
            if not runs:
                continue
            by_epoch: dict[int, list[float]] = {}
            for r in runs:
                for e in r.epochs:
                    value = getattr(e, key)
                    if value is not None and math.isfinite(value):
                        by_epoch.setdefault(e.epoch, []).append(float(value))
            epochs = sorted(by_epoch)
            stats = [_interval(by_epoch[e]) for e in epochs]
            out.append(
                {
                    "size": size,
                    "arm": arm,
                    "metric": key,
                    "epochs": epochs,
                    **{k: [s[k] for s in stats] for k in ("n", "mean", "ci_low", "ci_high")},
                }
            )
    return out


def size_series(report: Report) -> list[dict[str, Any]]:
    """Per shown arm: the report's metric at each size (mean, 95% interval, n), from
    `report.summary.groups`, the very numbers the tables and the JSON export show."""
    arms, _ = shown_arms(report)
    out = []
    for arm in arms:
        groups = report.summary.curve(arm)
        if not groups:
            continue
        out.append(
            {
                "arm": arm,
                "sizes": [g.size for g in groups],
                "n": [g.n for g in groups],
                "mean": [g.mean for g in groups],
                "ci_low": [g.ci_low for g in groups],
                "ci_high": [g.ci_high for g in groups],
            }
        )
    return out


def effect_rows(report: Report) -> list[dict[str, Any]]:
    """The main effects a sweep measured (those with matched runs), as the report has them."""
    from embtui.report.verdicts import effect_dict

    if report.sweep is None:
        return []
    return [
        {key: row[key] for key in EFFECT_FIELDS}
        for row in (effect_dict(e) for e in report.sweep.effects if e.diff is not None)
    ]


#: The fields of an effect (as the JSON export names them) that the figure plots.
EFFECT_FIELDS = ("factor", "level", "baseline", "n_pairs", "diff", "ci_low", "ci_high", "p_holm")


# -- drawing --------------------------------------------------------------------------------


def draw_figures(report: Report) -> list[Drawn]:
    """Every figure the report has data for (none before a run has finished)."""
    if not report.done:
        return []
    with style():
        out = [_epoch_figure(report, name) for name in EPOCH_FIGURES]
        if report.summary.groups:
            out.append(_size_figure(report))
        if effect_rows(report):
            out.append(_effects_figure(report))
    return out


def _colours(report: Report) -> dict[str, str]:
    order = list(report.arms) + [r.arm for r in report.done if r.arm not in report.arms]
    return {arm: PALETTE[i % len(PALETTE)] for i, arm in enumerate(dict.fromkeys(order))}


def _epoch_figure(report: Report, name: str) -> Drawn:
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    title, (train_key, val_key), quantity = EPOCH_FIGURES[name]
    colours = _colours(report)
    train, val = epoch_series(report, train_key), epoch_series(report, val_key)
    sizes = sorted({s["size"] for s in val})
    cols = min(3, len(sizes))
    rows = math.ceil(len(sizes) / cols)
    fig = Figure(figsize=(3.6 * cols + 0.4, 2.8 * rows + 1.0), layout="constrained")
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax, size in zip(axes, sizes, strict=False):
        for series, dashes in ((train, "--"), (val, "-")):
            for s in series:
                if s["size"] != size:
                    continue
                colour = colours[s["arm"]]
                label = f"{mpl_text(s['arm'])} {'training' if dashes == '--' else 'validation'}"
                ax.plot(s["epochs"], s["mean"], dashes, color=colour, lw=1.5, label=label)
                _band(ax, s["epochs"], s["ci_low"], s["ci_high"], colour)
        if quantity == "accuracy" and report.summary.chance is not None:
            ax.axhline(report.summary.chance, color="#555555", ls=":", lw=1, label="chance")
        ax.set_title(f"{size:,} training reviews")
    for ax in axes[len(sizes) :]:
        ax.set_visible(False)
    for ax in axes[(rows - 1) * cols :]:
        ax.set_xlabel("epoch")
    for ax in axes[::cols]:
        ax.set_ylabel(quantity)
    if quantity == "accuracy":
        lows = [v for s in train + val for v in (s["ci_low"] + s["mean"]) if v is not None]
        if report.summary.chance is not None:
            lows.append(report.summary.chance)
        lows = lows or [0.0]
        # A little above 1.0, so a training curve at 100% is not hidden in the frame.
        axes[0].set_ylim(max(0.0, math.floor(min(lows) * 10 - 0.2) / 10), 1.01)
    else:
        axes[0].set_ylim(bottom=0.0)
    axes[0].xaxis.get_major_locator().set_params(integer=True)
    arms = list(dict.fromkeys(s["arm"] for s in val))
    handles = [Line2D([], [], color=colours[a], lw=2) for a in arms]
    labels = [mpl_text(a) for a in arms]
    handles += [Line2D([], [], color="black", ls="--"), Line2D([], [], color="black", ls="-")]
    labels += ["training", "validation"]
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6))
    _, note = shown_arms(report)
    fig.suptitle(f"{title}: mean over seeds, 95% band" + (f" ({note})" if note else ""))
    alt = (
        f"{title.lower()} of every arm at each training-set size: {quantity} on the training "
        "data (dashed) and the validation data (solid), mean over seeds with a 95% band"
    )
    return Drawn(name, title, alt, fig, {"series": train + val})


def _band(ax: Axes, xs: list[int], lows: list[Any], highs: list[Any], colour: str) -> None:
    """The 95% band where the points have one (n >= 2)."""
    import numpy as np

    lo = np.array([np.nan if v is None else v for v in lows], dtype=float)
    hi = np.array([np.nan if v is None else v for v in highs], dtype=float)
    has = ~np.isnan(lo)
    if has.any():
        ax.fill_between(xs, lo, hi, where=has, color=colour, alpha=0.18, lw=0)


def _size_figure(report: Report) -> Drawn:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedLocator, NullLocator

    s = report.summary
    colours = _colours(report)
    series = size_series(report)
    sizes = sorted({size for row in series for size in row["sizes"]})
    fig = Figure(figsize=(7.2, 4.6), layout="constrained")
    ax = fig.add_subplot()
    k = len(series)
    for i, row in enumerate(series):
        # Arms side by side at each size (a small step on the log axis), so intervals do not
        # hide each other; figures.json keeps the true sizes.
        shift = 10 ** (0.012 * (i - (k - 1) / 2))
        xs = [size * shift for size in row["sizes"]]
        colour = colours[row["arm"]]
        ax.plot(xs, row["mean"], "-o", color=colour, lw=1.5, ms=4, label=mpl_text(row["arm"]))
        for x, mean, lo, hi in zip(xs, row["mean"], row["ci_low"], row["ci_high"], strict=True):
            if lo is not None and hi is not None:
                yerr = [[mean - lo], [hi - mean]]
                ax.errorbar([x], [mean], yerr=yerr, fmt="none", ecolor=colour, capsize=3, lw=1.2)
    if s.chance is not None:
        ax.axhline(s.chance, color="#555555", ls=":", lw=1, label="chance")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sizes))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{size:,}" for size in sizes])
    if len(sizes) == 1:
        ax.set_xlim(sizes[0] / 2, sizes[0] * 2)
    values = [v for row in series for v in row["mean"] + row["ci_low"] + row["ci_high"]]
    values = [v for v in values if v is not None] + ([s.chance] if s.chance is not None else [])
    ax.set_ylim(
        max(0.0, math.floor((min(values) - 0.02) * 10) / 10),
        min(1.0, math.ceil((max(values) + 0.02) * 10) / 10),
    )
    label = METRIC_TITLES.get(s.metric, s.metric)
    ax.set_xlabel("training-set size (reviews, log scale)")
    ax.set_ylabel(label)
    ax.set_title(f"{label} by training-set size: mean and 95% CI over seeds")
    ax.legend(*ax.get_legend_handles_labels(), loc="best")
    alt = f"{label} against training-set size per arm, with 95% intervals and the chance line"
    data = {"metric": s.metric, "chance": s.chance, "series": series}
    return Drawn("size", f"{label[:1].upper()}{label[1:]} by training-set size", alt, fig, data)


def _effects_figure(report: Report) -> Drawn:
    from matplotlib.figure import Figure

    rows = effect_rows(report)
    fig = Figure(figsize=(6.4, 1.4 + 0.45 * len(rows)), layout="constrained")
    ax = fig.add_subplot()
    ys = list(range(len(rows)))[::-1]  # the first effect on top
    diffs = [r["diff"] for r in rows]
    ax.plot(diffs, ys, "o", color=PALETTE[0], ms=5)
    for y, r in zip(ys, rows, strict=True):
        if r["ci_low"] is not None and r["ci_high"] is not None:
            xerr = [[r["diff"] - r["ci_low"]], [r["ci_high"] - r["diff"]]]
            ax.errorbar([r["diff"]], [y], xerr=xerr, fmt="none", ecolor=PALETTE[0], capsize=3)
    ax.axvline(0.0, color="#555555", lw=1)
    ax.set_yticks(ys)
    ax.set_yticklabels(
        [
            mpl_text(f"{r['factor']}: {r['level']} vs {r['baseline']} (n={r['n_pairs']})")
            for r in rows
        ]
    )
    ax.set_ylim(-0.7, len(rows) - 0.3)
    label = METRIC_TITLES.get(report.summary.metric, report.summary.metric)
    ax.set_xlabel(f"paired difference in {label} (level − baseline)")
    ax.set_title("Main effects: mean paired difference, 95% CI")
    alt = "each factor level's mean paired difference against its baseline, with its 95% interval"
    return Drawn(
        "effects", "Main effects", alt, fig, {"metric": report.summary.metric, "rows": rows}
    )


# -- files ----------------------------------------------------------------------------------


def figure_bytes(drawn: Drawn, fmt: str) -> bytes:
    """The figure as SVG or PNG: the same bytes for the same numbers and matplotlib."""
    buf = io.BytesIO()
    with style():
        if fmt == "svg":
            from matplotlib.backends.backend_svg import FigureCanvasSVG

            metadata = {"Date": None, "Creator": None, "Format": None, "Type": None}
            FigureCanvasSVG(drawn.figure).print_svg(buf, metadata=metadata)
        elif fmt == "png":
            from matplotlib.backends.backend_agg import FigureCanvasAgg

            FigureCanvasAgg(drawn.figure).print_png(buf, metadata={"Software": None})
        else:
            raise ValueError(f"unknown figure format {fmt!r}; allowed: {', '.join(FIGURE_FORMATS)}")
    return buf.getvalue()


def figures_data(report: Report, drawn: Sequence[Drawn], fmt: str | None) -> dict[str, Any]:
    """What `figures.json` holds: per figure, its file and every number it plots."""
    return {
        "experiments": [e.id for e in report.experiments],
        "metric": report.summary.metric,
        "chance": report.summary.chance,
        "figures": {
            d.name: {
                "file": f"{d.name}.{fmt}" if fmt else None,
                "title": d.title,
                **d.data,
            }
            for d in drawn
        },
    }


def write_figures(report: Report, folder: Path, fmt: str = "svg") -> list[Drawn]:
    """Draw the report's figures into `folder` (made if missing) as `<name>.<fmt>` files,
    with `figures.json` beside them; returns the figures written, in report order."""
    from embtui.files import write_atomically

    if fmt not in FIGURE_FORMATS:
        raise ValueError(f"unknown figure format {fmt!r}; allowed: {', '.join(FIGURE_FORMATS)}")
    drawn = draw_figures(report)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise EmbtuiError(f"{folder}: cannot make the figures folder ({exc.strerror})") from None
    for d in drawn:
        write_atomically(folder / f"{d.name}.{fmt}", figure_bytes(d, fmt))
    data = json.dumps(figures_data(report, drawn, fmt), indent=2) + "\n"
    write_atomically(folder / DATA_FILE, data)
    return drawn


def links(drawn: Sequence[Drawn], base: str, fmt: str, data: bool = True) -> FigureLinks:
    """The Markdown's links to figures written in the folder `base` (relative, '/'-separated)."""
    prefix = f"{base.rstrip('/')}/" if base not in ("", ".") else ""
    return FigureLinks(
        tuple((d.title, d.alt, f"{prefix}{d.name}.{fmt}") for d in drawn),
        f"{prefix}{DATA_FILE}" if data else None,
    )


def export_command(report: Report) -> str:
    """The `embtui export` command that writes this report with its figures."""
    ids = ",".join(str(e.id) for e in report.experiments)
    s = report.summary
    extra = "" if s.metric == "final" else f" --metric {s.metric}"
    extra += "" if s.alpha == 0.05 else f" --alpha {s.alpha:g}"
    return f"embtui export {ids}{extra} -o report.md"


def markdown_section(report: Report, figures: FigureLinks | None) -> list[str]:
    """The Markdown's Figures section: the images, or one line saying how to get them."""
    out = ["## Figures", ""]
    if figures is None:
        return [
            *out,
            f"`{export_command(report)}` writes this report with its figures beside it "
            "(SVG in `report-figures/`; `--figures png` for PNG).",
            "",
        ]
    if not figures.images:
        return [*out, "No run has finished yet, so there is nothing to plot.", ""]
    text = (
        "Means over seeds with 95% intervals (Student t); per-epoch bands are drawn where a "
        "cell has two or more seeds."
    )
    if figures.data:
        text += f" Every plotted number is in [{DATA_FILE}]({quote(figures.data)})."
    out += [text, ""]
    for title, alt, path in figures.images:
        out += [f"### {title}", "", f"![{alt}]({quote(path)})", ""]
    return out
