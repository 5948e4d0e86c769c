"""The form validates as you type with the CLI's messages, and ctrl+s starts only when valid."""

from __future__ import annotations

from textual.widgets import Input, Static

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.screens.main import MainScreen
from embtui.config import ExperimentConfig, config_keys
from embtui.store import Store
from tests.app.conftest import settle, text_of


async def _type(pilot, key: str, text: str) -> None:
    field = pilot.app.screen.query_one(f"#f-{key}", Input)
    field.focus()
    field.value = ""
    await pilot.press(*text)
    await pilot.pause()


async def test_n_opens_a_form_with_every_key_prefilled(make_app):
    config = ExperimentConfig(name="mine", sizes=(10, 20), epochs=2)
    app = make_app(config, open_configure=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, MainScreen)
        await pilot.press("n")
        assert isinstance(app.screen, ConfigureScreen)
        ids = [i.id for i in app.screen.query(Input)]
        assert ids == [f"f-{k}" for k in config_keys()]
        assert app.screen.query_one("#f-sizes", Input).value == "10,20"
        assert app.screen.query_one("#f-name", Input).value == "mine"
        assert app.screen.query_one("#f-glove", Input).value == ""
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)


async def test_typing_shows_the_configs_own_message_under_the_field(make_app, store_path):
    app = make_app(ExperimentConfig(dataset="x.csv", epochs=1, sizes=(10,), seeds=1))
    async with app.run_test(size=(120, 40)) as pilot:
        await _type(pilot, "sizes", "0")
        hint = text_of(app.screen.query_one("#hint-sizes", Static))
        assert "sizes = 0: every size must be at least 1" in hint
        assert "sizes = 0: every size must be at least 1" in text_of(
            app.screen.query_one("#form-status", Static)
        )
        await _type(pilot, "embeddings", "learned,elmo")
        assert "embeddings: unknown arm 'elmo'; allowed: learned, glove, glove-tuned" in text_of(
            app.screen.query_one("#hint-embeddings", Static)
        )
        await _type(pilot, "learning_rate", "fast")
        assert "learning_rate = 'fast': expected a number" in text_of(
            app.screen.query_one("#hint-learning_rate", Static)
        )
        # Errors block ctrl+s: nothing starts, nothing is written.
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ConfigureScreen)
        assert Store(store_path).experiments() == []
        # Fixing the fields clears the messages and ctrl+s starts the experiment.
        await _type(pilot, "sizes", "10,50")
        await _type(pilot, "embeddings", "learned")
        await _type(pilot, "learning_rate", "0.01")
        assert "✗" not in text_of(app.screen.query_one("#form-status", Static))
        assert "2 runs" in text_of(app.screen.query_one("#form-status", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        (exp,) = Store(store_path).experiments()
        assert exp.config["sizes"] == [10, 50]
        assert exp.config["learning_rate"] == 0.01
        assert exp.status == "done"
