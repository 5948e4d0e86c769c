"""The comparison table of an experiment: sizes x arms, as in the Markdown export.

Per size the verdict of each pair of arms first (so it is in view at 80 columns), then
each arm's `mean ± half-width (n)`, then the pair, the difference (first minus second),
its 95% CI and p (Holm-adjusted when several tests). The better arm's cell carries a ★
when the difference is significant. On a narrow screen the last four columns are left out
until asked for (`all_columns`): the verdict already says which arm is better and at
which p.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.text import Text
from textual.reactive import reactive

from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable

if TYPE_CHECKING:
    from embtui.stats import Summary


@dataclass(frozen=True)
class SummaryState:
    summary: Summary | None = field(default=None, compare=False)
    summary_key: object = None  # what `summary` was built from: compared instead of it
    all_columns: bool = True


class SummaryTable(KeyedTable):
    DEFAULT_CSS = """
    SummaryTable {
        height: auto;
        max-height: 100%;
    }
    """

    state: reactive[SummaryState] = reactive(SummaryState, always_update=False)
    """The statistics to show, and whether to show every column."""

    def watch_state(self, state: SummaryState) -> None:
        if state.summary is not None and state.summary.groups:
            self._show(state.summary, state.all_columns)

    def _show(self, summary: Summary, all_columns: bool) -> None:
        from embtui.stats import format_p  # scipy: loaded on first use, not at startup

        arms = [a for a in summary.arms if any(g.arm == a for g in summary.groups)]
        pairs = len({(c.arm_a, c.arm_b) for c in summary.comparisons}) > 1
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
            comps = [c for c in summary.comparisons if c.size == size]
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
                verdict = (
                    c.verdict if not pairs or all_columns else f"{c.verdict} [{c.arm_a}–{c.arm_b}]"
                )
                line = [
                    cell(size if first else "", right=True),
                    cell(verdict, style="bold" if c.better else ""),
                    *(arm_cells if first else blank_arms),
                ]
                if all_columns:
                    ci = (
                        f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
                        if c.ci_low is not None and c.ci_high is not None
                        else None
                    )
                    p = format_p(c.p_holm, summary.alpha) if c.p_holm is not None else None
                    line += [
                        *([cell(f"{c.arm_a} − {c.arm_b}")] if pairs else []),
                        cell(f"{c.diff:+.3f}", right=True),
                        cell(ci, right=True),
                        cell(p, right=True),
                    ]
                rows.append((f"{size}:{c.arm_a}:{c.arm_b}", line))
        self.sync(rows)
