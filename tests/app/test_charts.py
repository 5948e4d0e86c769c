"""The charts as they read at 80x24: plot rows, the legend outside the plot, train and val
apart, EMA smoothing, a log-scale loss, the by-size chart at once, the last epoch in view."""

from __future__ import annotations

import itertools
import re

from embtui.app.view_state import ema
from embtui.app.widgets.chart_pane import ChartPane
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.size_chart import SizeChart
from tests.app.conftest import SMALL, record, screen_lines, settle, stored
from tests.app.fake import scripted_metrics
from tests.helpers import record_values

TEN = SMALL.replace(epochs=10, sizes="10", embeddings="learned", seeds=1)


def _y_labels(app, chart: MetricChart) -> list[float]:
    """The y axis' tick labels as drawn, top to bottom."""
    lines = screen_lines(app)
    labels = []
    for y in range(chart.region.y, chart.region.bottom):
        m = re.match(r"\s*([0-9.]+)┤", lines[y][chart.region.x :])
        if m:
            labels.append(float(m.group(1)))
    return labels


async def test_train_and_val_differ_in_colour_and_line_style(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for chart in app.screen.query(MetricChart):
            val, train = chart.series[:2]
            assert (val.kind, train.kind) == ("val", "train")
            assert val.colour != train.colour
            assert val.marker != train.marker
        # Overlaid runs: every curve has a colour of its own.
        await pilot.press("space", "j")
        loss = app.screen.query_one("#loss-chart", MetricChart)
        assert len({s.colour for s in loss.series}) == 4
        # ...named as the runs table shows them (size/arm/seed), not by ids it does not show.
        runs = stored(store_path).runs(1)
        legend = str(app.screen.query_one("#legend").content)
        assert f"{runs[0].size}/{runs[0].embedding}/s{runs[0].seed}" in legend
        assert f"{runs[1].size}/{runs[1].embedding}/s{runs[1].seed}" in legend
        assert "#" not in legend


async def test_s_smooths_the_curves_and_says_by_how_much(make_app, store_path):
    exp_id = record(store_path, TEN)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(ChartPane)
        loss = app.screen.query_one("#loss-chart", MetricChart)
        assert len(stored(store_path).runs(exp_id)) == 1
        raw = tuple(scripted_metrics(10, "learned", 0, e)[2] for e in range(1, 11))
        assert loss.series[0].y == raw
        await pilot.press("s")
        assert pane.smoothing == 0.6
        assert "EMA 0.6" in pane.title_text
        assert loss.series[0].y == ema(raw, 0.6)
        assert loss.series[0].y != raw
        assert "EMA 0.6" in screen_lines(app)[pane.region.y]
        await pilot.press("s", "s", "s")  # 0.8, 0.9, off
        assert pane.smoothing == 0.0 and "EMA" not in pane.title_text
        assert loss.series[0].y == raw


async def test_L_draws_the_loss_on_a_log_scale(make_app, store_path):
    record(store_path, TEN)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(ChartPane)
        loss = app.screen.query_one("#loss-chart", MetricChart)
        linear = _y_labels(app, loss)
        steps = [a - b for a, b in itertools.pairwise(linear)]
        assert max(steps) - min(steps) < 0.01  # evenly spaced values
        await pilot.press("L")
        await pilot.pause()
        assert loss.log_scale and "log y" in pane.title_text
        logged = _y_labels(app, loss)
        ratios = [a / b for a, b in itertools.pairwise(logged)]
        assert max(ratios) - min(ratios) < 0.1  # evenly spaced powers: a log axis
        steps = [a - b for a, b in itertools.pairwise(logged)]
        assert max(steps) - min(steps) > 0.02
        await pilot.press("v")  # accuracy: never on a log scale
        acc = app.screen.query_one("#acc-chart", MetricChart)
        assert not acc.log_scale and "log y" not in pane.title_text


async def test_at_80x24_the_epoch_table_shows_epoch_10_of_10(make_app, store_path):
    record(store_path, TEN)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(EpochTable)
        assert table.row_keys == [str(e) for e in range(1, 11)]
        lines = screen_lines(app)
        region = table.region
        shown = [lines[y][region.x : region.right].split() for y in range(region.y, region.bottom)]
        assert any(row and row[0] == "10" for row in shown), shown


async def test_the_by_size_chart_draws_a_finished_experiment_at_once(make_app, store_path):
    """Before the statistics (scipy) are ready: the plain means, never "no finished runs"."""
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one(SizeChart)
        app.screen.query_one(ChartPane).chart = "size"  # as v v does, without the worker
        await pilot.pause()
        assert set(chart.series) == {"learned", "glove"}
        means = {p[0]: p[1] for p in chart.series["glove"]}
        finals = [scripted_metrics(10, "glove", s, 3)[3] for s in (0, 1)]
        assert means[10] == sum(finals) / 2
        assert all(p[2] is None for p in chart.series["glove"])  # no intervals yet
        assert "no finished runs" not in "\n".join(screen_lines(app))
        await pilot.press("v")  # the key path: statistics are built, intervals follow
        await pilot.press("v", "v")
        await settle(pilot)
        summary = app.main.report.summary
        assert chart.series["glove"] == [
            (g.size, g.mean, g.half_width, g.n) for g in summary.curve("glove")
        ]
        assert chart.chance == 0.5
        assert "│ 95% CI" in str(app.screen.query_one("#legend").content)


async def test_a_long_run_gets_an_epoch_axis_too(make_app, store_path):
    """More than 12 epochs: about ten labels, the last epoch's among them (plotext was
    handed None for the ticks and the console crashed on the 13th epoch)."""
    record(store_path, TEN.replace(epochs=25))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one("#loss-chart", MetricChart)
        assert chart.series[0].x == tuple(range(1, 26))
        axis = screen_lines(app)[chart.region.bottom - 1][chart.region.x : chart.region.right]
        assert axis.split() == ["1", "4", "7", "10", "13", "16", "19", "22", "25"]


async def test_t_draws_the_validation_curves_alone_on_an_axis_that_fits_them(make_app, store_path):
    """Training accuracy runs to 0.99 while validation stays near 0.6: with both drawn the
    validation curve sits in the bottom rows; `t` leaves training out and the y axis fits
    the validation curve."""
    record(store_path, TEN)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(ChartPane)
        await pilot.press("v")  # the accuracy chart
        await pilot.pause()
        acc = app.screen.query_one("#acc-chart", MetricChart)
        val = [scripted_metrics(10, "learned", 0, e)[3] for e in range(1, 11)]
        train = [scripted_metrics(10, "learned", 0, e)[1] for e in range(1, 11)]
        assert max(train) == 0.99 and max(val) < 0.65
        both = _y_labels(app, acc)
        assert max(both) > 0.9  # the axis reaches up to the training curve
        await pilot.press("t")
        await pilot.pause()
        assert pane.val_only and "val only" in pane.title_text
        assert [s.kind for s in acc.series] == ["val"]
        assert acc.series[0].y == tuple(val)
        alone = _y_labels(app, acc)
        span = max(val) - min(val)
        assert min(val) - span <= min(alone) and max(alone) <= max(val) + span, alone
        legend = str(app.screen.query_one("#legend").content)
        assert "val" in legend and "train" not in legend
        await pilot.press("v", "v")  # the loss chart too
        await pilot.pause()
        loss = app.screen.query_one("#loss-chart", MetricChart)
        assert [s.kind for s in loss.series] == ["val"]
        await pilot.press("t")  # both again
        await pilot.pause()
        assert not pane.val_only and "val only" not in pane.title_text
        assert [s.kind for s in loss.series] == ["val", "train"]
        assert [s.kind for s in acc.series] == ["val", "train"]


async def test_the_by_size_y_axis_is_0_to_1_before_and_after_the_intervals(make_app, store_path):
    """The plain means first, then the statistics with their intervals: the axis is the
    same [0, 1] both times, although one interval (two seeds far apart) reaches beyond."""
    values = {("learned", 0): 0.55, ("learned", 1): 0.95, ("glove", 0): 0.7, ("glove", 1): 0.72}
    record_values(
        store_path,
        SMALL.replace(sizes="10,50"),
        lambda size, factors, seed: values[(factors["embeddings"], seed)] - 0.001 * (size == 10),
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one(SizeChart)
        app.screen.query_one(ChartPane).chart = "size"  # the plain means, at once
        await pilot.pause()
        assert all(p[2] is None for p in chart.series["learned"])
        before = _y_labels(app, chart)
        await pilot.press("v", "v", "v")  # the key path: the statistics follow
        await settle(pilot)
        assert chart.series["learned"][0][2] > 0.5  # an interval past 0 and 1
        after = _y_labels(app, chart)
        assert before == after
        assert max(after) == 1.0 and min(after) == 0.0, after
