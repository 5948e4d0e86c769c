"""The experiments in the store: id, name, status and runs done of all.

Moving the cursor here selects the experiment that the rest of the main screen shows.
"""

from __future__ import annotations

from embtui.app.view_state import ExperimentView
from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.errors import printable

COLUMNS = [
    ("id", header("id", right=True)),
    ("name", header("name")),
    ("status", header("status")),
    ("runs", header("runs", right=True)),
]


class ExperimentList(KeyedTable):
    def on_mount(self) -> None:
        self.set_columns(COLUMNS)

    def show(self, experiments: list[ExperimentView]) -> None:
        rows = []
        for e in experiments:
            running = e.row.status == "running"
            style = "bold" if running else ""
            status = ("▶ " if running else "") + e.row.status
            rows.append(
                (
                    str(e.row.id),
                    [
                        cell(e.row.id, right=True, style=style),
                        cell(printable(e.row.name), style=style),
                        cell(status, style=style),
                        cell(e.progress, right=True, style=style),
                    ],
                )
            )
        self.sync(rows)
