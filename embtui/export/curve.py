"""The learning curve of a `Summary` as plain text, for a Markdown code block.

One line per arm: the metric's mean over seeds against training-set size, with the 95%
confidence interval of each mean as a vertical error bar (none for a single-run cell) and
chance (the validation majority-class rate), when known, as a dotted line. Sizes are
placed at evenly spaced categorical positions labelled with the size (they typically run
10..500, which would crowd the small sizes on a linear axis), and each arm is shifted a
little sideways so that error bars at the same size do not overlap.

The plot is drawn with plotext on a private figure object (the same `_figure_class` that
plotext's own functions and textual-plotext use), so the global `plotext` figure is never
touched; colours are off and any ANSI escape left in plotext's output is stripped. The
result is deterministic: the same summary and size give the same text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from plotext._figure import _figure_class

from embtui.stats import Summary

__all__ = ["learning_curve_text"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_MARKERS = ("o", "x", "+", "*", "#", "@", "%", "&", "$", "=")
_SHORT = {"final": "val_acc", "best": "best val_acc", "at_min_val_loss": "val_acc@min loss"}
_SPREAD = 0.12  # sideways distance between arms, in category widths


def _legend(entries: list[str], width: int) -> list[str]:
    """Legend entries packed into lines of at most `width` columns."""
    lines: list[str] = []
    for entry in entries:
        if lines and len(lines[-1]) + 3 + len(entry) <= width:
            lines[-1] += "   " + entry
        else:
            lines.append(entry)
    return lines


def learning_curve_text(
    summary: Summary, width: int = 72, height: int = 18, arms: Sequence[str] | None = None
) -> str:
    """Return the learning curve of `summary` as `height` lines of at most `width` columns.

    The first line(s) are a legend (marker and arm, chance, the error-bar meaning); the rest
    is the plot. `width` and `height` are clamped to a legible minimum of 30 x 8. `arms`
    limits the lines to those arms (a sweep shows its best few).
    """
    width, height = max(int(width), 30), max(int(height), 8)
    arms = [a for a in (arms or summary.arms) if summary.curve(a)]
    if not arms:
        return "(no runs to plot)"
    pos = {size: i for i, size in enumerate(summary.sizes)}
    k = len(arms)
    markers = {arm: _MARKERS[j % len(_MARKERS)] for j, arm in enumerate(arms)}

    entries = [f"{markers[a]} {a}" for a in arms]
    if summary.chance is not None:
        entries.append(". chance")
    if any(g.half_width is not None for g in summary.groups):
        entries.append("│ 95% CI")
    legend = _legend(entries, width)

    lows = [g.ci_low if g.ci_low is not None else g.mean for g in summary.groups]
    highs = [g.ci_high if g.ci_high is not None else g.mean for g in summary.groups]
    if summary.chance is not None:
        lows.append(summary.chance)
        highs.append(summary.chance)
    # An accuracy lies in [0, 1]: an interval reaching past it (few seeds, a wide t) is cut
    # at the edge rather than stretching the axis to -0.17 or 1.26.
    y_lo, y_hi = max(min(lows), 0.0), min(max(highs), 1.0)
    pad = 0.05 * (y_hi - y_lo) if y_hi > y_lo else 0.01
    y_lo, y_hi = max(y_lo - pad, 0.0), min(y_hi + pad, 1.0)
    if y_hi - y_lo < 0.02:  # all values equal at an edge: still a readable axis
        y_lo, y_hi = max(min(y_lo, 0.98), 0.0), min(max(y_hi, 0.02), 1.0)

    fig = _figure_class()
    fig.plot_size(width, height - len(legend))
    fig.theme("clear")
    shifts = {arm: (j - (k - 1) / 2) * _SPREAD for j, arm in enumerate(arms)}
    if summary.chance is not None:
        last = len(summary.sizes) - 1
        fig.plot([-0.5, last + 0.5], [summary.chance] * 2, marker=".")
    for arm in arms:
        curve = summary.curve(arm)
        xs = [pos[g.size] + shifts[arm] for g in curve]
        fig.plot(xs, [g.mean for g in curve], marker=markers[arm])
    for arm in arms:  # error bars after the lines, so that lines do not cover them
        bars = [(g, g.half_width) for g in summary.curve(arm) if g.half_width is not None]
        if bars:
            fig.error(
                [pos[g.size] + shifts[arm] for g, _ in bars],
                [g.mean for g, _ in bars],
                yerr=[2 * half for _, half in bars],  # plotext draws y ± yerr / 2
            )
    for arm in arms:  # the means on top of everything
        curve = summary.curve(arm)
        xs = [pos[g.size] + shifts[arm] for g in curve]
        fig.scatter(xs, [g.mean for g in curve], marker=markers[arm])
    fig.xticks(list(range(len(summary.sizes))), [str(s) for s in summary.sizes])
    fig.xlim(-0.5, len(summary.sizes) - 0.5)
    fig.ylim(y_lo, y_hi)
    fig.xlabel("training reviews")
    fig.ylabel(_SHORT.get(summary.metric, summary.metric))
    plot = _ANSI.sub("", fig.build())
    return "\n".join(line.rstrip() for line in [*legend, *plot.splitlines()])
