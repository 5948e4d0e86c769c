"""One row per finished epoch of the focused run, appended as epochs finish."""

from __future__ import annotations

from embtui.app.view_state import RunView
from embtui.app.widgets.cells import cell, header, num
from embtui.app.widgets.keyed_table import KeyedTable

COLUMNS = [
    ("epoch", header("ep", right=True)),
    ("loss", header("loss", right=True)),
    ("acc", header("acc", right=True)),
    ("val_loss", header("val_loss", right=True)),
    ("val_acc", header("val_acc", right=True)),
    ("seconds", header("s", right=True)),
]


class EpochTable(KeyedTable):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.run_id: int | None = None

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)
        self.border_title = "epochs"

    def show(self, run: RunView | None) -> None:
        if run is None:
            self.run_id = None
            self.border_title = "epochs"
            self.sync([])
            return
        switched = run.id != self.run_id
        self.run_id = run.id
        self.border_title = f"epochs · {run.label}"
        if switched:
            self.sync([])
        at_end = self.cursor_row >= self.row_count - 1
        self.sync(
            [
                (
                    str(e.epoch),
                    [
                        cell(e.epoch, right=True),
                        num(e.loss),
                        num(e.acc),
                        num(e.val_loss),
                        num(e.val_acc),
                        num(e.seconds, digits=2),
                    ],
                )
                for e in run.epochs
            ]
        )
        if at_end and self.row_count:
            self.move_cursor(row=self.row_count - 1, animate=False)
