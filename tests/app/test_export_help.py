"""Export writes exactly the CLI's Markdown; help lists every key of the screen."""

from __future__ import annotations

import subprocess
import sys

from textual.binding import Binding

from embtui.app import app as app_module
from embtui.app.screens import compare, configure, confirm, help, main
from embtui.app.screens.compare import CompareScreen
from embtui.app.screens.help import HelpScreen
from embtui.app.widgets import keyed_table, runs_table
from embtui.app.widgets.summary_table import SummaryTable
from embtui.export import render
from embtui.export.report import build_report
from embtui.store import Store
from tests.app.conftest import record, settle, text_of


async def test_e_writes_the_same_markdown_as_embtui_export(make_app, store_path, tmp_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
    path = tmp_path / f"embtui-small-{exp_id}.md"
    text = path.read_text(encoding="utf-8")
    assert text == render(build_report(Store(store_path), exp_id), "md")
    assert "## Results" in text and "| size |" in text
    assert any(str(path) in str(n.message) for n in app._notifications)


async def test_compare_screen_shows_the_summary_and_the_better_arm(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        summary = build_report(Store(store_path), exp_id).summary
        table = app.screen.query_one(SummaryTable)
        row = table.cells("10:learned:glove")
        assert row[0] == "10"
        assert row[1] == summary.group(10, "learned").label()
        comp = summary.comparisons[0]
        assert row[3] == comp.verdict
        assert row[4] == f"{comp.diff:+.3f}"
        if comp.better:
            assert f"★ {summary.group(10, comp.better).label()}" in row
        assert text_of(app.screen.query_one("#conclusion")) == summary.conclusion()
        await pilot.press("m")  # best-epoch metric
        await settle(pilot)
        assert app.screen.report.summary.metric == "best"
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_help_lists_every_binding_of_the_focused_screen(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {row[0]: (row[1], row[2]) for row in app.screen.rows}
        for key in ("n", "c", "e", "x", "r", "g", "v", "z", "q", "?", "space", "j", "k"):
            assert key in keys, key
            assert keys[key][1], f"{key} has no description"
        assert keys["space"][0] == "Mark"
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("n", "question_mark")  # typed into the form's field
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        keys = {row[0] for row in app.screen.rows}
        assert "^s" in keys or "ctrl+s" in keys


def test_every_binding_has_an_id_and_a_tooltip():
    classes = [
        app_module.EmbtuiApp,
        main.MainScreen,
        configure.ConfigureScreen,
        compare.CompareScreen,
        confirm.ConfirmScreen,
        help.HelpScreen,
        keyed_table.KeyedTable,
        runs_table.RunsTable,
    ]
    for cls in classes:
        for b in cls.__dict__.get("BINDINGS", []):
            assert isinstance(b, Binding)
            assert b.id, f"{cls.__name__} {b.key}"
            assert b.tooltip or not b.show, f"{cls.__name__} {b.key}"


def test_importing_the_console_does_not_import_tensorflow_or_scipy():
    code = (
        "import sys, embtui.app.app\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'scipy')]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
