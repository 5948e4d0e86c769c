"""The store watcher: tells the console's screens when the run store may hold something new.

The store is the single source of truth, and any process may write to it: the console's
own training worker, `embtui run` in another shell, a user's `fit` with `EmbtuiCallback`.
The watcher notices them on a thread of its own (as Toolong's file watcher does), with a
connection of its own, so the UI thread never waits on SQLite to find out:

* every `poll_interval` it reads `Store.data_version()`, which changes whenever another
  connection commits;
* on the same poll it applies `embtui list`'s liveness rule (`Store.recover`: a dead,
  zombie or reused pid, a stale heartbeat), so an `embtui run` killed elsewhere shows
  `interrupted` within a poll or two; it posts `OwnersChecked` with the experiments it
  marked;
* `changed()` says the console's own training has just reported (an epoch, a finished run).

Whatever it noticed, it posts one `StoreChanged` at most every `refresh_s` (two redraws a
second while training, never a redraw storm over SSH), to its target (the main screen, which
owns it) and to every screen subscribed meanwhile (the compare screen, while it is open): the
store is watched in one place, however many screens follow it. A screen reads the store
when one arrives; those still waiting while the screen is busy (a 10,000-run grid takes a while to
draw) replace each other (`StoreChanged.can_replace`), so a backlog costs one read, never a
queue of them.

Failures follow the console's rule (`embtui.app.workers`): a poll that fails is posted as
`JobFailed("owners", error)`, which the app reports (once: the poll runs every second); the
watcher keeps polling, and the console stays.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from embtui.app.messages import OwnersChecked, StoreChanged
from embtui.app.workers import JobFailed
from embtui.errors import EmbtuiError
from embtui.store import Store

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

#: At most two redraws a second while training.
REFRESH_S = 0.5


class StoreWatcher:
    """Watches the store at `path` for `target` (the main screen), which it posts to, and
    for the screens subscribed to it, which receive its `StoreChanged` too.

    Args:
        path: the run store.
        target: what receives `StoreChanged`, `OwnersChecked` and `JobFailed`.
        poll_interval: seconds between two looks at the store (and its owners).
        refresh_s: the least time between two `StoreChanged`.

    Example:
        watcher = StoreWatcher(store.path, screen, poll_interval=1.0)
        watcher.start()      # when the screen is mounted
        watcher.changed()    # the console's training worker reported
        watcher.subscribe(compare)    # a screen shown over it follows the store too...
        watcher.unsubscribe(compare)  # ...until it goes
        watcher.stop()       # when the screen goes: the watcher's connection is closed
    """

    def __init__(
        self,
        path: str | Path,
        target: MessagePump,
        *,
        poll_interval: float = 1.0,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self.path = Path(path)
        self.target = target
        self.poll_interval = poll_interval
        self.refresh_s = refresh_s
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._subscribers: list[MessagePump] = []
        self._subscribers_lock = threading.Lock()  # read on the watcher's thread
        # Opened by `start`, then used on the watcher's thread only:
        self._store: Store | None = None
        self._version: int | None = None

    def start(self) -> None:
        """Start watching. What the store holds now is taken as seen (the screen reads it
        once its first frame is drawn), so only later commits are said; then the thread
        starts, carrying the caller's context as a Textual worker does, so its messages
        reach the running app."""
        self._stopped.clear()
        with contextlib.suppress(Exception):  # the first poll tries again, and reports it
            self._open()
        context = contextvars.copy_context()
        self._thread = threading.Thread(
            target=context.run, args=(self._run,), name="embtui-store-watcher", daemon=True
        )
        self._thread.start()

    def changed(self) -> None:
        """The store has changed (the console's own worker wrote to it): say so at the next
        beat. Thread-safe."""
        self._changed.set()

    def subscribe(self, screen: MessagePump) -> None:
        """Post `StoreChanged` to `screen` as well as to the target, until it unsubscribes
        (a screen subscribes when mounted, and unsubscribes when it goes). Thread-safe."""
        with self._subscribers_lock:
            if screen not in self._subscribers:
                self._subscribers.append(screen)

    def unsubscribe(self, screen: MessagePump) -> None:
        """Post nothing more to `screen` (nothing if it was not subscribed). Thread-safe."""
        with self._subscribers_lock:
            if screen in self._subscribers:
                self._subscribers.remove(screen)

    @property
    def subscribers(self) -> tuple[MessagePump, ...]:
        """The screens following the store besides the target."""
        with self._subscribers_lock:
            return tuple(self._subscribers)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop watching; returns once the watcher's connection is closed (or `timeout`
        has passed, with the thread caught in a slow poll)."""
        self._stopped.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- the watcher's thread ---------------------------------------------------------

    def _run(self) -> None:
        beat = min(self.refresh_s, self.poll_interval)
        next_poll = time.monotonic() + self.poll_interval
        last_post = float("-inf")
        try:
            while not self._stopped.wait(beat):
                now = time.monotonic()
                if now >= next_poll:
                    next_poll = now + self.poll_interval
                    try:
                        self._poll()
                    except Exception as error:  # reported by the app; the next poll tries again
                        self.target.post_message(JobFailed("owners", error))
                if self._changed.is_set() and now - last_post >= self.refresh_s:
                    self._changed.clear()
                    last_post = now
                    for screen in (self.target, *self.subscribers):
                        screen.post_message(StoreChanged())  # one each: a message has one home
        finally:
            if self._store is not None:
                self._store.close()
                self._store = None

    def _open(self) -> None:
        try:
            store = Store(self.path, create=False, migrate=False)
        except EmbtuiError:
            return  # not a store this embtui reads: the screen says so; the polls try again
        try:
            self._version = store.data_version()
        except BaseException:
            store.close()
            raise
        self._store = store

    def _poll(self) -> None:
        if self._store is None:
            self._open()
            if self._store is None:
                return
            self._changed.set()  # readable only now: whatever it holds is news
        version = self._store.data_version()
        if version != self._version:
            self._version = version
            self._changed.set()
        try:
            recovered = self._store.recover()
        except EmbtuiError:
            recovered = []
        if recovered:
            self.target.post_message(OwnersChecked(recovered))
