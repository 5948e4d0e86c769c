"""The screens the snapshot tests and the README's screenshots show, built one way.

Each scene is a store filled by the fake engine (fixed numbers, fixed ids, no clocks on
screen: the message log's clock is fixed too) and the keys that bring the console to the
screen. The system pane (shown at 120 columns) draws a recorded machine (`RecordedProbe`),
never this one's live CPU and RAM, and each scene waits until it has drawn all of it.
`tests/app/test_snapshots.py` compares them with the committed SVGs; the README's
images in assets/screenshots/ are copies of those SVGs, checked to be identical, and
refreshed with

    pytest tests/app/test_snapshots.py --snapshot-update && python -m tests.app.scenes
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from embtui.app.app import EmbtuiApp
from embtui.app.widgets.system_pane import SystemPane
from embtui.config import ExperimentConfig
from tests.app.conftest import SMALL, fixed_clock, record, settle, until
from tests.app.fake import FakeEngine, RecordedProbe

HERE = Path(__file__).resolve().parent
SNAPSHOTS = HERE / "__snapshots__" / "test_snapshots"
SCREENSHOTS = HERE.parents[1] / "assets" / "screenshots"

GRID = ExperimentConfig(
    name="imdb-sample",
    dataset="reviews.csv",
    sizes=(100, 500, 2000),
    embeddings=("learned", "glove"),
    seeds=3,
    epochs=10,
    val_size=1000,
)
DIVERGED = SMALL.replace(name="sgd-1e6", optimizer="sgd", learning_rate=1e6, sizes="10", seeds=1)
OFFLINE = (
    "keras-imdb: could not download the IMDB dataset (offline?); use dataset = a Keras "
    "imdb.npz, a CSV/TSV file or an aclImdb folder"
)


def fill(store: Path) -> None:
    """A diverged experiment, then a finished 3-size grid (the one on screen)."""
    record(store, DIVERGED)
    record(store, GRID)


async def _recorded(pilot: Pilot) -> None:
    """Settled, with the system pane (where shown) drawing the whole recording."""
    await settle(pilot)
    pane = pilot.app.main.query_one(SystemPane)  # type: ignore[attr-defined]
    if pane.display:
        await until(pilot, lambda: pane.probe is not None and pane.probe.done)
        await settle(pilot)


async def _quiet(pilot: Pilot) -> None:
    """Nothing that moves: no blinking cursor, no toast."""
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.pause()


async def main_screen(pilot: Pilot) -> None:
    await _recorded(pilot)
    await pilot.press("j", "j", "j", "space", "j", "j", "j")  # one run marked for overlay
    await _quiet(pilot)


async def compare_screen(pilot: Pilot) -> None:
    await _recorded(pilot)
    await pilot.press("c")
    await settle(pilot)
    await _quiet(pilot)


async def configure_screen(pilot: Pilot) -> None:
    await _recorded(pilot)
    await pilot.press("n")  # new from the selected experiment
    await _quiet(pilot)


async def help_screen(pilot: Pilot) -> None:
    await _recorded(pilot)
    await pilot.press("question_mark")
    await _quiet(pilot)


async def log_screen(pilot: Pilot) -> None:
    await _recorded(pilot)
    await pilot.press("n", "ctrl+s")  # keras-imdb offline: the form shows why, in full
    await _recorded(pilot)
    await pilot.press("escape", "x", "y", "ctrl+l")  # nothing to cancel; copy a row
    await _quiet(pilot)


@dataclass(frozen=True)
class Scene:
    name: str
    run_before: Callable[[Pilot], Awaitable[None]]
    engine: Callable[[], FakeEngine] = FakeEngine


SCENES = {
    "main": Scene("main", main_screen),
    "compare": Scene("compare", compare_screen),
    "configure": Scene("configure", configure_screen),
    "help": Scene("help", help_screen),
    "log": Scene("log", log_screen, lambda: FakeEngine(fail_prepare=OFFLINE)),
}
SIZES = ((80, 24), (120, 40))


def app_for(scene: Scene, folder: Path) -> EmbtuiApp:
    store = folder / "runs.sqlite"
    fill(store)
    return EmbtuiApp(
        store,
        None,
        folder,
        engine=scene.engine(),
        clock=fixed_clock,
        probe=RecordedProbe,
        sample_every_s=0.05,
    )


def snapshot_file(name: str, size: tuple[int, int]) -> Path:
    return SNAPSHOTS / f"test_snapshot[{name}-{size[0]}x{size[1]}].svg"


def screenshot_file(name: str, size: tuple[int, int]) -> Path:
    return SCREENSHOTS / f"{name}-{size[0]}x{size[1]}.svg"


#: The README's images: (scene, size).
README = (("main", (120, 40)), ("main", (80, 24)), ("compare", (120, 40)))
README += (("configure", (120, 40)), ("log", (80, 24)))


def copy_screenshots() -> list[Path]:
    """Copy the committed snapshots the README shows into assets/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    written = []
    for name, size in README:
        target = screenshot_file(name, size)
        shutil.copyfile(snapshot_file(name, size), target)
        written.append(target)
    return written


if __name__ == "__main__":
    for path in copy_screenshots():
        print(f"wrote {path}")
