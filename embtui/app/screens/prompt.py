"""Ask for one line of text (a new name), checked as it is typed.

`check` returns the one-line message the CLI would print for a bad value (or None); the
dialog shows it under the field and enter does nothing until the value is good.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from embtui.app.widgets.form_input import FormInput
from embtui.escape import rich_text


class PromptScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    PromptScreen {
        align: center middle;
        #prompt {
            width: 72;
            max-width: 95%;
            height: auto;
            padding: 0 1;
            border: round $accent;
            background: $surface;
        }
        #prompt-title {
            text-style: bold;
        }
        #prompt-error {
            height: auto;
            color: $error;
            text-style: bold;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Back", id="back", tooltip="Back without a change"),
    ]

    def __init__(self, title: str, value: str, check: Callable[[str], str | None]) -> None:
        super().__init__()
        self.title_text = title
        self.value = value
        self.check = check

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(
                rich_text(f"{self.title_text}  (enter saves · escape back)"), id="prompt-title"
            )
            yield FormInput(self.value, id="prompt-input", compact=True)
            yield Static("", id="prompt-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one("#prompt-error", Static).update(rich_text(self.check(event.value) or ""))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        problem = self.check(event.value)
        if problem:
            self.query_one("#prompt-error", Static).update(rich_text(problem))
            return
        self.dismiss(event.value)
