"""The epoch pane: one row per finished epoch of the run under the runs table's cursor,
and under them why that run failed or stopped.

The table keeps its last epoch in view: a run that is still training appends a row per
epoch and the table scrolls with it (unless the user moved up to read an earlier one),
and a run that was switched to shows its last epoch, so at 80x24 epoch 10 of 10 is on
screen without a key pressed.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from embtui.app.view_state import RunView
from embtui.app.widgets.cells import cell, header, num
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.escape import rich_text

COLUMNS = [
    ("epoch", header("ep", right=True)),
    ("loss", header("loss", right=True)),
    ("acc", header("acc", right=True)),
    ("val_loss", header("val_loss", right=True)),
    ("val_acc", header("val_acc", right=True)),
    ("seconds", header("s", right=True)),
]


class EpochTable(KeyedTable):
    run: reactive[RunView | None] = reactive(None, always_update=False)
    """The run whose epochs are shown (None: no run)."""

    @property
    def run_id(self) -> int | None:
        return self.run.id if self.run is not None else None

    def watch_run(self, old: RunView | None, run: RunView | None) -> None:
        self.set_columns(COLUMNS)
        switched = (old.id if old else None) != (run.id if run else None)
        if switched:
            self.sync([])
        at_end = self.cursor_row >= self.row_count - 1
        epochs = run.epochs if run is not None else ()
        self.sync(
            [
                (
                    str(e.epoch),
                    [
                        cell(e.epoch, right=True),
                        num(e.loss),
                        num(e.acc),
                        num(e.val_loss, width=8),
                        num(e.val_acc),
                        num(e.seconds, digits=2, width=5),
                    ],
                )
                for e in epochs
            ]
        )
        if (at_end or switched) and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)


class EpochPane(Vertical):
    DEFAULT_CSS = """
    EpochPane {
        border: round $panel;
        border-title-color: $text;
        height: 1fr;
        &:focus-within {
            border: round $accent;
            /* Focused: the title as an accent-coloured label, seen in 16 and 256 colours. */
            border-title-background: $accent;
            border-title-color: $background;
            border-title-style: bold;
        }
        EpochTable {
            height: 1fr;
        }
        #epoch-note {
            height: auto;
            max-height: 3;
            padding: 0 1;
            display: none;
        }
        #epoch-note.-shown {
            display: block;
        }
        #epoch-note.-failed {
            color: $error;
            text-style: bold;
        }
    }
    """

    run: reactive[RunView | None] = reactive(None, always_update=False)
    """The run shown: its epochs in the table, its failure (or stop) under them."""

    def compose(self) -> ComposeResult:
        yield EpochTable(id="epochs").data_bind(EpochPane.run)
        yield Static("", id="epoch-note")

    def watch_run(self, run: RunView | None) -> None:
        self.border_title = rich_text(f"epochs · {run.label}" if run is not None else "epochs")
        if not self.is_mounted:
            return
        note = self.query_one("#epoch-note", Static)
        text = run.note if run is not None else None
        note.update(rich_text(text or ""))  # an error quotes names and paths: never markup
        note.set_class(bool(text), "-shown")
        note.set_class(run is not None and run.run.status == "failed", "-failed")
