"""The experiments in the store: id, name, status and runs done of all.

Moving the cursor here selects the experiment that the rest of the main screen shows;
enter shows its configuration and environment.
"""

from __future__ import annotations

from textual.reactive import reactive

from embtui.app.view_state import ExperimentView
from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable

COLUMNS = [
    ("id", header("id", right=True)),
    ("name", header("name")),
    ("status", header("status")),
    ("runs", header("runs", right=True)),
]


class ExperimentList(KeyedTable):
    DEFAULT_CSS = """
    ExperimentList {
        border: round $panel;
        border-title-color: $text;
        &:focus {
            border: round $accent;
        }
    }
    """

    experiments: reactive[tuple[ExperimentView, ...]] = reactive(tuple, always_update=False)
    """Every experiment of the store, oldest first."""

    def on_mount(self) -> None:
        self.border_title = "experiments"
        self.set_columns(COLUMNS)

    def watch_experiments(self, experiments: tuple[ExperimentView, ...]) -> None:
        if not self.is_mounted:
            return
        self.set_columns(COLUMNS)
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
                        cell(e.name, style=style),
                        cell(status, style=style),
                        cell(e.progress, right=True, style=style),
                    ],
                )
            )
        self.sync(rows)
