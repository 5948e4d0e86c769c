"""The main screen over a store filled with scripted runs: tables, charts, marks, grouping."""

from __future__ import annotations

import asyncio

import pytest

from tests.app.fake import scripted_metrics
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.size_chart import SizeChart
from embtui.store import Store
from tests.app.conftest import SMALL, record, settle


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_runs_table_shows_every_run_with_latest_values(make_app, store_path, size):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        runs = Store(store_path).runs(exp_id)
        assert table.row_keys == [str(r.id) for r in runs]
        first = runs[0]
        loss, acc, val_loss, val_acc = scripted_metrics(first.size, first.embedding, 0, 3)
        assert table.cells(str(first.id)) == [
            "",
            "10",
            "learned",
            "0",
            "done",
            "3/3",
            f"{loss:.4f}",
            f"{acc:.4f}",
            f"{val_loss:.4f}",
            f"{val_acc:.4f}",
            f"{val_acc:.4f}",
        ]
        # Nothing essential is cut: every column fits the pane, even at 80x24.
        assert table.virtual_size.width <= table.scrollable_content_region.width


async def test_enter_focuses_a_run_and_the_epoch_table_and_charts_follow(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = Store(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("j", "j", "enter")  # third run: size 10, glove, seed 0
        await settle(pilot)
        target = runs[2]
        epochs = app.screen.query_one(EpochTable)
        assert epochs.run_id == target.id
        assert epochs.row_keys == ["1", "2", "3"]
        expected = scripted_metrics(10, "glove", 0, 2)
        assert epochs.cells("2")[:5] == ["2", *(f"{v:.4f}" for v in expected)]
        loss_chart = app.screen.query_one("#loss-chart", MetricChart)
        val = [s for s in loss_chart.series if s.kind == "val"]
        assert [s.run_id for s in val] == [target.id]
        assert val[0].x == (1, 2, 3)
        assert val[0].y == tuple(scripted_metrics(10, "glove", 0, e)[2] for e in (1, 2, 3))
        acc_chart = app.screen.query_one("#acc-chart", MetricChart)
        train = [s for s in acc_chart.series if s.kind == "train"]
        assert train[0].y == tuple(scripted_metrics(10, "glove", 0, e)[1] for e in (1, 2, 3))


async def test_space_marks_runs_for_the_overlay_and_unmarks_them(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = Store(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter", "down", "space", "down", "down", "space")
        await settle(pilot)
        chart = app.screen.query_one("#loss-chart", MetricChart)
        overlaid = [s.run_id for s in chart.series if s.kind == "val"]
        assert overlaid == [runs[0].id, runs[1].id, runs[3].id]
        assert len({s.colour for s in chart.series if s.kind == "val"}) == 3
        assert table.cells(str(runs[1].id))[0] == "●"
        await pilot.press("space")  # unmark runs[3]
        await settle(pilot)
        assert [s.run_id for s in chart.series if s.kind == "val"] == [runs[0].id, runs[1].id]


async def test_g_groups_runs_by_size_and_arm_with_the_statistics(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.row_keys == ["10/learned", "10/glove", "50/learned", "50/glove"]
        row = table.cells("10/glove")
        report = app.main.report
        assert row[:5] == ["", "10", "glove", "2", "2 done"]
        assert row[5] == report.summary.group(10, "glove").label()
        assert "±" in row[5]
        await pilot.press("g")
        await settle(pilot)
        assert len(table.row_keys) == 8


async def test_size_chart_holds_the_means_and_intervals(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("v", "v")
        chart = app.screen.query_one(SizeChart)
        summary = app.main.report.summary
        assert set(chart.series) == {"learned", "glove"}
        assert chart.series["glove"] == [
            (g.size, g.mean, g.half_width, g.n) for g in summary.curve("glove")
        ]
        assert chart.chance == 0.5


async def test_moving_in_the_experiment_list_switches_experiment(make_app, store_path):
    first = record(store_path)
    second = record(store_path, SMALL.replace(sizes="10", seeds=1, name="other"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.main.experiment_id == second  # the latest is shown first
        assert len(app.screen.query_one(RunsTable).row_keys) == 2
        app.screen.query_one(ExperimentList).focus()
        await pilot.press("k")
        await settle(pilot)
        assert app.main.experiment_id == first
        assert len(app.screen.query_one(RunsTable).row_keys) == 8


async def test_runs_written_by_another_connection_appear(make_app, store_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(ExperimentList).row_keys == []
        await asyncio.to_thread(record, store_path)  # as `embtui run` elsewhere would
        for _ in range(40):  # the poll runs every 0.2 s here (1 s in the console)
            await pilot.pause(0.05)
            if len(app.screen.query_one(RunsTable).row_keys) == 8:
                break
        assert app.screen.query_one(ExperimentList).row_keys == ["1"]
        assert (
            app.screen.query_one(RunsTable).cells(app.screen.query_one(RunsTable).row_keys[0])[4]
            == "done"
        )


async def test_tab_moves_between_panes_and_z_fills_the_screen(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.focused is app.screen.query_one(RunsTable)  # ready for space/enter
        await pilot.press("tab")
        assert app.focused is app.screen.query_one(EpochTable)
        await pilot.press("shift+tab", "shift+tab")
        assert app.focused is app.screen.query_one(ExperimentList)
        await pilot.press("tab", "z")
        assert app.screen.maximized is app.screen.query_one(RunsTable)
        await pilot.press("escape")
        assert app.screen.maximized is None
        await pilot.press("v")
        assert app.screen.query_one("TabbedContent").active == "tab-acc"
