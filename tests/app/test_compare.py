"""The compare screen at 80 columns: the verdict in view, the other columns on `w`, and a
table scrolled sideways that stays put while runs finish."""

from __future__ import annotations

import asyncio
import threading

from embtui.app.screens.compare import CompareScreen
from embtui.app.widgets.summary_table import SummaryTable
from embtui.engine.events import ignore
from embtui.report.model import build_report
from tests.app.conftest import record, screen_lines, settle, stored, until
from tests.app.fake import FakeEngine


def finish_elsewhere(store_path, exp_id: int) -> None:
    """The experiment's runs finished by another connection, as `embtui run --resume` in
    another shell would."""
    store = stored(store_path)
    try:
        session = FakeEngine().resume_session(store, exp_id, ignore)
        session.train(ignore, threading.Event())
    finally:
        store.close()


async def test_at_80_columns_the_verdict_is_in_view_and_w_shows_the_rest(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        table = app.screen.query_one(SummaryTable)
        summary = build_report(stored(store_path), exp_id).summary
        verdicts = [c.verdict for c in summary.comparisons]
        lines = screen_lines(app)
        for size, verdict in zip(summary.sizes, verdicts, strict=True):
            row = next(line for line in lines if line.strip().startswith(f"{size} "))
            assert verdict in row  # whole, on screen, without scrolling
        assert [k.value for k in table.columns] == ["size", "verdict", "arm:learned", "arm:glove"]
        assert table.virtual_size.width <= table.scrollable_content_region.width
        await pilot.press("w")  # at 80 columns: the difference, CI and p in the means' place
        await pilot.pause()
        assert [k.value for k in table.columns] == ["size", "verdict", "diff", "ci", "p"]
        comp = summary.comparisons[0]
        row = table.cells(f"{comp.size}:learned:glove")
        assert row[2] == f"{comp.diff:+.3f}"
        assert row[3] == f"[{comp.ci_low:+.3f}, {comp.ci_high:+.3f}]"
        assert table.virtual_size.width <= table.scrollable_content_region.width  # in view
        header = next(line for line in screen_lines(app) if "verdict" in line)
        assert "difference" in header and "95% CI" in header
        await pilot.press("w")
        await pilot.pause()
        assert "diff" not in [k.value for k in table.columns]
        assert "arm:learned" in [k.value for k in table.columns]


async def test_a_table_scrolled_sideways_stays_put_while_runs_finish(make_app, store_path):
    exp_id = record(store_path, stop_after=13)  # size 10 finished, size 50 to come
    app = make_app()
    async with app.run_test(size=(50, 24)) as pilot:  # narrow enough to scroll sideways
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("w")
        await pilot.pause()
        table = app.screen.query_one(SummaryTable)
        table.focus()
        await pilot.press("right", "right", "right", "right", "right")
        await pilot.pause()
        scrolled = table.scroll_x
        assert scrolled > 0
        rows_before = {k: table.cells(k) for k in table.row_keys}

        await asyncio.to_thread(finish_elsewhere, store_path, exp_id)
        await until(pilot, lambda: {k: table.cells(k) for k in table.row_keys} != rows_before)
        await pilot.pause(0.3)
        assert table.scroll_x == scrolled


async def test_runs_finished_by_another_process_reach_an_open_compare_screen(make_app, store_path):
    exp_id = record(store_path, stop_after=13)  # size 10 finished, size 50 to come
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        table = screen.query_one(SummaryTable)
        await until(pilot, lambda: table.row_count > 0, what="the first comparison")
        assert [str(k.value).split(":")[0] for k in table.rows] == ["10"]
        assert app.main.watcher.subscribers == (screen,)  # the one watcher tells it

        await asyncio.to_thread(finish_elsewhere, store_path, exp_id)
        summary = build_report(stored(store_path), exp_id).summary
        assert summary.sizes == (10, 50)
        await until(
            pilot,
            lambda: [str(k.value).split(":")[0] for k in table.rows] == ["10", "50"],
            what="the runs finished elsewhere on the compare screen",
        )
        comp = summary.comparisons[1]
        row = table.cells(f"{comp.size}:learned:glove")
        assert row[1] == comp.verdict
        assert f"{comp.diff:+.3f}" in row

        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        assert app.main.watcher.subscribers == ()  # a closed screen is told nothing more
