"""The store watcher (embtui.app.store_watcher) on a real SQLite store: it sees another
connection's commits, and what it posts while the screen is busy is read once, not queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from textual.app import App, ComposeResult
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Static

from embtui.app.messages import StoreChanged
from embtui.app.store_watcher import StoreWatcher
from tests.app.conftest import record, stored, until


class Watched(Screen[None]):
    """A screen with a watcher, as the main screen has one: it counts the `StoreChanged`
    posted to it (from the watcher's thread) and those it handled."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.watcher = StoreWatcher(path, self, poll_interval=0.05, refresh_s=0.05)
        self.posted = 0
        self.handled = 0

    def compose(self) -> ComposeResult:
        yield Static("watching")

    def on_mount(self) -> None:
        self.watcher.start()

    def on_unmount(self) -> None:
        self.watcher.stop()

    def post_message(self, message: Message) -> bool:
        if isinstance(message, StoreChanged):
            self.posted += 1
        return super().post_message(message)

    def on_store_changed(self, message: StoreChanged) -> None:
        self.handled += 1


class WatchingApp(App[None]):
    def __init__(self, screen: Watched) -> None:
        super().__init__()
        self.watched = screen

    def on_mount(self) -> None:
        self.push_screen(self.watched)


def busy_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Hold the event loop (a screen busy drawing) until `condition()` holds: nothing the
    watcher posts meanwhile is handled."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the watcher posted nothing"
        time.sleep(0.01)


async def test_changes_posted_while_the_screen_is_busy_are_read_once(store_path):
    exp_id = record(store_path)
    other = stored(store_path)  # as `embtui run` in another shell
    screen = Watched(store_path)
    async with WatchingApp(screen).run_test() as pilot:
        await pilot.pause(0.3)  # six polls
        assert (screen.posted, screen.handled) == (0, 0)  # nothing new, nothing said

        # Three commits, each seen and posted while the screen cannot handle anything.
        for i in range(3):
            other.rename_experiment(exp_id, f"renamed {i}")
            before = screen.posted
            busy_until(lambda before=before: screen.posted > before)
        assert (screen.posted, screen.handled) == (3, 0)

        # Free again: the three waiting messages replace each other, and one read follows.
        await until(pilot, lambda: screen.handled >= 1)
        await pilot.pause(0.2)
        assert screen.handled == 1

        # Still watching: the next commit is read too.
        other.rename_experiment(exp_id, "later")
        await until(pilot, lambda: screen.handled == 2)
        assert screen.posted == 4
    screen.watcher.stop()  # already stopped with the screen: its connection is closed


async def test_a_burst_of_the_consoles_own_writes_is_said_once(store_path):
    """`changed()` (the app's training worker reported an epoch) twenty times at once: one
    `StoreChanged`, as a burst of epochs costs one redraw."""
    record(store_path)
    screen = Watched(store_path)
    screen.watcher.refresh_s = 0.3
    async with WatchingApp(screen).run_test() as pilot:
        for _ in range(20):
            screen.watcher.changed()
        await until(pilot, lambda: screen.handled == 1)
        await pilot.pause(0.5)  # past the next beat: nothing more to say
        assert (screen.posted, screen.handled) == (1, 1)
