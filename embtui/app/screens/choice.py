"""Pick one of a few options (an export format, a sort column) with the keys.

Under the list, a line (or a few) says what the highlighted option will do (`describe`):
for an export, the path it will write and the CLI command that prints it instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from embtui.escape import rich_text


class ChoiceScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ChoiceScreen {
        align: center middle;
        #choice {
            width: 76;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            padding: 0 1;
            border: round $accent;
            background: $surface;
        }
        #choice-title {
            text-style: bold;
        }
        OptionList {
            height: auto;
            max-height: 12;
            border: none;
        }
        #choice-note {
            height: auto;
            color: $text-muted;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Back", id="back", tooltip="Back without choosing"),
        Binding("j", "down", "Down", show=False, id="choice-down", tooltip="Next option"),
        Binding("k", "up", "Up", show=False, id="choice-up", tooltip="Previous option"),
    ]

    def __init__(
        self,
        title: str,
        options: Sequence[tuple[str, str]],
        *,
        highlighted: str | None = None,
        describe: Callable[[str], str] | None = None,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.options = list(options)
        self.initial = highlighted
        self.describe = describe

    def compose(self) -> ComposeResult:
        with Vertical(id="choice"):
            yield Static(
                rich_text(f"{self.title_text}  (enter chooses · escape back)"), id="choice-title"
            )
            yield OptionList(*(Option(label, id=key) for key, label in self.options))
            yield Static("", id="choice-note")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        keys = [k for k, _ in self.options]
        options.highlighted = keys.index(self.initial) if self.initial in keys else 0
        options.focus()
        self._describe(keys[options.highlighted or 0])

    @property
    def highlighted(self) -> str | None:
        options = self.query_one(OptionList)
        index = options.highlighted
        return self.options[index][0] if index is not None else None

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id is not None:
            self._describe(event.option_id)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option_id)

    def _describe(self, key: str) -> None:
        if self.describe is not None:
            # One line per line the description has, each escaped (a path is the user's).
            lines = self.describe(key).split("\n")
            note = Text("\n").join(rich_text(line) for line in lines)
            self.query_one("#choice-note", Static).update(note)

    def action_down(self) -> None:
        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one(OptionList).action_cursor_up()
