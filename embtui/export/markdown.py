"""The human-readable export: a Markdown comparison summary of one experiment.

It leads with the comparison a reader came for (each size's arms with their uncertainty and
a verdict that says "no significant difference" when that is the truth), then the learning
curve, the conclusion, the per-run appendix, the configuration and the environment.
"""

from __future__ import annotations

from embtui.errors import printable
from embtui.export.curve import learning_curve_text
from embtui.export.report import Report
from embtui.metrics import METRIC_TITLES
from embtui.stats import format_p
from embtui.sysmetrics import format_bytes


def to_markdown(report: Report) -> str:
    exp = report.experiment
    s = report.summary
    meta = exp.meta
    out: list[str] = [f"# embtui experiment {exp.id}: {printable(exp.name)}", ""]
    counts: dict[str, int] = {}
    for r in report.runs:
        counts[r.run.status] = counts.get(r.run.status, 0) + 1
    status_text = ", ".join(f"{n} {status}" for status, n in counts.items())
    out.append(f"- Status: **{exp.status}** ({len(report.runs)} runs: {status_text})")
    out.append(f"- Created: {exp.created}" + (f", finished {exp.finished}" if exp.finished else ""))
    if meta.get("data"):
        out.append(f"- Data: {meta['data']}")
    if s.chance is not None:
        out.append(f"- Chance level (validation majority class): {s.chance:.3f}")
    if meta.get("glove"):
        out.append(
            f"- GloVe: {meta['glove']} ({meta.get('glove_dim')}-d), vocabulary coverage "
            f"{meta.get('glove_coverage', 0):.1%}"
        )
    out.append("")

    out += _results(report)
    out += _means_table(report)
    if s.groups:
        out += [
            "## Learning curve",
            "",
            f"{METRIC_TITLES[s.metric]} against training-set size (mean, 95% CI).",
            "",
            "```text",
            learning_curve_text(s).rstrip("\n"),
            "```",
            "",
        ]
    out += ["## Conclusion", "", s.conclusion(), ""]
    out += _runs(report)
    out += ["## Configuration", "", "| key | value |", "| --- | --- |"]
    for key, value in exp.config.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        out.append(f"| {key} | {shown} |")
    out.append("")
    rerun = _experiment_file(exp.config)
    if rerun:
        out += [
            "To run it again, save this as `experiment.toml` and run "
            "`embtui run experiment.toml` (the same data, seeds and settings give the same "
            "numbers):",
            "",
            "```toml",
            rerun.rstrip("\n"),
            "```",
            "",
        ]
    out += ["## Environment", ""]
    for key, label in (
        ("embtui", "embtui"),
        ("tensorflow", "TensorFlow"),
        ("keras", "Keras"),
        ("python", "Python"),
        ("device", "Device"),
    ):
        if meta.get(key):
            out.append(f"- {label}: {meta[key]}")
    return "\n".join(out).rstrip("\n") + "\n"


def _results(report: Report) -> list[str]:
    s = report.summary
    if not s.groups:
        return ["## Results", "", "No run has finished yet.", ""]
    arms = [a for a in s.arms if any(g.arm == a for g in s.groups)]
    p_label = "p (Holm)" if s.adjusted else "p"
    out = [
        f"## Results: {METRIC_TITLES[s.metric]}",
        "",
        "Each arm: mean ± 95% CI half-width (n seeds). Difference: first arm minus second, "
        f"with its 95% Welch CI. Verdicts use alpha = {s.alpha:g}"
        + (", on Holm-adjusted p-values across all sizes." if s.adjusted else "."),
        "",
        "| size | " + " | ".join(arms) + f" | difference | 95% CI | {p_label} | d | verdict |",
        "| ---: | " + " | ".join("---:" for _ in arms) + " | ---: | --- | ---: | ---: | --- |",
    ]
    for size in s.sizes:
        cells = [(g.label() if (g := s.group(size, a)) else "–") for a in arms]
        comps = [c for c in s.comparisons if c.size == size]
        if not comps:
            out.append(f"| {size} | " + " | ".join(cells) + " | – | – | – | – | – |")
            continue
        for i, c in enumerate(comps):
            lead = (
                f"| {size} | " + " | ".join(cells)
                if i == 0
                else "| | " + " | ".join("" for _ in arms)
            )
            diff = f"{c.diff:+.3f}" + (f" ({c.arm_a} − {c.arm_b})" if len(arms) > 2 else "")
            ci = f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]" if c.ci_low is not None else "–"
            p_used = c.p_holm if s.adjusted else c.p
            p_text = format_p(p_used, s.alpha) if p_used is not None else "–"
            d = f"{c.cohens_d:+.2f}" if c.cohens_d is not None else "–"
            out.append(f"{lead} | {diff} | {ci} | {p_text} | {d} | {c.verdict} |")
    out.append("")
    return out


def _means_table(report: Report) -> list[str]:
    if not report.means:
        return []
    arms = [a for a in report.arms if any(m.embedding == a for m in report.means)]
    header = "| size | " + " | ".join(f"{a} final | {a} best" for a in arms) + " |"
    out = [
        "## Final and best val_acc by size and arm",
        "",
        "Means over the finished runs of each cell.",
        "",
        header,
        "| ---: | " + " | ".join("---: | ---:" for _ in arms) + " |",
    ]
    by_cell = {(m.size, m.embedding): m for m in report.means}
    for size in sorted({m.size for m in report.means}):
        cells = []
        for a in arms:
            m = by_cell.get((size, a))
            cells.append(
                f"{m.final_val_acc_mean:.4f} | {m.best_val_acc_mean:.4f}" if m else "– | –"
            )
        out.append(f"| {size} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def _runs(report: Report) -> list[str]:
    out = [
        "## Runs",
        "",
        "What each run cost: its wall time, its process's peak resident memory (peak RSS) "
        "and, on a GPU, the GPU memory TensorFlow held at most and the GPU's mean "
        "utilisation while the run trained.",
        "",
        "| run | size | arm | seed | status | epochs | final loss | final val_acc | "
        "best val_acc | device | params | GloVe coverage | wall | peak RSS | peak GPU mem "
        "| GPU util |",
        "| ---: | ---: | --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: "
        "| ---: | ---: | ---: | ---: |",
    ]
    for r in report.runs:
        run = r.run
        last = r.epochs[-1] if r.epochs else None
        util = "–" if run.mean_gpu_util is None else f"{run.mean_gpu_util:.0f}%"
        out.append(
            f"| {run.id} | {run.size} | {run.embedding} | {run.seed} | {run.status}"
            + (f" ({run.error})" if run.error else "")
            + f" | {len(r.epochs)} | {_f(last.loss if last else None)} | {_f(r.final_val_acc)} | "
            f"{_f(r.best_val_acc)} | {run.device or '–'} | {run.params or '–'} | "
            f"{'–' if run.coverage is None else f'{run.coverage:.1%}'} | "
            f"{'–' if run.wall_s is None else f'{run.wall_s:.1f} s'} | "
            f"{format_bytes(run.peak_rss)} | {format_bytes(run.peak_gpu_mem)} | {util} |"
        )
    out.append("")
    return out


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def _experiment_file(config: dict) -> str | None:
    """The recorded configuration as an experiment file, or None for experiments embtui
    cannot rerun (a user's own fits, recorded by EmbtuiCallback)."""
    from embtui.config import from_mapping
    from embtui.errors import EmbtuiError

    try:
        return from_mapping(config).to_toml()
    except EmbtuiError:
        return None
