"""Fixtures for the console tests: a real SQLite store filled by the fake engine (the real
runner with scripted trainers), and ways to look at the screen as the user sees it (its
text, a burst of keys as a terminal sends them)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from rich.console import Console
from textual import events

from embtui.app.app import EmbtuiApp
from embtui.config import ExperimentConfig
from embtui.engine.events import ignore
from embtui.store import Store
from tests.app.fake import FakeEngine

REPO = Path(__file__).resolve().parents[2]
IMDB_5K = REPO / ".." / "shared" / "data" / "imdb_reviews_5k.csv"

SMALL = ExperimentConfig(
    name="small",
    dataset="fake.csv",
    sizes=(10, 50),
    embeddings=("learned", "glove"),
    epochs=3,
    seeds=2,
    val_size=100,
)

#: The console's clock in tests: the message log shows this time, never the real one.
FIXED_TIME = datetime(2026, 12, 1, 9, 30, 0)


def fixed_clock() -> datetime:
    return FIXED_TIME


def record(path: Path, config: ExperimentConfig = SMALL, *, stop_after: int | None = None) -> int:
    """Train `config` with the fake engine straight into the store at `path`, as `embtui
    run` would in another shell; `stop_after`: stopped once that many epochs are trained
    (the epoch under way when the stop came is kept, the rest of the grid cancelled)."""
    engine = FakeEngine(hold_after=stop_after)
    with Store(path) as store:
        session = engine.new_session(store, config, ignore)
        session.train(ignore, _StopOnceHeld(engine))
        return session.experiment_id


class _StopOnceHeld:
    """A stop flag that is set once the engine parks at its `hold_after`: as a user who
    presses x just then."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def is_set(self) -> bool:
        return self.engine.held.is_set()


@pytest.fixture
def heavy_modules() -> frozenset[str]:
    """What a quick console test never imports (checked by the root conftest's
    `quick_tests_stay_light`): the fake engine trains through the real runner with scripted
    trainers, which need neither TensorFlow nor the fused kernel's compiler (tests marked
    slow train with the real engine)."""
    return frozenset({"tensorflow", "keras", "numba"})


_opened: list[Store] = []


def stored(path: Path) -> Store:
    """A connection to read the store in a test; closed when the test ends."""
    store = Store(path)
    _opened.append(store)
    return store


@pytest.fixture(autouse=True)
def _close_stored():
    yield
    while _opened:
        _opened.pop().close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture
def make_app(store_path: Path, tmp_path: Path) -> Callable[..., EmbtuiApp]:
    def make(
        config: ExperimentConfig | None = None, engine: FakeEngine | None = None, **kw: object
    ) -> EmbtuiApp:
        kw.setdefault("poll_interval", 0.2)
        kw.setdefault("clock", fixed_clock)
        return EmbtuiApp(store_path, config, tmp_path, engine=engine or FakeEngine(), **kw)  # type: ignore[arg-type]

    return make


async def settle(pilot) -> None:
    """Let workers finish and the main screen re-read the store (no fixed sleeps)."""
    app = pilot.app
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.main.refresh_data()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def until(
    pilot, condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Let the console run until `condition()` holds; fails after `timeout` seconds saying
    `what` it waited for. The console's own loop runs between checks (tests.helpers.wait_until
    is the same for a test outside the console, where blocking is fine)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"waiting for {what or 'the console'}: not within {timeout:g} s")
        await pilot.pause(0.05)


def text_of(static) -> str:
    return str(static.content)


def screen_lines(app) -> list[str]:
    """The screen as plain text, one string per row: what the user reads.

    Textual has no public call for the screen's text (`export_screenshot` gives SVG), so
    this renders the screen's compositor as `App.export_screenshot` itself does, into a
    plain-text console: the one place these tests read the compositor."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=None,
        record=True,
        legacy_windows=False,
    )
    console.print(
        app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    )
    return console.export_text().splitlines()


async def burst(pilot, *keys: str | events.Event) -> None:
    """Send keys (and events, e.g. `events.Paste`) the way a terminal does when they arrive
    together (tmux send-keys, a paste, fast typing over SSH): all queued before the console
    handles the first.

    The one helper that reaches the driver: `Pilot.press` waits for the console to go idle
    after each key, which is exactly what a burst does not do, and Textual has no public
    call that queues input as the driver does."""
    app = pilot.app
    for key in keys:
        if isinstance(key, str):
            key = events.Key(key, key if len(key) == 1 else None)
        event = key
        event.set_sender(app)
        app._driver.send_message(event)
    await pilot.pause()
    await pilot.pause()
