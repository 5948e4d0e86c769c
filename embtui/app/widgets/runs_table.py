"""The runs of the selected experiment, one row per run or one per (size, arm) cell, or
one per (size, value of one factor) cell pooling the runs over the other factors.

Columns: size, arm, seed, status (a failed run's with its reason: `failed: NaN`), epoch
k/N and the latest loss, acc, val_loss, val_acc, plus the best val_acc so far. A running
row is bold and marked ▶; a run marked for the chart overlay (space) carries a ●. Grouped
(g, which cycles: by arm, by each factor, off), a row holds every run of a cell: the
statistics' mean ± 95% CI half-width of the final val_acc once the runs have finished.
The sorted column's header carries ▲ or ▼.
`$` shows what each run cost instead of its metrics: wall time, peak RSS, peak GPU memory
and mean GPU utilisation (a cell's: mean time, highest peaks, mean utilisation).

What to show comes in one value, `state` (`RunsState`): the table redraws when it
changes, and only the cells that changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from embtui.app.view_state import GroupView, RunView, group_runs
from embtui.app.widgets.cells import cell, header, num
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.display import format_seconds
from embtui.sysmetrics import format_bytes

if TYPE_CHECKING:
    from embtui.stats import Summary

RUN_COLUMNS = [
    ("mark", " ", False),
    ("size", "size", True),
    ("arm", "arm", False),
    ("seed", "seed", True),
    ("status", "status", False),
    ("epoch", "epoch", True),
    ("loss", "loss", True),
    ("acc", "acc", True),
    ("val_loss", "val_loss", True),
    ("val_acc", "val_acc", True),
    ("best", "best", True),
]

#: What each run cost, instead of its metrics (`$`): wall time, peak resident memory of its
#: process, peak GPU memory (from TensorFlow) and its GPU's mean utilisation.
COST_COLUMNS = [
    *RUN_COLUMNS[:5],
    ("wall_s", "time", True),
    ("peak_rss", "peak RSS", True),
    ("peak_gpu_mem", "GPU mem", True),
    ("mean_gpu_util", "GPU %", True),
]

#: A cell's runs are counted once, by status (`2 done`, `1 done, 1 running`): an `n`
#: column beside it read `2 2 done`.
GROUP_COLUMNS = [
    ("mark", " ", False),
    ("size", "size", True),
    ("arm", "arm", False),
    ("status", "runs", False),
    ("val_acc", "final val_acc (mean ± CI, n)", True),
    ("best", "best (mean)", True),
]

#: A cell's costs: its runs' mean wall time, highest peaks and mean GPU utilisation.
GROUP_COST_COLUMNS = [
    *GROUP_COLUMNS[:4],
    ("wall_s", "time (mean)", True),
    ("peak_rss", "peak RSS", True),
    ("peak_gpu_mem", "GPU mem", True),
    ("mean_gpu_util", "GPU %", True),
]


@dataclass(frozen=True)
class Sort:
    column: str
    descending: bool = False

    @property
    def arrow(self) -> str:
        return "▼" if self.descending else "▲"


@dataclass(frozen=True)
class RunsState:
    """Everything the runs table shows, in the order to show it."""

    runs: tuple[RunView, ...] = ()
    groups: tuple[GroupView, ...] = ()
    grouped: bool = False
    costs: bool = False  # what the runs cost instead of their metrics
    marked: frozenset[int] = frozenset()
    sort: Sort | None = None
    summary: Summary | None = field(default=None, compare=False)
    summary_key: object = None  # what `summary` was built from: compared instead of it
    group_by: str = "arm"  # grouped: "arm" or the factor whose values the cells pool over


def _columns(spec: list[tuple[str, str, bool]], sort: Sort | None) -> list[tuple[str, Text]]:
    out = []
    for key, label, right in spec:
        text = header(label, right=right)
        if sort is not None and sort.column == key:
            text = Text(sort.arrow + label, justify=text.justify)  # the leading space's place
        out.append((key, text))
    return out


#: The columns left out first when a table does not fit its pane (a sweep's long arm names
#: at 80 columns): training accuracy, then the best val_acc, then the training loss.
DROP_FIRST = ("acc", "best", "loss", "val_loss")


def _marker(running: bool, marked: bool) -> str:
    return ("▶" if running else " ") + ("●" if marked else "")


class RunsTable(KeyedTable):
    DEFAULT_CSS = """
    RunsTable {
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
            "enter",
            "select_cursor",
            "Epochs",
            show=False,
            id="focus-run",
            tooltip="Go to the epochs of the run under the cursor",
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

    state: reactive[RunsState] = reactive(RunsState, always_update=False)
    """The runs (or groups) to show, the marks, the sort."""

    all_columns: reactive[bool] = reactive(False)
    """Show every column, scrolling sideways, rather than leave out what does not fit."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.row_runs: dict[str, list[int]] = {}
        self.hidden: tuple[str, ...] = ()  # columns left out for want of room

    def watch_state(self) -> None:
        self._show()

    def watch_all_columns(self) -> None:
        self._show()

    def on_resize(self) -> None:
        self._show()

    def _show(self) -> None:
        state = self.state
        before, before_runs = self.current_key, set(self.runs_under_cursor())
        if state.grouped:
            spec = GROUP_COST_COLUMNS if state.costs else GROUP_COLUMNS
            if state.group_by != "arm":  # the factor's values head their column
                spec = [(k, state.group_by if k == "arm" else v, r) for k, v, r in spec]
            self.row_runs = {g.key: [r.id for r in g.runs] for g in state.groups}
            rows = [
                (g.key, self._group_cells(g, state.marked, state.summary, costs=state.costs))
                for g in state.groups
            ]
        else:
            spec = COST_COLUMNS if state.costs else RUN_COLUMNS
            self.row_runs = {str(r.id): [r.id] for r in state.runs}
            rows = [
                (str(r.id), self._run_cells(r, state.marked, costs=state.costs)) for r in state.runs
            ]
        keys = [key for key, _, _ in spec]
        widths = {
            key: max([len(label) + 1, *(cells[i].cell_len for _, cells in rows)])
            for i, (key, label, _) in enumerate(spec)
        }
        room = self.size.width - 2  # the vertical scrollbar
        hidden: list[str] = []
        if not self.all_columns and room > 0:
            for key in DROP_FIRST:
                if sum(w for k, w in widths.items() if k not in hidden) <= room:
                    break
                if key in keys:
                    hidden.append(key)
        self.hidden = tuple(hidden)
        shown = [i for i, key in enumerate(keys) if key not in hidden]
        self.set_columns(_columns([spec[i] for i in shown], state.sort))
        self.sync([(key, [cells[i] for i in shown]) for key, cells in rows])
        if before is not None and before not in self.row_runs:
            # Grouped or not, the rows are others now: the cursor goes to the row that
            # holds the run(s) it was on (a run's group, a group's first run).
            now = next((k for k, ids in self.row_runs.items() if before_runs & set(ids)), None)
            if now is not None:
                self.move_to_key(now)

    def runs_under_cursor(self) -> list[int]:
        key = self.current_key
        return list(self.row_runs.get(key, [])) if key is not None else []

    def key_of_run(self, run_id: int) -> str | None:
        return next((k for k, ids in self.row_runs.items() if run_id in ids), None)

    def action_toggle_mark(self) -> None:
        ids = self.runs_under_cursor()
        if ids:
            self.post_message(self.MarkToggled(ids))

    @staticmethod
    def _run_cells(r: RunView, marked: frozenset[int], *, costs: bool = False) -> list[Text]:
        style = "bold" if r.running else ""
        last = r.latest
        first = [
            cell(_marker(r.running, r.id in marked), style=style),
            cell(r.run.size, right=True, style=style),
            cell(r.arm, style=style),
            cell(r.run.seed, right=True, style=style),
            cell(r.status_text, style="bold reverse" if r.running else style),
        ]
        if costs:
            run = r.run
            return first + _cost_cells(
                run.wall_s, run.peak_rss, run.peak_gpu_mem, run.mean_gpu_util, style
            )
        return [
            *first,
            cell(f"{len(r.epochs)}/{r.total_epochs}", right=True, style=style),
            num(last.loss if last else None, style=style),
            num(last.acc if last else None, style=style),
            num(last.val_loss if last else None, style=style),
            num(last.val_acc if last else None, style=style),
            num(r.best_val_acc, style=style),
        ]

    @staticmethod
    def _group_cells(
        g: GroupView, marked: frozenset[int], summary: Summary | None, *, costs: bool = False
    ) -> list[Text]:
        style = "bold" if g.running else ""
        all_marked = all(r.id in marked for r in g.runs)
        if costs:
            runs = [r.run for r in g.runs]
            return [
                cell(_marker(g.running, all_marked), style=style),
                cell(g.size, right=True, style=style),
                cell(g.arm, style=style),
                cell(g.status, style=style),
                *_cost_cells(
                    _mean([r.wall_s for r in runs]),
                    max((v for r in runs if (v := r.peak_rss) is not None), default=None),
                    max((v for r in runs if (v := r.peak_gpu_mem) is not None), default=None),
                    _mean([r.mean_gpu_util for r in runs]),
                    style,
                ),
            ]
        stats = summary.group(g.size, g.arm) if summary is not None else None
        finished = g.finals
        if stats is not None:
            value: str | None = stats.label()
        elif finished:
            value = f"{sum(finished) / len(finished):.3f} ({len(finished)})"
        else:
            value = None
        bests = [b for r in g.runs if (b := r.best_val_acc) is not None]
        return [
            cell(_marker(g.running, all_marked), style=style),
            cell(g.size, right=True, style=style),
            cell(g.arm, style=style),
            cell(g.status, style=style),
            cell(value, right=True, style=style),
            num(sum(bests) / len(bests) if bests else None, style=style),
        ]


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _cost_cells(
    wall_s: float | None,
    peak_rss: float | None,
    peak_gpu_mem: float | None,
    gpu_util: float | None,
    style: str,
) -> list[Text]:
    """Time as `4m05s`, memory as `874 MB` (nvidia-smi's units), utilisation as `87%`."""
    return [
        cell(format_seconds(wall_s), right=True, style=style),
        cell(format_bytes(peak_rss), right=True, style=style),
        cell(format_bytes(peak_gpu_mem), right=True, style=style),
        cell("–" if gpu_util is None else f"{gpu_util:.0f}%", right=True, style=style),
    ]


def build_state(
    runs: list[RunView],
    *,
    group_by: str | None,
    marked: set[int],
    sort: Sort | None,
    summary: Summary | None,
    summary_key: object,
    costs: bool = False,
) -> RunsState:
    """The rows in display order: filtered runs (already), grouped (`group_by`: "arm", a
    factor, None), then sorted. Grouped by a factor, the statistics of its pooled cells
    come from `summary`'s own rule (`stats.summarize`), once `summary` (by arm) is there."""
    from embtui.app.view_state import sort_rows

    if group_by is not None:
        groups = group_runs(runs, group_by)
        if group_by != "arm" and summary is not None:
            from embtui.stats import summarize  # imported already: `summary` is built

            summary = summarize(
                [(g.size, g.arm, v) for g in groups for v in g.finals],
                metric=summary.metric,
                alpha=summary.alpha,
            )
        if sort is not None:
            column = sort.column
            groups = sort_rows(groups, lambda g: g.sort_value(column), sort.descending)
        return RunsState(
            (),
            tuple(groups),
            True,
            costs,
            frozenset(marked),
            sort,
            summary,
            summary_key,
            group_by,
        )
    if sort is not None:
        column = sort.column
        runs = sort_rows(runs, lambda r: r.sort_value(column), sort.descending)
    return RunsState(tuple(runs), (), False, costs, frozenset(marked), sort, summary, summary_key)
