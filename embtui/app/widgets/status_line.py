"""One line at the bottom: what the console is doing, or what the shown experiment is.

Left: the training activity of the experiment on screen (loading TensorFlow, run k/N,
epoch e/E, stopping), or that experiment's own state when another one is training, or
the last problem. Right: the modes that change what the tables show (follow, filter,
sort), so a filtered table is never mistaken for the whole experiment.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from embtui.escape import terminal


class StatusLine(Widget):
    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
        &.-error {
            text-style: bold;
            color: $error;
        }
    }
    """

    text: reactive[str] = reactive("")
    """What the console is doing or showing (left)."""

    error: reactive[bool] = reactive(False)
    """Whether `text` reports a problem (drawn bold, in the error colour)."""

    flags: reactive[str] = reactive("")
    """The active modes, right-aligned: `follow`, `filter: glove`, `sort val_acc▼`."""

    def watch_error(self, error: bool) -> None:
        self.set_class(error, "-error")

    def render(self) -> Text:
        width = max(self.size.width, 1)
        flags = f"  {self.flags}" if self.flags else ""
        room = max(width - len(flags), 1)
        shown = terminal(self.text)  # names and paths: escapes, never control characters
        text = shown if len(shown) <= room else shown[: room - 1] + "…"
        line = Text(text)
        line.append(" " * max(room - len(text), 0))
        line.append(flags, style="bold")
        return line
