"""Comparisons across experiments in the console: `space` marks experiments, `c` compares
the marked as one pool (the report `embtui export 3,5` writes, or its one-line refusal),
and run marks outlive a switch of experiment so an overlay may mix experiments."""

from __future__ import annotations

import pytest

from embtui.app.screens.compare import CompareScreen
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.status_line import StatusLine
from embtui.app.widgets.summary_table import SummaryTable
from embtui.cli import main as cli
from embtui.errors import EmbtuiError
from embtui.report.model import build_report
from tests.app.conftest import SMALL, record, screen_lines, settle, stored, until

LEARNED = SMALL.replace(name="learned-only", embeddings="learned")
GLOVE = SMALL.replace(name="glove-only", embeddings="glove")


async def test_space_marks_experiments_and_c_compares_them_as_one_pool(make_app, store_path):
    a = record(store_path, LEARNED)
    b = record(store_path, GLOVE)
    both = record(store_path, SMALL)  # the same grid, both arms in one experiment
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        experiments = app.main.query_one(ExperimentList)
        experiments.focus()
        await pilot.press("k", "space", "k", "space")  # b, then a
        assert app.main.marked_experiments == {a, b}
        assert experiments.cells(str(a))[0] == f"● {a}"
        assert experiments.cells(str(b))[0] == f"● {b}"
        assert experiments.cells(str(both))[0] == str(both)
        assert experiments.border_title == "experiments · 2 marked: c compares"
        assert "● 2 experiments" in app.main.query_one(StatusLine).flags
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert screen.experiment_ids == [a, b]
        assert any(
            f"Compare · experiments {a} + {b} as one pool" in line for line in screen_lines(app)
        )
        pooled = screen.report.summary  # type: ignore[attr-defined]
        expected = build_report(stored(store_path), [a, b]).summary
        one = build_report(stored(store_path), both).summary
        # Two experiments with one arm each: exactly the numbers of one with both arms.
        assert pooled.arms == one.arms == ("learned", "glove")
        assert [(c.size, c.diff, c.p) for c in pooled.comparisons] == [
            (c.size, c.diff, c.p) for c in one.comparisons
        ]
        table = screen.query_one(SummaryTable)
        for comp in expected.comparisons:
            row = next(k for k in table.row_keys if k.startswith(f"{comp.size}:"))
            assert comp.verdict in table.cells(row)
        # space again unmarks, and marks again.
        await pilot.press("escape")
        experiments.focus()
        await pilot.press("space")
        assert app.main.marked_experiments == {b}
        await pilot.press("space")
        await settle(pilot)
        assert experiments.border_title == "experiments · 2 marked: c compares"


async def test_c_refuses_experiments_validated_on_different_reviews_as_the_cli_does(
    make_app, store_path, capsys
):
    a = record(store_path, LEARNED)
    b = record(store_path, GLOVE.replace(val_size=200))
    with pytest.raises(EmbtuiError) as refused:
        build_report(stored(store_path), [a, b])
    message = str(refused.value)
    assert "validated on different reviews" in message
    assert cli(["export", f"{a},{b}", "--store", str(store_path)]) == 2
    assert capsys.readouterr().err == f"embtui: error: {message}\n"
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.query_one(ExperimentList).focus()
        await pilot.press("space", "k", "space", "c")
        status = app.main.query_one(StatusLine)
        await until(pilot, lambda: status.text == message)
        assert status.error
        assert isinstance(app.screen, MainScreen)  # refused: no compare screen
        assert "\n" not in message


async def test_run_marks_survive_switching_experiments_and_mix_in_the_overlay(make_app, store_path):
    a = record(store_path)
    b = record(store_path, SMALL.replace(name="other", sizes="10", seeds=1))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs_a, runs_b = stored(store_path).runs(a), stored(store_path).runs(b)
        table = app.main.query_one(RunsTable)
        assert app.main.experiment_id == b
        await pilot.press("j", "space")  # b's second run
        assert app.main.marked_runs == {runs_b[1].id: b}
        app.main.query_one(ExperimentList).focus()
        await pilot.press("k")  # to a
        await settle(pilot)
        assert app.main.experiment_id == a
        table.focus()
        await pilot.press("j", "j", "space", "j")  # a's third run marked, cursor on the fourth
        assert app.main.marked_runs == {runs_b[1].id: b, runs_a[2].id: a}
        assert table.cells(str(runs_a[2].id))[0] == "●"
        flags = app.main.query_one(StatusLine).flags
        assert "● 2 runs in 2 experiments" in flags
        chart = app.main.query_one("#loss-chart", MetricChart)
        val = [s.run_id for s in chart.series if s.kind == "val"]
        assert val == [runs_a[3].id, runs_a[2].id, runs_b[1].id]  # cursor, then the marked
        # Back to b: its run is still marked, and a's still overlaid.
        app.main.query_one(ExperimentList).focus()
        await pilot.press("j")
        await settle(pilot)
        assert app.main.experiment_id == b
        assert table.cells(str(runs_b[1].id))[0] == "●"
        val = [s.run_id for s in chart.series if s.kind == "val"]
        assert val == [runs_b[0].id, runs_b[1].id, runs_a[2].id]
        # Unmarking here leaves the other experiment's mark.
        table.focus()
        await pilot.press("j", "space")
        assert app.main.marked_runs == {runs_a[2].id: a}
        assert "● 1 run" in app.main.query_one(StatusLine).flags


async def test_e_on_a_pooled_comparison_writes_what_embtui_export_a_b_prints(
    make_app, store_path, tmp_path, capsys
):
    from embtui.app.screens.export_dialog import ExportDialog
    from tests.app.conftest import text_of

    a = record(store_path, LEARNED)
    b = record(store_path, GLOVE)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.query_one(ExperimentList).focus()
        await pilot.press("space", "k", "space", "c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportDialog)
        path = tmp_path / f"embtui-learned-only-{a}+{b}.md"
        assert text_of(app.screen.query_one("#choice-note")) == (
            f"writes {path} and embtui-learned-only-{a}+{b}-figures/\n"
            f"embtui export {a},{b} prints it to stdout"
        )
        await pilot.press("enter")
        await settle(pilot)
    (tmp_path / "cli").mkdir()
    elsewhere = tmp_path / "cli" / path.name  # the same name: the same figure links
    assert cli(["export", f"{a},{b}", "-o", str(elsewhere), "--store", str(store_path)]) == 0
    assert path.read_text(encoding="utf-8") == elsewhere.read_text(encoding="utf-8")
    assert (tmp_path / f"embtui-learned-only-{a}+{b}-figures" / "size.svg").is_file()


async def test_c_on_two_identical_experiments_counts_each_run_once_and_says_so(
    make_app, store_path
):
    """The same through the console as `embtui export A,B`: two experiments on the same
    data with the same seeds pool as one, n=3 per cell, and the screen says why."""
    from embtui.config import ExperimentConfig
    from tests.report.test_duplicates import fingerprint
    from tests.report.test_duplicates import record as record_values

    grid = ExperimentConfig(name="a", sizes=(10, 200), seeds=3, epochs=2)
    with stored(store_path) as s:
        a = record_values(s, grid, fingerprint())
        b = record_values(s, grid.replace(name="b"), fingerprint())
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.marked_experiments = {a, b}
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        await until(pilot, lambda: app.screen.report is not None)
        await settle(pilot)
        pooled = app.screen.report.summary
        alone = build_report(stored(store_path), a).summary
        assert [(g.size, g.arm, g.n, g.mean) for g in pooled.groups] == [
            (g.size, g.arm, g.n, g.mean) for g in alone.groups
        ]
        text = " ".join(line.strip() for line in screen_lines(app))
        assert f"Experiment {b} adds no runs: all 12 of its finished runs repeat runs of" in text
