"""The console with hostile strings: names, arms, heads, errors and form values are shown as
typed (escapes visible), never parsed as markup, never run as actions, never copied raw.

Entry points: names already in the store (the latest experiment, as an older embtui or a
script recorded them), arm and head strings recorded by `EmbtuiCallback`, a failed run's
error, the form (name and dataset fields, then training with the fake engine) and rename
(f2). Outputs: the rendered screen (runs pane title, experiment list, runs table, epoch
pane and its note, the form's hints and status, the prompt), notifications and the message
log, and the clipboard payload of `y`.
"""

from __future__ import annotations

import unicodedata

import pytest
from textual import events
from textual.widgets import Input, Static

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.screens.main import MainScreen
from embtui.app.screens.prompt import PromptScreen
from embtui.app.widgets.epoch_table import EpochPane
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.runs_table import RunsTable
from embtui.config import CALLBACK_SOURCE
from embtui.escape import terminal
from embtui.store import Store
from tests.app.conftest import SMALL, screen_lines, settle, stored, text_of, until
from tests.helpers import record_experiment

MARKUP = (
    "[x=']",
    "[@click=app.quit]QQQ",
    "[$accent]x",
    "[bold red]big",
    '=HYPERLINK("e.invalid","x")',
    "pipe|x <sup>2",
)
CONTROL = (
    "\x1b]52;c;aGk=\x07",
    "\x1b]0;owned\x07",
    "wipe\x1b[2J\x1b[H",
    "safe\u202edelete-me",
)
HOSTILE = MARKUP + CONTROL
IDS = [f"s{i}" for i in range(len(HOSTILE))]


def clean(lines: list[str] | str) -> None:
    text = lines if isinstance(lines, str) else "\n".join(lines)
    bad = [c for c in text if c not in "\n\t" and unicodedata.category(c) in ("Cc", "Cf")]
    assert not bad, f"raw {sorted(set(bad))!r} on the screen"


def record_named(path, name: str) -> int:
    """An experiment of SMALL's grid (one run per cell, one seed) recorded under `name`."""
    config = {**SMALL.to_dict(), "name": name}
    runs = [(size, arm, 0, 0.6) for size in SMALL.sizes for arm in SMALL.embeddings]
    with Store(path) as store:
        return record_experiment(store, name, config, runs)


def record_callback(path) -> int:
    """A user's fits recorded by EmbtuiCallback: one arm per hostile string, a hostile
    head, and a failed run whose error quotes an escape sequence."""
    config = {"source": CALLBACK_SOURCE, "name": "fits", "head": HOSTILE[1]}
    runs = [
        (10, {"embeddings": arm, "head": HOSTILE[1]}, 0, 0.5 + i / 100)
        for i, arm in enumerate(HOSTILE)
    ]
    runs.append((10, {"embeddings": "plain", "head": "h"}, 0, None))
    with Store(path) as store:
        return record_experiment(store, "fits", config, runs, error=f"OSError: {HOSTILE[-3]}")


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
async def test_the_console_starts_with_a_hostile_name_as_the_latest_experiment(
    name, make_app, store_path
):
    exp_id = record_named(store_path, name)
    app = make_app(open_configure=False)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, MainScreen) and app.is_running
        lines = screen_lines(app)
        clean(lines)
        shown = terminal(name)
        assert any(f"runs · #{exp_id} {shown} · done" in line for line in lines), lines[:3]
        assert app.screen.query_one(ExperimentList).cells(str(exp_id))[3] == shown
        # A click on the title, where a parsed `[@click=app.quit]` would have put an
        # action, leaves the console running.
        await pilot.click(RunsTable, offset=(10, 0))
        await pilot.pause()
        assert app.is_running and isinstance(app.screen, MainScreen)
        # The rename prompt and a new experiment's form start from the name, escaped.
        await pilot.press("f2")
        assert isinstance(app.screen, PromptScreen)
        assert app.screen.query_one(Input).value == shown
        clean(screen_lines(app))
        await pilot.press("escape", "n")
        await pilot.pause()
        assert isinstance(app.screen, ConfigureScreen)
        if any(unicodedata.category(c) == "Cc" for c in name):
            # A recorded name with control characters is no configuration this version
            # accepts: the form starts from the last one used, and says so.
            assert app.screen.query_one("#f-name", Input).value != name
            assert any("does not read as one" in m.text for m in app.messages)
        else:
            assert app.screen.query_one("#f-name", Input).value == shown
        clean(screen_lines(app))


async def test_callback_arms_heads_and_errors_show_as_typed_and_copy_as_plain_text(
    make_app, store_path
):
    exp_id = record_callback(store_path)
    app = make_app(open_configure=False)
    async with app.run_test(size=(200, 50)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        runs = stored(store_path).runs(exp_id)
        arms = {table.cells(str(r.id))[2] for r in runs}
        assert {terminal(a) for a in HOSTILE} <= arms, arms
        clean(screen_lines(app))
        for run in runs:
            table.move_to_key(str(run.id))
            await pilot.pause()
            lines = screen_lines(app)
            clean(lines)
            pane = app.screen.query_one(EpochPane)
            title = "".join(lines)
            assert f"epochs · #{run.id} 10/" in title  # the pane's title, cut to its width
            assert f"#{run.id} 10/{terminal(run.embedding)}/s0" in title  # the legend
            await pilot.press("y")
            copied = app.clipboard
            clean(copied)
            assert copied == "\t".join(c for c in table.cells(str(run.id)) if c)
            assert terminal(run.embedding) in copied
            if run.status == "failed":
                note = text_of(pane.query_one("#epoch-note", Static))
                assert note.startswith("✗ failed after 0 of ")
                assert note.endswith(f" epochs: OSError: {terminal(HOSTILE[-3])}")
        log = [entry.text for entry in app.messages]
        assert any(terminal(HOSTILE[0]) in text for text in log if text.startswith("copied"))
        clean("\n".join(log))


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
async def test_f2_refuses_control_names_and_keeps_markup_names_as_typed(name, make_app, store_path):
    exp_id = record_named(store_path, "plain")
    app = make_app(open_configure=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        assert isinstance(app.screen, PromptScreen)
        field = app.screen.query_one(Input)
        field.value = ""
        field.post_message(events.Paste(name))
        await pilot.pause()
        assert field.value == terminal(name)  # the field never holds a raw escape
        await pilot.press("enter")
        await settle(pilot)
        clean(screen_lines(app))
        if name in CONTROL:
            assert isinstance(app.screen, PromptScreen)
            error = text_of(app.screen.query_one("#prompt-error", Static))
            # The pasted escapes are text now, refused for their backslash, in one line.
            assert error.startswith(f"name = {terminal(name)!r}: "), error
            assert stored(store_path).experiment(exp_id).name == "plain"
        else:
            assert isinstance(app.screen, MainScreen)
            assert stored(store_path).experiment(exp_id).name == name
            assert app.screen.query_one(ExperimentList).cells(str(exp_id))[3] == name
            assert f"experiment {exp_id} is now '{name}'" in [m.text for m in app.messages]


@pytest.mark.parametrize(
    "field, value",
    [("name", "[x=']"), ("name", "[@click=app.quit]QQQ"), ("dataset", "[x='].csv")],
)
async def test_the_form_shows_hostile_values_as_typed_and_trains_with_them(
    field, value, make_app, store_path
):
    app = make_app(SMALL.replace(sizes=(10,), seeds=1, epochs=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, ConfigureScreen)
        app.screen.query_one(f"#f-{field}", Input).value = value
        await pilot.pause()
        status = text_of(app.screen.query_one("#form-status", Static))
        assert "✗" not in status and "2 runs" in status, status
        app.screen.query_one("#f-sizes", Input).value = "[x=']"  # an error quoting it
        await pilot.pause()
        hint = text_of(app.screen.query_one("#hint-sizes", Static))
        assert hint.startswith("✗ sizes") and "[x=']" in hint
        app.screen.query_one("#f-sizes", Input).value = "10"
        await pilot.pause()
        clean(screen_lines(app))
        await pilot.press("ctrl+s")
        await until(pilot, lambda: stored(store_path).experiments())
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, MainScreen)
        (exp,) = stored(store_path).experiments()
        await until(pilot, lambda: stored(store_path).experiment(exp.id).status == "done")
        await settle(pilot)
        assert exp.config[field] == value or exp.config[field].endswith(value)
        lines = screen_lines(app)
        clean(lines)
        if field == "name":
            assert any(f"runs · #{exp.id} {value} · done" in line for line in lines)


async def test_compare_and_info_show_hostile_arms_head_and_name_as_typed(make_app, store_path):
    """`c` on a callback experiment whose arms are the hostile strings (a sweep of 10
    arms), then `enter` on it in the experiment list (its recorded configuration)."""
    from embtui.app.screens.compare import CompareScreen
    from embtui.app.screens.info import ExperimentInfoScreen, InfoTable
    from embtui.app.widgets.summary_table import SummaryTable

    record_callback(store_path)
    app = make_app(open_configure=False)
    async with app.run_test(size=(200, 60)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        await until(pilot, lambda: "computing" not in text_of(app.screen.query_one("#conclusion")))
        lines = screen_lines(app)
        clean(lines)
        table = app.screen.query_one(SummaryTable)
        shown = {cell for key in table.row_keys for cell in table.cells(key)}
        for arm in HOSTILE:
            assert any(terminal(arm) in cell for cell in shown), arm
        conclusion = text_of(app.screen.query_one("#conclusion"))
        clean(conclusion)
        assert "[x=']" in conclusion or "[x=']" in "\n".join(lines)
        await pilot.press("escape")
        await settle(pilot)
        app.screen.query_one(ExperimentList).focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ExperimentInfoScreen)
        info = app.screen.query_one(InfoTable)
        rows = {k: info.cells(k)[-1] for k in info.row_keys}
        assert rows["experiment:name"] == "fits"
        assert HOSTILE[1] in rows.values()  # the head, as recorded
        clean(screen_lines(app))
        await pilot.press("y")
        clean(app.clipboard)
