"""A DataTable that is updated in place from (row key, cells) lists.

The console redraws its tables from the store a few times a second. Clearing and refilling
a DataTable would move the cursor and post highlight events for rows the user never chose;
updating changed cells in place (and appending new rows) keeps the cursor where the user
left it and redraws only what changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

Row = tuple[str, Sequence[Text]]


def _signature(cells: Sequence[Text]) -> tuple:
    return tuple((c.plain, str(c.style), c.justify) for c in cells)


class KeyedTable(DataTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="down", tooltip="Move down a row"),
        Binding("k", "cursor_up", "Up", show=False, id="up", tooltip="Move up a row"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", cell_padding=0, **kwargs)
        self._columns_sig: tuple = ()
        self._rows: dict[str, tuple] = {}
        self._order: list[str] = []

    def set_columns(self, columns: Sequence[tuple[str, Text]]) -> None:
        """(column key, label) pairs; changing them rebuilds the table."""
        sig = tuple((key, label.plain) for key, label in columns)
        if sig == self._columns_sig:
            return
        self.clear(columns=True)
        self._rows, self._order = {}, []
        for key, label in columns:
            self.add_column(label, key=key)
        self._columns_sig = sig

    @property
    def row_keys(self) -> list[str]:
        return list(self._order)

    @property
    def current_key(self) -> str | None:
        """The key of the row under the cursor, or None for an empty table."""
        if not self._order or not 0 <= self.cursor_row < len(self._order):
            return None
        return self._order[self.cursor_row]

    def cells(self, key: str) -> list[str]:
        """The plain text of a row's cells (for tests and the help screen)."""
        return [str(c).strip() for c in self.get_row(key)]

    def sync(self, rows: Sequence[Row]) -> None:
        keys = [k for k, _ in rows]
        columns = [c.key.value for c in self.ordered_columns]
        if keys[: len(self._order)] == self._order:
            for key, cells in rows:
                sig = _signature(cells)
                if key not in self._rows:
                    self.add_row(*cells, key=key)
                elif self._rows[key] != sig:
                    old = self._rows[key]
                    for i, (col, value) in enumerate(zip(columns, cells, strict=False)):
                        if i >= len(old) or old[i] != sig[i]:
                            self.update_cell(key, col, value, update_width=True)
                self._rows[key] = sig
            self._order = keys
            return
        current = self.current_key
        self.clear()
        self._rows = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._rows[key] = _signature(cells)
        self._order = keys
        if current in keys:
            self.move_cursor(row=keys.index(current), animate=False)

    def move_to_key(self, key: str) -> None:
        if key in self._order:
            self.move_cursor(row=self._order.index(key), animate=False)
