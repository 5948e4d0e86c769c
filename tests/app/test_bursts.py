"""Keys that arrive together (tmux send-keys, a paste of keystrokes, fast typing over SSH)
land where they would have landed typed one by one: a key that moves focus or opens a
screen (tab, F2, `/`) takes effect before the keys after it are routed.

`burst` queues every key before the console reads the first, as a terminal delivers them;
Pilot's own `press` waits for the console to settle after each key and would hide this.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.filter_bar import FilterBar
from embtui.app.widgets.runs_table import RunsTable
from embtui.config import ExperimentConfig
from tests.app.conftest import burst, record, settle, stored, until


def field(app, key: str) -> str:
    return app.screen.query_one(f"#f-{key}", Input).value


async def test_tab_in_a_burst_moves_on_before_the_next_key(make_app):
    app = make_app(ExperimentConfig(name="quick"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ConfigureScreen)
        app.screen.query_one("#f-learning_rate", Input).focus()
        await pilot.pause()
        await burst(pilot, "ctrl+a", "ctrl+k", *"0.001", "tab", "ctrl+a", "ctrl+k", "2")
        assert field(app, "learning_rate") == "0.001"
        assert field(app, "seeds") == "2"  # the field after learning_rate
        app.screen.query_one("#f-name", Input).focus()
        await pilot.pause()
        await burst(pilot, "end", "ctrl+u", *"burst2", "tab", "end", "ctrl+u", *"/no.csv")
        assert field(app, "name") == "burst2"
        assert field(app, "dataset") == "/no.csv"
        await burst(pilot, "shift+tab", "end", *"-x", "down", "down", "end", *"5")
        assert field(app, "name") == "burst2-x"
        assert field(app, "sizes").endswith("5")


async def test_ctrl_s_in_a_burst_starts_with_every_key_typed_before_it(make_app, store_path):
    app = make_app(ExperimentConfig(name="quick", sizes=(10,), seeds=1, epochs=1))
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#f-name", Input).focus()
        await pilot.pause()
        await burst(pilot, "ctrl+a", "ctrl+k", *"typed-late", "ctrl+s")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: stored(store_path).experiments())
        (exp,) = stored(store_path).experiments()
        assert exp.name == "typed-late"


async def test_rename_typed_in_one_burst_with_f2_renames(make_app, store_path):
    exp = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await burst(pilot, "f2", "end", "ctrl+u", *"burst-name", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert stored(store_path).experiment(exp).name == "burst-name"


async def test_filter_typed_in_one_burst_with_slash_filters(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.query_one(RunsTable).focus()
        await pilot.pause()
        await burst(pilot, "slash", *"glove", "enter")
        await settle(pilot)
        bar = app.main.query_one(FilterBar)
        assert bar.value == "glove"
        assert app.main.run_filter is not None and app.main.run_filter.text == "glove"
        shown = app.main.shown_runs
        assert shown and all(r.arm == "glove" for r in shown)


async def test_a_paste_after_tab_in_a_burst_lands_in_the_next_field(make_app):
    app = make_app(ExperimentConfig(name="quick"))
    async with app.run_test(size=(80, 24)) as pilot:
        app.screen.query_one("#f-name", Input).focus()
        await pilot.pause()
        # Keys and the paste all queued before the console reads the first.
        paste = events.Paste("/pasted.csv")
        await burst(pilot, "end", "ctrl+u", *"first", "tab", "end", "ctrl+u", paste)
        assert field(app, "name") == "first"
        assert field(app, "dataset") == "/pasted.csv"
