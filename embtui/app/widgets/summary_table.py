"""The tables of the compare screen: the verdicts, a sweep's main effects, and a sweep's every
pair of arms (an appendix), all from `embtui.report.verdicts` as every export renders them.

`SummaryTable` shows the verdicts. With two arms, per size: the verdict first (so it is in
view at 80 columns), each arm's `mean ± half-width (n)`, then the difference (first minus
second), its 95% CI and p (Holm-adjusted when several tests); the better arm's cell carries a
★ when the difference is significant. In a sweep, per size and other arm: the verdict, the
size's best arm, the other arm, then best minus other, its CI and p. On a narrow screen the
difference, CI and p columns are left out until asked for (`all_columns`): the verdict
already says which arm is better and at which p. Arm names are never cut: a table wider
than its pane scrolls sideways.

`EffectsTable` shows a sweep's main effects; `PairsTable` every pair of arms at every size,
a Holm family of its own.

Each table says only what its columns (`Column`: key, label, side) and rows (a key and one
value per column) are; `show_rows` draws them all one way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive

from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable

if TYPE_CHECKING:
    from embtui.report.verdicts import Verdicts
    from embtui.stats import Summary


@dataclass(frozen=True)
class SummaryState:
    summary: Summary | None = field(default=None, compare=False)
    summary_key: object = None  # what `summary` was built from: compared instead of it
    all_columns: bool = True
    verdicts: Verdicts | None = field(default=None, compare=False)  # built with `summary`
    #: Each arm's mean (two arms). On a narrow screen (80 columns) `w` shows the difference,
    #: CI and p in their place: both would not fit, and a table cut at the edge shows neither.
    means: bool = True


@dataclass(frozen=True)
class Column:
    """A column of a report table: its key (what a row's cells are read back by), its
    label, and whether its cells keep to the right (numbers do)."""

    key: str
    label: str
    right: bool = False


@dataclass(frozen=True)
class Cell:
    """A cell that says more than its value: a style, or a side other than its column's."""

    value: object
    style: str = ""
    right: bool | None = None  # None: its column's side


def bold(value: object, when: object = True) -> Cell:
    """`value` in bold where `when` holds (the better arm, a significant effect)."""
    return Cell(value, "bold" if when else "")


#: No comparison at a size: a dash at the cell's left, whatever its column's side.
NOTHING = Cell(None, right=False)

#: A table row: its key, then one value per column (a `Cell`, or a value shown on its
#: column's side; `None` is a dash). A row shorter than the columns leaves the rest empty.
Row = tuple[str, Sequence[object]]


def _cell(value: object, column: Column) -> Text:
    if isinstance(value, Cell):
        right = column.right if value.right is None else value.right
        return cell(value.value, right=right, style=value.style)
    return cell(value, right=column.right)


class _ReportTable(KeyedTable):
    state: reactive[SummaryState] = reactive(SummaryState, always_update=False)
    """The statistics and their verdicts to show, and whether to show every column."""

    def watch_state(self, state: SummaryState) -> None:
        if state.summary is not None and state.summary.groups and state.verdicts is not None:
            self._means = state.means
            self._show(state.summary, state.verdicts, state.all_columns)

    _means = True

    def _show(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        raise NotImplementedError

    def show_rows(self, columns: Sequence[Column], rows: Iterable[Row]) -> None:
        """Show `rows` under `columns`: the one way every report table is drawn (headers
        and cells on their column's side, keyed rows updated in place)."""
        self.set_columns([(c.key, header(c.label, right=c.right)) for c in columns])
        self.sync(
            [
                (key, [_cell(value, c) for c, value in zip(columns, values, strict=False)])
                for key, values in rows
            ]
        )


class SummaryTable(_ReportTable):
    DEFAULT_CSS = """
    SummaryTable {
        height: auto;
        max-height: 100%;
    }
    """

    def _show(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        if v.sweep:
            self._show_best(v, all_columns)
        else:
            self._show_pairs(summary, v, all_columns)

    def _show_best(self, v: Verdicts, all_columns: bool) -> None:
        from embtui.report.verdicts import fmt_ci, fmt_diff, fmt_p

        columns = [Column("size", "size", right=True), Column("verdict", "verdict")]
        columns += [Column("best", "best arm"), Column("other", "other arm")]
        if all_columns:
            columns += [
                Column("diff", "best − other", right=True),
                Column("ci", "95% CI", right=True),
                Column("p", "p (Holm)" if v.n_tests > 1 else "p", right=True),
            ]
        rows: list[Row] = []
        for s in v.sizes:
            if not s.comparisons:
                rows.append((f"{s.size}", [s.size, s.statement, *[NOTHING] * (len(columns) - 2)]))
            for i, c in enumerate(s.comparisons):
                line = [
                    s.size if i == 0 else "",
                    bold(c.text, c.better),
                    bold(c.arm_a, c.better),
                    c.arm_b,
                ]
                if all_columns:
                    line += [
                        fmt_diff(c.diff),
                        fmt_ci(c.ci_low, c.ci_high),
                        fmt_p(c.p_holm, v.alpha),
                    ]
                rows.append((f"{c.size}:{c.arm_a}:{c.arm_b}", line))
        self.show_rows(columns, rows)

    def _show_pairs(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        from embtui.report.verdicts import fmt_ci, fmt_diff, fmt_p

        arms = [a for a in summary.arms if any(g.arm == a for g in summary.groups)]
        if not self._means:
            arms = []
        pairs = len({(c.arm_a, c.arm_b) for c in v.rows}) > 1
        columns = [Column("size", "size", right=True), Column("verdict", "verdict")]
        columns += [Column(f"arm:{a}", a, right=True) for a in arms]
        if all_columns:
            columns += [Column("pair", "pair")] if pairs else []
            columns += [
                Column("diff", "difference", right=True),
                Column("ci", "95% CI", right=True),
                Column("p", "p (Holm)" if summary.adjusted else "p", right=True),
            ]
        rows: list[Row] = []
        for size in summary.sizes:
            comps = v.at(size)
            better = {c.better for c in comps if c.better}
            arm_cells = []
            for a in arms:
                g = summary.group(size, a)
                text = g.label() if g else None
                if g and a in better:
                    text = f"★ {text}"
                arm_cells.append(bold(text, a in better))
            blank_arms = [Cell("", right=False)] * len(arms)
            if not comps:
                rest = [NOTHING] * (len(columns) - 2 - len(arms))
                rows.append((f"{size}", [size, None, *arm_cells, *rest]))
            for i, c in enumerate(comps):
                first = i == 0
                verdict = c.text if not pairs or all_columns else f"{c.text} [{c.arm_a}–{c.arm_b}]"
                line = [size if first else "", bold(verdict, c.better)]
                line += arm_cells if first else blank_arms
                if all_columns:
                    line += [c.pair] if pairs else []
                    line += [fmt_diff(c.diff), fmt_ci(c.ci_low, c.ci_high)]
                    line += [fmt_p(c.p_holm, summary.alpha)]
                rows.append((f"{size}:{c.arm_a}:{c.arm_b}", line))
        self.show_rows(columns, rows)


class EffectsTable(_ReportTable):
    """A sweep's main effects: each factor's value against its first, over matched runs."""

    DEFAULT_CSS = """
    EffectsTable {
        height: auto;
        max-height: 100%;
    }
    """

    def _show(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        from embtui.report.verdicts import effect_name, fmt_ci, fmt_diff, fmt_p

        columns = [
            Column("effect", "effect"),
            Column("verdict", "verdict"),
            Column("n", "matched", right=True),
            Column("diff", "difference", right=True),
            Column("ci", "95% CI", right=True),
            Column("p", "p (Holm)", right=True),
        ]
        rows: list[Row] = [
            (
                f"{e.factor}:{e.level}",
                [
                    effect_name(e),
                    bold(e.verdict(), e.significant),
                    e.n_pairs,
                    fmt_diff(e.diff),
                    fmt_ci(e.ci_low, e.ci_high),
                    fmt_p(e.p_holm, e.alpha),
                ],
            )
            for e in v.effects
        ]
        self.show_rows(columns, rows)


class PairsTable(_ReportTable):
    """Every pair of arms at every size: a sweep's appendix, a Holm family of its own."""

    DEFAULT_CSS = """
    PairsTable {
        height: auto;
        max-height: 100%;
    }
    """

    def _show(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        from embtui.report.verdicts import fmt_ci, fmt_diff, fmt_p

        columns = [
            Column("size", "size", right=True),
            Column("verdict", "verdict"),
            Column("a", "arm a"),
            Column("b", "arm b"),
            Column("diff", "a − b", right=True),
            Column("ci", "95% CI", right=True),
            Column("p", "p (Holm)" if summary.adjusted else "p", right=True),
        ]
        rows: list[Row] = [
            (
                f"{c.size}:{c.arm_a}:{c.arm_b}",
                [
                    c.size,
                    bold(c.verdict, c.better),
                    c.arm_a,
                    c.arm_b,
                    fmt_diff(c.diff),
                    fmt_ci(c.ci_low, c.ci_high),
                    fmt_p(c.p_holm, summary.alpha),
                ],
            )
            for c in summary.comparisons
        ]
        self.show_rows(columns, rows)
