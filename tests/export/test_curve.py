import plotext as plt
import pytest

from embtui.export.curve import learning_curve_text
from embtui.stats import summarize


def _summary(shift=0.0, chance=0.51):
    cells = []
    for size, base in ((10, 0.55), (50, 0.62), (200, 0.71), (500, 0.80)):
        for arm, off in (("learned", 0.0), ("glove", 0.03), ("glove-tuned", 0.05)):
            for noise in (-0.01, 0.0, 0.012):
                cells.append((size, arm, base + off + noise + (shift if arm == "glove" else 0)))
    return summarize(cells, arms=["learned", "glove", "glove-tuned"], chance=chance)


def test_curve_legend_no_ansi_and_size():
    text = learning_curve_text(_summary(), width=72, height=18)
    lines = text.splitlines()
    assert len(lines) == 18
    assert max(len(line) for line in lines) <= 72
    assert "\x1b[" not in text
    legend = lines[0]
    for name in ("o learned", "x glove", "+ glove-tuned", ". chance", "95% CI"):
        assert name in legend
    for size in ("10", "50", "200", "500"):
        assert size in lines[-2]
    assert "training reviews" in lines[-1]


@pytest.mark.parametrize("width, height", [(60, 14), (100, 24)])
def test_curve_respects_requested_size(width, height):
    lines = learning_curve_text(_summary(), width=width, height=height).splitlines()
    assert len(lines) == height
    assert max(len(line) for line in lines) <= width


def test_curve_deterministic_and_data_dependent():
    a = learning_curve_text(_summary())
    assert learning_curve_text(_summary()) == a
    assert learning_curve_text(_summary(shift=0.08)) != a
    assert ". chance" not in learning_curve_text(_summary(chance=None))


def test_curve_single_run_cells_and_empty():
    s = summarize([(10, "learned", 0.6), (20, "learned", 0.7), (20, "glove", 0.75)])
    text = learning_curve_text(s, width=50, height=12)
    assert len(text.splitlines()) == 12
    assert "95% CI" not in text
    assert "\x1b[" not in text
    assert learning_curve_text(summarize([])) == "(no runs to plot)"


def test_curve_leaves_global_plotext_figure_alone():
    plt.clear_figure()
    plt.plot_size(40, 10)
    plt.plot([1, 2, 3], [3, 1, 2], label="mine")
    before = plt.build()
    learning_curve_text(_summary())
    assert plt.build() == before
    plt.clear_figure()


def test_curve_axis_stays_within_zero_and_one_when_an_interval_reaches_past_it():
    """Two seeds far apart give a 95% t-interval of about ±6: the axis is an accuracy's."""
    import re

    s = summarize(
        [(10, "learned", 0.5), (10, "learned", 0.99), (10, "glove", 0.02), (10, "glove", 0.3)]
    )
    assert s.groups[0].ci_high > 1 and s.groups[1].ci_low < 0
    text = learning_curve_text(s, width=60, height=16)
    ticks = [float(t) for t in re.findall(r"^\s*(-?\d+\.\d+)\s*[┤│|+-]", text, re.M)]
    assert ticks, text
    assert min(ticks) >= 0.0 and max(ticks) <= 1.0
