"""A DataTable that is updated in place from (row key, cells) lists.

The console redraws its tables from the store a few times a second. Clearing and refilling
a DataTable would move the cursor and post highlight events for rows the user never chose;
updating changed cells in place (and appending new rows) keeps the cursor where the user
left it and redraws only what changed.

Two more things every table of the console needs:

* whether the *user* moved the cursor (keys or a click) as opposed to the program: the
  runs table follows the live run only until the user moves (`UserMoved`);
* a cursor that reads without colour: on a 16-colour terminal (TERM=screen) the cursor
  row's and the header's backgrounds become the same colour, so the cursor is also bold
  and underlined, and the header is not.

A row cursor never scrolls the table sideways: a table wider than its pane keeps the
column the user scrolled to while rows change under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, ColumnKey, RowKey

Row = tuple[str, Sequence[Text]]
_Signature = tuple[tuple[str, str, str | None], ...]


def _signature(cells: Sequence[Text]) -> _Signature:
    return tuple((c.plain, str(c.style), c.justify) for c in cells)


class KeyedTable(DataTable[Any]):
    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
        & > .datatable--header {
            text-style: bold;
        }
        & > .datatable--cursor {
            text-style: bold underline;
        }
        &:focus > .datatable--cursor {
            text-style: bold underline;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="down", tooltip="Move down a row"),
        Binding("k", "cursor_up", "Up", show=False, id="up", tooltip="Move up a row"),
    ]

    class UserMoved(Message):
        """The user moved this table's cursor (a key or a click), not the program."""

        def __init__(self, table: KeyedTable) -> None:
            super().__init__()
            self.table = table

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", cell_padding=0, **kwargs)
        self._columns_sig: tuple[tuple[str, str], ...] = ()
        self._rows: dict[str, _Signature] = {}
        self._order: list[str] = []
        self._cursor_key: str | None = None  # where the cursor goes once rows are back
        self._scroll_pending = False  # bring the cursor into view once rows are measured

    def set_columns(self, columns: Sequence[tuple[str, Text]]) -> None:
        """(column key, label) pairs; changing them rebuilds the table."""
        sig = tuple((key, label.plain) for key, label in columns)
        if sig == self._columns_sig:
            return
        same_keys = [k for k, _ in sig] == [k for k, _ in self._columns_sig]
        if same_keys and all(
            len(a) == len(b) for (_, a), (_, b) in zip(sig, self._columns_sig, strict=True)
        ):
            # Only a label changed, not its width (a sort marker): relabel in place, so the
            # rows, the cursor and the scroll position stay.
            for key, label in columns:
                self.columns[ColumnKey(key)].label = label
            self._columns_sig = sig
            self._clear_caches()
            self.refresh()
            return
        scroll_x = self.scroll_x
        # The rows come back with the next `sync`: the cursor goes back to the row it was
        # on then, not to the first (the cursor never moves under the user).
        self._cursor_key = self.current_key
        self.clear(columns=True)
        self._rows, self._order = {}, []
        for key, label in columns:
            self.add_column(label, key=key)
        self._columns_sig = sig
        self._keep_scroll_x(scroll_x)

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

    def copy_text(self) -> str | None:
        """What `y` copies: the row under the cursor, its cells separated by tabs."""
        key = self.current_key
        if key is None:
            return None
        return "\t".join(c for c in self.cells(key) if c)

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
                            self.update_cell(key, col or "", value, update_width=True)
                self._rows[key] = sig
            self._order = keys
            self._restore_cursor()
            return
        current, scroll_x = self.current_key, self.scroll_x
        self.clear()
        self._rows = {}
        for key, cells in rows:
            self.add_row(*cells, key=key)
            self._rows[key] = _signature(cells)
        self._order = keys
        if current in keys:
            self.move_cursor(row=keys.index(current), animate=False)
        self._keep_scroll_x(scroll_x)
        self._cursor_key = None

    def _restore_cursor(self) -> None:
        """After `set_columns` rebuilt the table: the cursor back on the row it was on."""
        key, self._cursor_key = self._cursor_key, None
        if key is not None and key in self._order and self.current_key != key:
            self.move_cursor(row=self._order.index(key), animate=False)

    def _keep_scroll_x(self, scroll_x: float) -> None:
        """After a rebuild: the columns the user had scrolled to stay in view."""
        if scroll_x:
            self.call_after_refresh(self.scroll_to, x=scroll_x, animate=False)

    # -- column widths --------------------------------------------------------------------

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        widths = self._column_widths()
        super()._update_dimensions(new_rows)
        self._forget_stale_rows(widths)
        self._scroll_if_pending()

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        widths = self._column_widths()
        super()._update_column_widths(updated_cells)
        self._forget_stale_rows(widths)

    def on_resize(self) -> None:
        # A table laid out anew (the first frame, a smaller terminal) keeps its cursor row
        # in view.
        self._scroll_pending = self._scroll_pending or bool(self._order)
        self._scroll_if_pending()

    def _scroll_if_pending(self) -> None:
        """The cursor into view, once its rows are measured and the table has a size."""
        if self._scroll_pending and self.size.height and not self._require_update_dimensions:
            self._scroll_pending = False
            self._scroll_cursor_into_view()

    def _column_widths(self) -> list[int]:
        return [c.content_width for c in self.ordered_columns]

    def _forget_stale_rows(self, widths: list[int]) -> None:
        """DataTable measures new rows when idle, after it may have drawn them at the old
        widths (a rebuilt table's: its labels'), and keeps those lines cached: a switched
        experiment's runs showed `10 lea 0 done` until focus moved. Widths that changed
        throw the cached lines away."""
        if self._column_widths() != widths:
            self._clear_caches()
            self.refresh()

    def move_to_key(self, key: str) -> None:
        if key in self._order:
            self.move_cursor(row=self._order.index(key), animate=False)
            # Rows just added are measured when idle: until then the table has no height
            # to scroll (the newest of three experiments stayed below a 2-row list), so
            # the cursor is brought into view again once they are.
            self._scroll_pending = True

    # -- telling the user's moves from the program's ------------------------------------

    def _user_moved(self) -> None:
        self.post_message(self.UserMoved(self))

    def action_cursor_up(self) -> None:
        self._user_moved()
        super().action_cursor_up()

    def action_cursor_down(self) -> None:
        self._user_moved()
        super().action_cursor_down()

    def action_page_up(self) -> None:
        self._user_moved()
        super().action_page_up()

    def action_page_down(self) -> None:
        self._user_moved()
        super().action_page_down()

    def action_scroll_top(self) -> None:
        self._user_moved()
        super().action_scroll_top()

    def action_scroll_bottom(self) -> None:
        self._user_moved()
        super().action_scroll_bottom()

    async def _on_click(self, event: events.Click) -> None:
        # Textual then calls DataTable._on_click itself (handlers run along the MRO).
        if event.style.meta.get("row", -1) >= 0:
            self._user_moved()

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        """Bring the cursor row into view vertically, never sideways (see the module doc)."""
        if self.cursor_type != "row":
            super()._scroll_cursor_into_view(animate)
            return
        spacing = self._get_fixed_offset()
        _, y, _, height = self._get_row_region(self.cursor_row)
        region = Region(int(self.scroll_x) + spacing.left, y, 1, height)
        self.scroll_to_region(region, animate=animate, spacing=spacing, force=True)


class PaneTable(KeyedTable):
    """A `KeyedTable` that is a pane of its own on the main screen (the experiments, the
    runs): a rounded border in the panel colour with its title in the text colour, the
    accent colour while it has focus, its title then a label in that colour (a
    background shade alone is invisible on most terminals). Tables inside a pane or a
    dialog stay `KeyedTable`s."""

    DEFAULT_CSS = """
    PaneTable {
        border: round $panel;
        border-title-color: $text;
        &:focus {
            border: round $accent;
            /* Focused: the title as an accent-coloured label, seen in 16 and 256 colours. */
            border-title-background: $accent;
            border-title-color: $background;
            border-title-style: bold;
        }
    }
    """
