"""Keys in the order they were typed, even when they arrive together.

Over SSH, in tmux or from a fast typist, several keys reach the console at once. Textual
routes each key to the widget focused *when the key is read*, but a key that changes focus
or opens a screen (tab in a form, F2 for rename, `/` for the filter) does so only once the
focused widget has handled it and it has bubbled up to a binding; by then the keys after
it have already gone to the old widget. So `send-keys "0.001" Tab "2"` typed `0.0012`, and
`F2 End C-u name Enter` renamed to nothing.

`OrderedKeys` routes one key at a time: a key is passed on only once the one before it has
been handled all the way (the focused widget, each container up to its screen, any binding
it reached, and the mounting of any screen it opened). Each step is a callback queued
behind the key in that widget's own message queue, so nothing polls or sleeps; a key whose
handling takes longer than `KEY_TIMEOUT_S` (a widget removed mid-way) stops holding up the
next one.
"""

from __future__ import annotations

from collections import deque
from typing import Any, TypeVar

from textual import events
from textual.app import App
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer

#: The longest one key holds up the next (a safety net: handling takes microseconds).
KEY_TIMEOUT_S = 0.5

ReturnType = TypeVar("ReturnType")


class OrderedKeys(App[ReturnType]):
    """An App whose keys are handled one after another (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._keys_waiting: deque[events.Key | events.Paste] = deque()
        self._key_busy = 0  # a generation number: 0 when no key is in flight
        self._key_timer: Timer | None = None

    async def on_event(self, event: events.Event) -> None:
        # A paste is typing too: it waits behind the keys before it, as they do.
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            if self._key_busy:
                self._keys_waiting.append(event)
                return
            await self._route_key(event)
            return
        await super().on_event(event)

    async def _route_key(self, event: events.Key | events.Paste) -> None:
        generation = self._key_busy = self._key_busy % 1_000_000 + 1
        screen = self.screen
        target: DOMNode = self.focused or screen
        await super().on_event(event)  # priority bindings, else forwarded to `target`
        chain = [n for n in target.ancestors_with_self if not isinstance(n, App)]
        self._key_timer = self.set_timer(
            KEY_TIMEOUT_S, lambda: self.call_later(self._key_done, generation)
        )
        self._behind(chain, 0, screen, generation)

    def _behind(self, chain: list[DOMNode], i: int, screen: Screen[Any], generation: int) -> None:
        """Queue a callback behind the key in chain[i] (in that node's own task), which
        queues the next, up to the screen; then one in the app, behind any binding the key
        bubbled up to."""
        while i < len(chain):
            if chain[i].call_later(self._behind, chain, i + 1, screen, generation):
                return
            i += 1  # a node that has closed handles nothing more
        self.call_later(self._settled, screen, generation)

    def _settled(self, screen: Screen[Any], generation: int) -> None:
        """The key is handled; if it opened or closed a screen, wait for the one now on
        top to mount (and focus its field) before the next key is routed (in the app's
        task, where keys are routed)."""
        now = self.screen
        if now is not screen and now.call_later(self._settled, now, generation):
            return
        self.call_later(self._key_done, generation)

    async def _key_done(self, generation: int) -> None:
        if generation != self._key_busy:
            return  # already released (the timeout), or a later key's
        if self._key_timer is not None:
            self._key_timer.stop()
            self._key_timer = None
        self._key_busy = 0
        if self._keys_waiting:
            await self._route_key(self._keys_waiting.popleft())
