"""The message log (`l`): every message of this session, in full, newest last.

A toast is one or two lines and goes away; an error that closed nothing but was long (a
missing dataset and the ways around it, a failed run's exception) is read here whole.
`y` copies the highlighted message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from embtui.app.screens.panel import PanelScreen
from embtui.escape import terminal_lines

MARKS = {"information": " ", "warning": "!", "error": "✗"}


@dataclass(frozen=True)
class LogEntry:
    time: datetime
    severity: str  # information, warning, error
    text: str
    title: str | None = None

    @property
    def line(self) -> str:
        head = f"{self.title}: " if self.title else ""
        return f"{self.time:%H:%M:%S} {MARKS.get(self.severity, ' ')} {head}{self.text}"


class LogList(OptionList):
    """The entries; `copy_text` is what `y` copies: the highlighted message."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="log-down", tooltip="Next message"),
        Binding("k", "cursor_up", "Up", show=False, id="log-up", tooltip="Previous message"),
    ]

    def __init__(self, entries: list[LogEntry], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.entries = entries

    def copy_text(self) -> str | None:
        index = self.highlighted
        if index is None or not 0 <= index < len(self.entries):
            return None
        return self.entries[index].line


class MessageLogScreen(PanelScreen[None]):
    DEFAULT_CSS = """
    MessageLogScreen {
        #log {
            width: 100%;
            height: 100%;
        }
        LogList, LogList:focus {
            height: 1fr;
            border: none;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close", tooltip="Close the message log"),
        Binding("l", "dismiss", "Close", show=False, id="close-l"),
        Binding("q", "dismiss", "Close", show=False, id="close-q"),
        Binding(
            "y", "app.copy", "Copy", id="log-copy", tooltip="Copy the highlighted value (OSC 52)"
        ),
    ]

    def __init__(self, entries: list[LogEntry]) -> None:
        super().__init__()
        self.entries = entries  # the app's list: appended to while the log is open
        self._shown = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="log", classes="panel"):
            yield Static(
                "Messages of this session, in full  (j/k move · y copies · escape closes)",
                id="log-title",
                classes="panel-title",
            )
            yield LogList(self.entries, id="log-list")

    def on_mount(self) -> None:
        self._add_new()
        self.set_interval(0.5, self._add_new)
        self.query_one(LogList).focus()

    def _add_new(self) -> None:
        options = self.query_one(LogList)
        new = self.entries[self._shown :]
        if not new:
            if not self.entries and options.option_count == 0:
                options.add_option(Option("no messages yet", disabled=True))
            return
        if self._shown == 0 and options.option_count:
            options.clear_options()
        for entry in new:
            style = "bold red" if entry.severity == "error" else ""
            options.add_option(Option(Text(terminal_lines(entry.line), style=style)))
        self._shown = len(self.entries)
        options.highlighted = options.option_count - 1
