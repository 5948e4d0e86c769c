"""The form validates as you type with the CLI's messages, and ctrl+s starts only when valid."""

from __future__ import annotations

import pytest
from textual.widgets import Input, Static

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.status_line import StatusLine
from embtui.config import ExperimentConfig, config_keys
from tests.app.conftest import SMALL, burst, record, screen_lines, settle, stored, text_of
from tests.app.fake import FakeEngine


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
        assert stored(store_path).experiments() == []
        # Fixing the fields clears the messages and ctrl+s starts the experiment.
        await _type(pilot, "sizes", "10,50")
        await _type(pilot, "embeddings", "learned")
        await _type(pilot, "learning_rate", "0.01")
        assert "✗" not in text_of(app.screen.query_one("#form-status", Static))
        assert "2 runs" in text_of(app.screen.query_one("#form-status", Static))
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        (exp,) = stored(store_path).experiments()
        assert exp.config["sizes"] == [10, 50]
        assert exp.config["learning_rate"] == 0.01
        assert exp.status == "done"


async def test_keys_typed_in_a_burst_are_applied_in_order(make_app):
    """`ctrl+a ctrl+k abc` arriving together (tmux send-keys, a fast typist over SSH):
    the field is cleared, then reads abc; in the first form of a fresh console too."""
    app = make_app(ExperimentConfig(name="quick"))
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, ConfigureScreen)
        await burst(pilot, "ctrl+a", "ctrl+k", "a", "b", "c")
        assert app.screen.query_one("#f-name", Input).value == "abc"
        await burst(pilot, "down", "ctrl+a", "ctrl+k", "4", "2", "up", "end", "x")
        assert app.screen.query_one("#f-dataset", Input).value == "42"
        assert app.screen.query_one("#f-name", Input).value == "abcx"


ERRORS = [
    ("DataError", "/data/missing.csv: no such file", "dataset", "missing.csv"),
    (
        "DataError",
        "keras-imdb: could not download the IMDB dataset (offline?); use dataset = a Keras "
        "imdb.npz, a CSV/TSV file or an aclImdb folder",
        "dataset",
        "keras-imdb",
    ),
    (
        "ConfigError",
        "sizes = 10,500: 500 is larger than the 40 reviews of the training split",
        "sizes",
        "fake.csv",
    ),
    ("GloveError", "/g/glove.txt: line 2: expected 50 numbers", "glove", "fake.csv"),
]


@pytest.mark.parametrize(("kind", "message", "field", "dataset"), ERRORS)
async def test_an_error_found_while_starting_stays_in_the_form_under_its_field(
    make_app, store_path, kind, message, field, dataset
):
    from embtui import errors

    engine = FakeEngine(fail_prepare=message, fail_kind=getattr(errors, kind))
    config = SMALL.replace(dataset=dataset, glove="/g/glove.txt" if field == "glove" else None)
    app = make_app(config, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await _type(pilot, "epochs", "7")  # an edit the user made before ctrl+s
        await pilot.press("ctrl+s")
        await settle(pilot)
        form = app.screen
        assert isinstance(form, ConfigureScreen)  # still open, as the user left it
        assert form.query_one("#f-epochs", Input).value == "7"
        hint = form.query_one(f"#hint-{field}", Static)
        assert text_of(hint) == f"✗ {message}"  # in full, under the field it concerns
        assert hint.has_class("-invalid")
        assert app.focused is form.query_one(f"#f-{field}", Input)
        assert text_of(form.query_one("#form-status", Static)) == f"✗ not started: {message}"
        assert message in [m.text for m in app.messages]  # and in the message log, in full
        await pilot.press("ctrl+l")  # l is a letter in a field: ctrl+l opens the log
        assert type(app.screen).__name__ == "MessageLogScreen"
        assert any(message in line for line in screen_text(app))
        await pilot.press("escape")
        assert app.screen is form
        await pilot.press("escape", "y")  # give the form up: nothing stale is left
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "not started" not in app.main.query_one(StatusLine).text
    assert stored(store_path).experiments() == []


def screen_text(app) -> list[str]:
    """The screen's rows joined where a long message wrapped onto the next one."""
    from tests.app.conftest import screen_lines

    lines = [line.strip(" │╭╮╰╯─▊▎") for line in screen_lines(app)]
    return [" ".join(lines)]


async def test_escape_asks_before_throwing_edits_away(make_app):
    app = make_app(open_configure=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n", "escape")  # nothing edited: closes at once
        assert isinstance(app.screen, MainScreen)
        await pilot.press("n")
        await _type(pilot, "seeds", "5")
        await pilot.press("escape")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep editing
        assert isinstance(app.screen, ConfigureScreen)
        assert app.screen.query_one("#f-seeds", Input).value == "5"
        await pilot.press("escape", "y")
        assert isinstance(app.screen, MainScreen)


async def test_n_on_an_experiment_starts_the_form_from_its_configuration(make_app, store_path):
    record(store_path, SMALL.replace(name="first", epochs=2))
    chosen = record(store_path, SMALL.replace(name="chosen", sizes="10,20,30", head="avgpool"))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.main.experiment_id == chosen
        await pilot.press("n")
        form = app.screen
        assert isinstance(form, ConfigureScreen)
        assert form.query_one("#f-name", Input).value == "chosen"
        assert form.query_one("#f-sizes", Input).value == "10,20,30"
        assert form.query_one("#f-head", Input).value == "avgpool"
        assert form.query_one("#f-epochs", Input).value == "3"
        assert text_of(form.query_one("#form-title", Static)).startswith(
            f"New experiment from #{chosen} chosen"
        )
        await _type(pilot, "name", "chosen-again")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        exp = stored(store_path).experiment(chosen + 1)
        assert (exp.name, exp.config["sizes"], exp.config["head"]) == (
            "chosen-again",
            [10, 20, 30],
            "avgpool",
        )


async def test_every_key_of_the_form_has_room_before_its_value(make_app):
    """The labels were 16 wide: `checkpoint_every` (16 characters) ran into its value."""
    app = make_app(SMALL, open_configure=False)
    async with app.run_test(size=(80, 200)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        lines = screen_lines(app)
        left = app.screen.query_one("#form").content_region.x
        for key in config_keys():
            field = app.screen.query_one(f"#f-{key}", Input)
            line = lines[field.region.y][left:]
            assert line.startswith(f"{key} "), line
            assert line[len(key) :].strip().startswith(field.value), line
            assert field.region.x - left > len(key)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            SMALL.replace(sizes="10", embeddings="learned", seeds=1, epochs=1),
            "1 run: 1 size × 1 arm × 1 seed, 1 epoch each",
        ),
        (
            SMALL.replace(sizes="10", seeds=2, epochs=3),
            "4 runs: 1 size × 2 arms × 2 seeds, 3 epochs each",
        ),
        (SMALL.replace(epochs=(1, 2)), "16 runs: 2 sizes × 4 arms × 2 seeds, 1/2 epochs each"),
    ],
)
async def test_the_run_count_says_one_size_one_arm_one_seed(make_app, config, expected):
    app = make_app(config, open_configure=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        status = text_of(app.screen.query_one("#form-status", Static))
        assert status == f"{expected}  ·  ctrl+s starts"


async def test_clearing_a_field_without_an_unset_state_says_so_under_it(make_app):
    """Clearing `cpus_per_run` closed the console with a TypeError; it is a number, so an
    empty field is the CLI's one-line message, and a cleared `gpus_per_run` is unset."""
    app = make_app(SMALL, open_configure=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        await _type(pilot, "cpus_per_run", "")
        hint = app.screen.query_one("#hint-cpus_per_run", Static)
        assert text_of(hint) == "✗ cpus_per_run = '': expected a number"
        assert hint.has_class("-invalid")
        await _type(pilot, "cpus_per_run", "2")
        await _type(pilot, "gpus_per_run", "")
        assert "✗" not in text_of(app.screen.query_one("#form-status", Static))


@pytest.mark.parametrize(
    ("key", "typed", "completed"), [("head", "av", "avgpool"), ("engine", "fu", "fused")]
)
async def test_a_key_with_declared_choices_completes_them(make_app, key, typed, completed):
    """Every key declared with choices is completed as typed (right arrow accepts), not
    only the three the form once listed by hand."""
    app = make_app(SMALL, open_configure=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await pilot.pause()
        await _type(pilot, key, typed)
        await pilot.press("right")
        await pilot.pause()
        assert app.screen.query_one(f"#f-{key}", Input).value == completed
