"""An Input whose own keys (ctrl+a, ctrl+k, escape, ...) act in the order they were typed.

Textual hands a printable key to the focused Input at once, but runs a non-printable key's
binding only after the key has bubbled up through every container to the app. In a burst
(`ctrl+a ctrl+k abc` sent by tmux, or typed fast over SSH) the letters were inserted
before ctrl+a and ctrl+k ran, which then deleted them: the field ended empty. Here the
Input's own bindings run as the key arrives, in order with the letters.

Text pasted into the field, inserted any other way or set as its value (a form prefilled
from a stored experiment, the rename prompt) holds its control and bidi characters as
visible escapes (`embtui.escape.terminal`): the field never draws a raw ESC sequence or
reverses its text, and the name or path rules then refuse the escape's backslash in one
line.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from embtui.escape import terminal


class FormInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        if not event.is_printable:
            for binding in self._bindings.key_to_bindings.get(event.key, []):
                if await self.app.run_action(binding.action, self):
                    event.stop()
                    event.prevent_default()
                    return
        await super()._on_key(event)

    def replace(self, text: str, start: int, end: int) -> None:
        # Escaped before it is inserted, so the cursor lands after the text as shown.
        super().replace(terminal(text), start, end)

    def validate_value(self, value: str) -> str:
        """Every value the field holds, however it was set, without raw escapes."""
        return terminal(value)
