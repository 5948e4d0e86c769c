"""The runs of the selected experiment, one row per run or one per (size, arm) cell.

Columns: size, arm, seed, status, epoch k/N and the latest loss, acc, val_loss, val_acc,
plus the best val_acc so far. A running row is bold and marked ▶; a run marked for the
chart overlay (space) carries a ●. Grouped (g), a row holds every seed of a cell: the
statistics' mean ± 95% CI half-width of the final val_acc once the seeds have finished.
"""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.message import Message

from embtui.app.view_state import GroupView, RunView, group_runs
from embtui.app.widgets.cells import cell, header, num
from embtui.app.widgets.keyed_table import KeyedTable

RUN_COLUMNS = [
    ("mark", header(" ")),
    ("size", header("size", right=True)),
    ("arm", header("arm")),
    ("seed", header("seed", right=True)),
    ("status", header("status")),
    ("epoch", header("epoch", right=True)),
    ("loss", header("loss", right=True)),
    ("acc", header("acc", right=True)),
    ("val_loss", header("val_loss", right=True)),
    ("val_acc", header("val_acc", right=True)),
    ("best", header("best", right=True)),
]

GROUP_COLUMNS = [
    ("mark", header(" ")),
    ("size", header("size", right=True)),
    ("arm", header("arm")),
    ("n", header("n", right=True)),
    ("status", header("status")),
    ("val_acc", header("final val_acc (mean ± CI, n)", right=True)),
    ("best", header("best (mean)", right=True)),
]


def _marker(running: bool, marked: bool) -> str:
    return ("▶" if running else " ") + ("●" if marked else "")


class RunsTable(KeyedTable):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Focus run",
            show=False,
            id="focus-run",
            tooltip="Show the run under the cursor in the epoch table and charts",
        ),
        Binding(
            "space",
            "toggle_mark",
            "Mark",
            id="mark",
            tooltip="Mark/unmark the run under the cursor for the charts' overlay",
        ),
    ]

    class MarkToggled(Message):
        """The user marked or unmarked the runs of the row under the cursor."""

        def __init__(self, run_ids: list[int]) -> None:
            super().__init__()
            self.run_ids = run_ids

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.grouped = False
        self.row_runs: dict[str, list[int]] = {}

    def show(
        self,
        runs: list[RunView],
        marked: set[int],
        grouped: bool = False,
        summary: object | None = None,
    ) -> None:
        self.grouped = grouped
        if grouped:
            self.set_columns(GROUP_COLUMNS)
            groups = group_runs(runs)
            self.row_runs = {g.key: [r.id for r in g.runs] for g in groups}
            self.sync([(g.key, self._group_cells(g, marked, summary)) for g in groups])
        else:
            self.set_columns(RUN_COLUMNS)
            self.row_runs = {str(r.id): [r.id] for r in runs}
            self.sync([(str(r.id), self._run_cells(r, marked)) for r in runs])

    def runs_under_cursor(self) -> list[int]:
        key = self.current_key
        return list(self.row_runs.get(key, [])) if key is not None else []

    def action_toggle_mark(self) -> None:
        ids = self.runs_under_cursor()
        if ids:
            self.post_message(self.MarkToggled(ids))

    @staticmethod
    def _run_cells(r: RunView, marked: set[int]) -> list:
        running = r.run.status == "running"
        style = "bold" if running else ""
        last = r.latest
        return [
            cell(_marker(running, r.id in marked), style=style),
            cell(r.run.size, right=True, style=style),
            cell(r.run.embedding, style=style),
            cell(r.run.seed, right=True, style=style),
            cell(r.run.status, style="bold reverse" if running else ""),
            cell(f"{len(r.epochs)}/{r.total_epochs}", right=True, style=style),
            num(last.loss if last else None, style=style),
            num(last.acc if last else None, style=style),
            num(last.val_loss if last else None, style=style),
            num(last.val_acc if last else None, style=style),
            num(r.best_val_acc, style=style),
        ]

    @staticmethod
    def _group_cells(g: GroupView, marked: set[int], summary: object | None) -> list:
        style = "bold" if g.running else ""
        all_marked = all(r.id in marked for r in g.runs)
        stats = summary.group(g.size, g.arm) if summary is not None else None
        finished = [r.latest.val_acc for r in g.runs if r.run.status == "done" and r.latest]
        if stats is not None:
            value = stats.label()
        elif finished:
            value = f"{sum(finished) / len(finished):.3f} ({len(finished)})"
        else:
            value = None
        bests = [r.best_val_acc for r in g.runs if r.best_val_acc is not None]
        return [
            cell(_marker(g.running, all_marked), style=style),
            cell(g.size, right=True, style=style),
            cell(g.arm, style=style),
            cell(len(g.runs), right=True, style=style),
            cell(g.status, style=style),
            cell(value, right=True, style=style),
            num(sum(bests) / len(bests) if bests else None, style=style),
        ]
