"""The comparison table of an experiment: sizes x arms, as in the Markdown export.

Per size, each arm's `mean ± half-width (n)`, then for each pair of arms the verdict (first,
so that it stays in view on a narrow terminal), the difference (first minus second), its
95% CI and p (Holm-adjusted when several tests). The better arm's cell carries a ★ when the
difference is significant.
"""

from __future__ import annotations

from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable


class SummaryTable(KeyedTable):
    def show(self, summary) -> None:
        from embtui.stats import format_p  # scipy: loaded on first use, not at startup

        arms = [a for a in summary.arms if any(g.arm == a for g in summary.groups)]
        columns = [("size", header("size", right=True))]
        columns += [(f"arm:{a}", header(a, right=True)) for a in arms]
        pairs = len({(c.arm_a, c.arm_b) for c in summary.comparisons}) > 1
        columns += [("verdict", header("verdict"))]
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
            if not comps:
                blanks = [cell(None)] * (len(columns) - 1 - len(arms))
                rows.append((f"{size}", [cell(size, right=True), *arm_cells, *blanks]))
            for i, c in enumerate(comps):
                lead = (
                    [cell(size, right=True), *arm_cells] if i == 0 else [cell("")] * (1 + len(arms))
                )
                ci = (
                    f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
                    if c.ci_low is not None and c.ci_high is not None
                    else None
                )
                p = format_p(c.p_holm, summary.alpha) if c.p_holm is not None else None
                rows.append(
                    (
                        f"{size}:{c.arm_a}:{c.arm_b}",
                        [
                            *lead,
                            cell(c.verdict, style="bold" if c.better else ""),
                            *([cell(f"{c.arm_a} − {c.arm_b}")] if pairs else []),
                            cell(f"{c.diff:+.3f}", right=True),
                            cell(ci, right=True),
                            cell(p, right=True),
                        ],
                    )
                )
        self.sync(rows)
