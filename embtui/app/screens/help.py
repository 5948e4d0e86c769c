"""Every key of the screen underneath, with what it does: nothing to memorise.

The list is longer than an 80x24 terminal: it scrolls with j/k, the arrows and page keys.
"""

from __future__ import annotations

import textwrap
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static

from embtui.app.screens.panel import PanelScreen
from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable

KEY_NAMES = {"question_mark": "?", "space": "space", "escape": "escape", "enter": "enter"}


def describe_bindings(screen: Screen) -> list[tuple[str, str, str]]:
    """(key, name, what it does) for each binding active on `screen` and its focused widget.

    The console's own keys come first (the screen's, then the focused pane's, then the
    app's), and the generic ones every table has (arrows, page up/down) after them.
    """
    rows: list[tuple[tuple[int, int], tuple[str, str, str]]] = []
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        b = active.binding
        if b.system or not (b.description or b.tooltip):
            continue
        shown = b.key_display or screen.app.get_key_display(b) or KEY_NAMES.get(key, key)
        if (shown, b.description) in seen:
            continue
        seen.add((shown, b.description))
        node = active.node
        rank = 0 if node is screen else 2 if node is screen.app else 1
        rows.append(((0 if b.tooltip else 1, rank), (shown, b.description, b.tooltip)))
    return [row for _, row in sorted(rows, key=lambda r: r[0])]


class HelpScreen(PanelScreen[None]):
    DEFAULT_CSS = """
    HelpScreen #help {
        width: 100;
        max-width: 95%;
        height: 90%;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close", tooltip="Close the help"),
        Binding("question_mark", "dismiss", "Close", show=False, id="close-help"),
        Binding("q", "dismiss", "Close", show=False, id="close-q"),
    ]

    def __init__(self, of: Screen) -> None:
        super().__init__()
        self.rows = describe_bindings(of)
        self.of_name = type(of).__name__.removesuffix("Screen").lower() or "console"

    def compose(self) -> ComposeResult:
        with Vertical(id="help", classes="panel"):
            yield Static(
                f"Keys on the {self.of_name} screen  (j/k scroll · escape closes)",
                id="help-title",
                classes="panel-title",
            )
            yield KeyedTable(id="help-table")

    def on_mount(self) -> None:
        table = self.query_one(KeyedTable)
        table.set_columns([("key", header("key")), ("what", header("what it does"))])
        self._fill()
        self.call_after_refresh(self._fill)  # again, at the width the layout gave it
        table.focus()

    def on_resize(self) -> None:
        self._fill()

    def _fill(self) -> None:
        """One row per line: a description too long for the table's width goes on in the
        lines below its key (at 80 columns, several would be cut at the edge)."""
        table = self.query_one(KeyedTable)
        # Each cell is the text plus a leading space and a column's padding on both sides;
        # two columns for the scrollbar.
        key_width = max((len(k) for k, _, _ in self.rows), default=3) + 3
        room = table.scrollable_content_region.width or int(self.size.width * 0.95) - 4
        width = max(20, room - key_width - 3 - 2)
        lines = []
        for i, (k, name, what) in enumerate(self.rows):
            wrapped = textwrap.wrap(what or name, width) or [""]
            for j, text in enumerate(wrapped):
                key = cell(k, style="bold") if j == 0 else cell("")
                lines.append((f"{i}" if j == 0 else f"{i}.{j}", [key, cell(text)]))
        table.sync(lines)
