"""Export writes exactly the CLI's Markdown; help lists every key of the screen."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.message import Message
from textual.notifications import Notify

from embtui.app import app as app_module
from embtui.app.screens import choice, compare, configure, confirm, help, info, log, main, prompt
from embtui.app.screens.compare import CompareScreen
from embtui.app.screens.export_dialog import ExportDialog
from embtui.app.screens.help import HelpScreen
from embtui.app.widgets import chart_pane, filter_bar, keyed_table, runs_table
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.app.widgets.summary_table import SummaryTable
from embtui.cli import main as cli
from embtui.export import figures_folder, render
from embtui.report.model import build_report
from tests.app.conftest import record, screen_lines, settle, stored, text_of


def cli_markdown(store_path: Path, exp_id: int, path: Path, metric: str = "final") -> str:
    """What `embtui export ID -o <a file of the same name elsewhere>` writes: the Markdown
    the console must have written, figures folder and all."""
    elsewhere = path.parent / "cli" / path.name
    elsewhere.parent.mkdir(exist_ok=True)
    args = ["export", str(exp_id), "-o", str(elsewhere), "--metric", metric]
    assert cli([*args, "--store", str(store_path)]) == 0
    figures = figures_folder(elsewhere)
    for image in figures.iterdir():  # the same figures, byte for byte
        assert (figures_folder(path) / image.name).read_bytes() == image.read_bytes()
    return elsewhere.read_text(encoding="utf-8")


def figure_links(markdown: str) -> list[str]:
    return re.findall(r"^!\[[^\]]*\]\(([^)]*)\)$", markdown, re.M)


async def test_e_writes_the_same_markdown_as_embtui_export(make_app, store_path, tmp_path):
    exp_id = record(store_path)
    app = make_app()
    messages: list[Message] = []
    async with app.run_test(size=(120, 40), message_hook=messages.append) as pilot:
        await settle(pilot)
        await pilot.press("e")
        assert isinstance(app.screen, ExportDialog)
        path = tmp_path / f"embtui-small-{exp_id}.md"
        assert text_of(app.screen.query_one("#choice-note")) == (
            f"writes {path} and embtui-small-{exp_id}-figures/\n"
            f"embtui export {exp_id} prints it to stdout"
        )
        await pilot.press("enter")
        await settle(pilot)
        assert text_of_status(app) == f"wrote {path}"
    text = path.read_text(encoding="utf-8")
    assert text == cli_markdown(store_path, exp_id, path)
    assert "## Results" in text and "| size |" in text
    notes = [m.notification.message for m in messages if isinstance(m, Notify)]
    assert any(str(path) in str(note) for note in notes), notes
    # Its figures, beside it, linked by paths relative to it.
    folder = tmp_path / f"embtui-small-{exp_id}-figures"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epochs-accuracy.svg",
        "epochs-loss.svg",
        "figures.json",
        "size.svg",
    ]
    links = figure_links(text)
    assert links == [f"{folder.name}/{n}.svg" for n in ("epochs-accuracy", "epochs-loss", "size")]
    assert all((tmp_path / link).read_bytes().startswith(b"<?xml") for link in links)


@pytest.mark.parametrize(("fmt", "ending"), [("html", ".html"), ("csv", ".csv"), ("json", ".json")])
async def test_the_export_format_is_chosen_in_the_console(
    make_app, store_path, tmp_path, fmt, ending
):
    exp_id = record(store_path)
    folders = {p for p in tmp_path.iterdir() if p.is_dir()}  # the store's own (kept arrays)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("e")
        keys = ["j"] * ["md", "html", "csv", "summary-csv", "json"].index(fmt)
        await pilot.press(*keys)
        path = tmp_path / f"embtui-small-{exp_id}{ending}"
        assert text_of(app.screen.query_one("#choice-note")) == (
            f"writes {path}\nembtui export {exp_id} --format {fmt} prints it to stdout"
        )
        await pilot.press("enter")
        await settle(pilot)
    # As `embtui export` builds it: HTML says what the runs' kept arrays show.
    report = build_report(stored(store_path), exp_id, learned=fmt == "html")
    assert path.read_text(encoding="utf-8") == render(report, fmt)
    # Figures are inside, or none: the export adds no folder.
    assert {p for p in tmp_path.iterdir() if p.is_dir()} == folders


async def test_exporting_again_never_overwrites_an_earlier_export(make_app, store_path, tmp_path):
    exp_id = record(store_path)
    first = tmp_path / f"embtui-small-{exp_id}.md"
    first.write_text("my notes, edited after the first export\n", encoding="utf-8")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("e", "enter")
        await settle(pilot)
        second = tmp_path / f"embtui-small-{exp_id}-2.md"
        assert text_of_status(app) == f"wrote {second}"
        # From the compare screen, another metric: a name of its own.
        await pilot.press("c")
        await settle(pilot)
        await pilot.press("m")
        await settle(pilot)
        await pilot.press("e")
        best = tmp_path / f"embtui-small-{exp_id}-best.md"
        assert text_of(app.screen.query_one("#choice-note")) == (
            f"writes {best} and embtui-small-{exp_id}-best-figures/\n"
            f"embtui export {exp_id} --metric best prints it to stdout"
        )
        await pilot.press("enter")
        await settle(pilot)
    assert first.read_text(encoding="utf-8") == "my notes, edited after the first export\n"
    assert second.read_text(encoding="utf-8") == cli_markdown(store_path, exp_id, second)
    assert best.read_text(encoding="utf-8") == cli_markdown(store_path, exp_id, best, "best")
    assert figure_links(second.read_text(encoding="utf-8"))[0] == (
        f"embtui-small-{exp_id}-2-figures/epochs-accuracy.svg"
    )
    assert [m.text for m in app.messages if m.text.startswith("wrote")] == [
        f"wrote {second}",
        f"wrote {best}",
    ]


def test_an_earlier_exports_figures_folder_is_never_written_into(store_path, tmp_path):
    """The `-2`, `-3` rule holds for the folder too: a folder left by an earlier export (its
    Markdown renamed or deleted) keeps what is in it."""
    from embtui.app.export_file import write_export

    exp_id = record(store_path)
    earlier = tmp_path / f"embtui-small-{exp_id}-figures"
    earlier.mkdir()
    (earlier / "size.svg").write_text("my edited figure\n", encoding="utf-8")
    path = write_export(stored(store_path), exp_id, tmp_path)
    assert path == tmp_path / f"embtui-small-{exp_id}-2.md"
    assert (tmp_path / f"embtui-small-{exp_id}-2-figures" / "size.svg").is_file()
    assert [p.name for p in earlier.iterdir()] == ["size.svg"]
    assert (earlier / "size.svg").read_text(encoding="utf-8") == "my edited figure\n"


def text_of_status(app) -> str:
    return app.main.query_one("#status").text


@pytest.mark.parametrize("where", ["main", "form", "compare"])
async def test_help_scrolls_with_j_and_down(make_app, store_path, where):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        if where == "form":
            await pilot.press("n")
        elif where == "compare":
            await pilot.press("c")
            await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(KeyedTable)
        assert len(table.row_keys) > table.scrollable_content_region.height  # it must scroll
        assert table.scroll_y == 0
        await pilot.press(*["j"] * (len(table.row_keys) - 1))
        assert table.cursor_row == len(table.row_keys) - 1
        assert table.scroll_y > 0
        last = table.cells(table.row_keys[-1])
        assert any(last[1] in line for line in screen_lines(app))  # the last key is on screen
        pages = len(table.row_keys) // max(1, table.scrollable_content_region.height) + 1
        await pilot.press("k", "up", *["pageup"] * pages)
        assert table.cursor_row == 0 and table.scroll_y == 0
        await pilot.press("down")
        assert table.cursor_row == 1


async def test_compare_screen_shows_the_summary_and_the_better_arm(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        summary = build_report(stored(store_path), exp_id).summary
        table = app.screen.query_one(SummaryTable)
        row = table.cells("10:learned:glove")
        comp = summary.comparisons[0]
        assert row[0] == "10"
        assert row[1] == comp.verdict
        assert row[2] == summary.group(10, "learned").label()
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
        for key in ("/", "f", "o", "s", "L", "d", "f2", "l", "y"):
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
        choice.ChoiceScreen,
        prompt.PromptScreen,
        log.MessageLogScreen,
        log.LogList,
        info.ExperimentInfoScreen,
        chart_pane.ChartPane,
        filter_bar.FilterBar,
    ]
    for cls in classes:
        for b in cls.__dict__.get("BINDINGS", []):
            assert isinstance(b, Binding)
            assert b.id, f"{cls.__name__} {b.key}"
            assert b.tooltip or not b.show, f"{cls.__name__} {b.key}"


def test_importing_the_console_does_not_import_tensorflow_or_scipy():
    """Nor psutil and NVML: the system pane loads them on a worker, after the first frame."""
    code = (
        "import sys, embtui.app.app\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'scipy', 'psutil', 'pynvml')]\n"
        "print(heavy)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


async def test_help_at_80_columns_wraps_each_description_whole(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.pause()
        table = app.screen.query_one(KeyedTable)
        assert table.virtual_size.width <= table.scrollable_content_region.width  # none cut
        rows = [table.cells(k) for k in table.row_keys]
        joined: dict[str, str] = {}
        current = ""
        for key, text in rows:
            current = key or current
            joined[current] = f"{joined.get(current, '')} {text}".strip()
        for key, name, what in app.screen.rows:
            assert joined[key] == " ".join((what or name).split()), key
