"""A yes/no question that must be answered before something irreversible (cancel, quit,
delete, throwing edits away)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from embtui.escape import terminal_lines


class ConfirmScreen(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmScreen {
        align: center middle;
        #dialog {
            width: 64;
            max-width: 95%;
            height: auto;
            padding: 1 2;
            border: thick $error;
            background: $surface;
        }
        #answers {
            height: auto;
            margin-top: 1;
        }
        #answers Button {
            margin-right: 2;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="yes", tooltip="Yes, go ahead"),
        Binding("n", "answer(False)", "No", id="no", tooltip="No, leave things as they are"),
        Binding("escape", "answer(False)", "No", id="back", tooltip="No (same as n)"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            # The question names an experiment: its lines as plain text, never markup.
            yield Static(Text(terminal_lines(self.question)), id="question")
            with Horizontal(id="answers"):
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
