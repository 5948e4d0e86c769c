"""The filter line (`/`): type words to keep only the runs that match, as you type.

`glove` keeps runs with "glove" in any column; `status:fail` those whose status contains
"fail"; `size=100` those of size exactly 100. enter keeps the filter and goes back to the
runs; escape clears it.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

from embtui.app.widgets.form_input import FormInput


class FilterBar(FormInput):
    DEFAULT_CSS = """
    FilterBar {
        dock: bottom;
        display: none;
        &.-shown {
            display: block;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "clear", "Clear filter", id="filter-clear", tooltip="Clear the filter"),
    ]

    class Closed(Message):
        """The user left the filter line (enter keeps the filter, escape cleared it)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            placeholder="filter runs: glove  status:failed  size=100  (enter keeps, escape clears)",
            compact=True,
            **kwargs,  # type: ignore[arg-type]
        )

    def open(self) -> None:
        self.add_class("-shown")
        self.focus()

    def action_clear(self) -> None:
        self.value = ""
        self.remove_class("-shown")
        self.post_message(self.Closed())

    async def action_submit(self) -> None:
        await super().action_submit()
        self.remove_class("-shown")
        self.post_message(self.Closed())
