"""One line at the bottom: what the console is doing (loading TensorFlow, training run
k/N, stopping) or the last problem, so a long silent step is never a mystery."""

from __future__ import annotations

from textual.widgets import Static


class StatusLine(Static):
    text = ""

    def set(self, text: str, *, error: bool = False) -> None:
        if text == self.text and self.has_class("-error") == error:
            return  # unchanged: no redraw
        self.text = text
        self.set_class(error, "-error")
        self.update(text)
