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
"""

from __future__ import annotations

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

        columns: list[tuple[str, Text]] = [("size", header("size", right=True))]
        columns += [("verdict", header("verdict")), ("best", header("best arm"))]
        columns += [("other", header("other arm"))]
        if all_columns:
            columns += [
                ("diff", header("best − other", right=True)),
                ("ci", header("95% CI", right=True)),
                ("p", header("p (Holm)" if v.n_tests > 1 else "p", right=True)),
            ]
        self.set_columns(columns)
        rows = []
        for s in v.sizes:
            if not s.comparisons:
                rest = [cell(None)] * (len(columns) - 3)
                rows.append((f"{s.size}", [cell(s.size, right=True), cell(s.statement), *rest]))
            for i, c in enumerate(s.comparisons):
                line = [
                    cell(s.size if i == 0 else "", right=True),
                    cell(c.text, style="bold" if c.better else ""),
                    cell(c.arm_a, style="bold" if c.better else ""),
                    cell(c.arm_b),
                ]
                if all_columns:
                    line += [
                        cell(fmt_diff(c.diff), right=True),
                        cell(fmt_ci(c.ci_low, c.ci_high), right=True),
                        cell(fmt_p(c.p_holm, v.alpha), right=True),
                    ]
                rows.append((f"{c.size}:{c.arm_a}:{c.arm_b}", line))
        self.sync(rows)

    def _show_pairs(self, summary: Summary, v: Verdicts, all_columns: bool) -> None:
        from embtui.report.verdicts import fmt_ci, fmt_diff, fmt_p

        arms = [a for a in summary.arms if any(g.arm == a for g in summary.groups)]
        if not self._means:
            arms = []
        pairs = len({(c.arm_a, c.arm_b) for c in v.rows}) > 1
        columns: list[tuple[str, Text]] = [("size", header("size", right=True))]
        columns += [("verdict", header("verdict"))]
        columns += [(f"arm:{a}", header(a, right=True)) for a in arms]
        if all_columns:
            columns += [("pair", header("pair"))] if pairs else []
            columns += [
                ("diff", header("difference", right=True)),
                ("ci", header("95% CI", right=True)),
                ("p", header("p (Holm)" if summary.adjusted else "p", right=True)),
            ]
        self.set_columns(columns)
        rows = []
        for size in summary.sizes:
            comps = v.at(size)
            better = {c.better for c in comps if c.better}
            arm_cells = []
            for a in arms:
                g = summary.group(size, a)
                text = g.label() if g else None
                if g and a in better:
                    text = f"★ {text}"
                arm_cells.append(cell(text, right=True, style="bold" if a in better else ""))
            blank_arms = [cell("")] * len(arms)
            if not comps:
                rest = [cell(None)] * (len(columns) - 2 - len(arms))
                rows.append((f"{size}", [cell(size, right=True), cell(None), *arm_cells, *rest]))
            for i, c in enumerate(comps):
                first = i == 0
                verdict = c.text if not pairs or all_columns else f"{c.text} [{c.arm_a}–{c.arm_b}]"
                line = [
                    cell(size if first else "", right=True),
                    cell(verdict, style="bold" if c.better else ""),
                    *(arm_cells if first else blank_arms),
                ]
                if all_columns:
                    line += [
                        *([cell(c.pair)] if pairs else []),
                        cell(fmt_diff(c.diff), right=True),
                        cell(fmt_ci(c.ci_low, c.ci_high), right=True),
                        cell(fmt_p(c.p_holm, summary.alpha), right=True),
                    ]
                rows.append((f"{size}:{c.arm_a}:{c.arm_b}", line))
        self.sync(rows)


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

        columns: list[tuple[str, Text]] = [("effect", header("effect"))]
        columns += [("verdict", header("verdict")), ("n", header("matched", right=True))]
        columns += [
            ("diff", header("difference", right=True)),
            ("ci", header("95% CI", right=True)),
            ("p", header("p (Holm)", right=True)),
        ]
        self.set_columns(columns)
        rows = []
        for e in v.effects:
            line = [
                cell(effect_name(e)),
                cell(e.verdict(), style="bold" if e.significant else ""),
                cell(e.n_pairs, right=True),
                cell(fmt_diff(e.diff), right=True),
                cell(fmt_ci(e.ci_low, e.ci_high), right=True),
                cell(fmt_p(e.p_holm, e.alpha), right=True),
            ]
            rows.append((f"{e.factor}:{e.level}", line))
        self.sync(rows)


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

        columns: list[tuple[str, Text]] = [("size", header("size", right=True))]
        columns += [("verdict", header("verdict"))]
        columns += [("a", header("arm a")), ("b", header("arm b"))]
        columns += [
            ("diff", header("a − b", right=True)),
            ("ci", header("95% CI", right=True)),
            ("p", header("p (Holm)" if summary.adjusted else "p", right=True)),
        ]
        self.set_columns(columns)
        rows = []
        for c in summary.comparisons:
            line = [
                cell(c.size, right=True),
                cell(c.verdict, style="bold" if c.better else ""),
                cell(c.arm_a),
                cell(c.arm_b),
                cell(fmt_diff(c.diff), right=True),
                cell(fmt_ci(c.ci_low, c.ci_high), right=True),
                cell(fmt_p(c.p_holm, summary.alpha), right=True),
            ]
            rows.append((f"{c.size}:{c.arm_a}:{c.arm_b}", line))
        self.sync(rows)
