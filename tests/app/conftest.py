"""Fixtures for the console tests: a real SQLite store filled by the fake engine."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from embtui.app.app import EmbtuiApp
from tests.app.fake import FakeEngine
from embtui.config import ExperimentConfig
from embtui.store import Store

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


def record(path: Path, config: ExperimentConfig = SMALL, *, stop_after: int | None = None) -> int:
    """Train `config` with the fake engine straight into the store at `path`."""
    engine = FakeEngine()
    store = Store(path)
    try:
        prepared = engine.prepare(config, lambda e: None)
        exp_id = engine.create(store, prepared)
        stop = threading.Event()
        if stop_after is not None:
            engine.hold_after = stop_after
            threading.Timer(0.05, stop.set).start()
        engine.run(store, exp_id, prepared, lambda e: None, stop)
        return exp_id
    finally:
        store.close()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.sqlite"


@pytest.fixture
def make_app(store_path: Path, tmp_path: Path):
    def make(config: ExperimentConfig | None = None, engine: FakeEngine | None = None, **kw):
        return EmbtuiApp(
            store_path, config, tmp_path, engine=engine or FakeEngine(), poll_interval=0.2, **kw
        )

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


def text_of(static) -> str:
    return str(static.content)
