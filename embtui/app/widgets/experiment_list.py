"""The experiments in the store: id, status, runs done of all, and name.

The name comes last: in a narrow pane (80 columns) a long name is what gets cut, never the
`12/30` that says how far an experiment has come.

Moving the cursor here selects the experiment that the rest of the main screen shows;
enter shows its configuration and environment. `space` marks experiments (a ● before its
id) to compare as one pool with `c`; the title counts them.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from embtui.app.view_state import ExperimentView
from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable

COLUMNS = [
    ("id", header("id", right=True)),
    ("status", header("status")),
    ("runs", header("runs", right=True)),
    ("name", header("name")),
]


class ExperimentList(KeyedTable):
    DEFAULT_CSS = """
    ExperimentList {
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

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="mark-experiment",
            tooltip="Mark/unmark the experiment under the cursor: c compares the marked as one",
        ),
    ]

    class MarkToggled(Message):
        """The user marked or unmarked the experiment under the cursor."""

        def __init__(self, experiment_id: int) -> None:
            super().__init__()
            self.experiment_id = experiment_id

    experiments: reactive[tuple[ExperimentView, ...]] = reactive(tuple, always_update=False)
    """Every experiment of the store, oldest first."""

    marked: reactive[frozenset[int]] = reactive(frozenset, always_update=False)
    """The experiments marked to compare as one pool."""

    def on_mount(self) -> None:
        self.set_columns(COLUMNS)
        self._title()

    def _title(self) -> None:
        count = len(self.marked)
        self.border_title = f"experiments · {count} marked: c compares" if count else "experiments"

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.MarkToggled(int(key)))

    def watch_marked(self) -> None:
        self._title()
        self.watch_experiments(self.experiments)

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
                        cell(
                            f"{'● ' if e.row.id in self.marked else ''}{e.row.id}",
                            right=True,
                            style=style,
                        ),
                        cell(status, style=style),
                        cell(e.progress, right=True, style=style),
                        cell(e.name, style=style),
                    ],
                )
            )
        self.sync(rows)
