"""The human-readable export: a Markdown comparison summary of one experiment.

It leads with the comparison a reader came for (each size's arms with their uncertainty and
a verdict that says "no significant difference" when that is the truth), then the learning
curve and its figures, the conclusion, the per-run appendix, the configuration and the
environment. The verdicts come from `embtui.report.verdicts`, as in every other view: in a
sweep, each size's best arm against every other arm, then the main effects, and every pair
of arms in an appendix.
"""

from __future__ import annotations

import re

from embtui.escape import markdown_cell as cell
from embtui.escape import markdown_text as text
from embtui.escape import terminal
from embtui.export.curve import learning_curve_text
from embtui.export.figures import FigureLinks, markdown_section
from embtui.metrics import METRIC_TITLES
from embtui.report.model import Report
from embtui.report.verdicts import Verdicts, fmt_ci, fmt_diff, fmt_p, verdicts
from embtui.stats import format_p
from embtui.sysmetrics import format_bytes


def to_markdown(report: Report, figures: FigureLinks | None = None) -> str:
    """The report as Markdown; `figures` links the images written beside it (without them
    the Figures section says how to get them)."""
    exp = report.experiment
    s = report.summary
    meta = exp.meta
    if report.pooled:
        ids = ", ".join(str(e.id) for e in report.experiments)
        names = ", ".join(text(e.name) for e in report.experiments)
        out: list[str] = [f"# embtui experiments {ids} compared: {names}", ""]
    else:
        out = [f"# embtui experiment {exp.id}: {text(exp.name)}", ""]
    counts: dict[str, int] = {}
    for r in report.runs:
        counts[r.run.status] = counts.get(r.run.status, 0) + 1
    status_text = ", ".join(f"{n} {status}" for status, n in counts.items())
    if report.pooled:
        for e in report.experiments:
            out.append(f"- Experiment {e.id} ({text(e.name)}): **{e.status}**, {e.created}")
        out.append(f"- Runs: {len(report.runs)} ({status_text})")
    else:
        out.append(f"- Status: **{exp.status}** ({len(report.runs)} runs: {status_text})")
        out.append(
            f"- Created: {exp.created}" + (f", finished {exp.finished}" if exp.finished else "")
        )
    if report.factors and report.factors != ("embeddings",):
        out.append(f"- Arms: {len(report.arms)}, named by {text(', '.join(report.factors))}")
    for line in report.duplicate_lines():
        out.append(f"- Counted once: {text(line)}")
    if meta.get("data"):
        out.append(f"- Data: {text(str(meta['data']))}")
    if s.chance is not None:
        out.append(f"- Chance level (validation majority class): {s.chance:.3f}")
    if meta.get("glove"):
        out.append(
            f"- GloVe: {text(str(meta['glove']))} ({meta.get('glove_dim')}-d), vocabulary coverage "
            f"{meta.get('glove_coverage', 0):.1%}"
        )
    out.append("")

    v = verdicts(report)
    if report.sweep is not None:
        out += _best_arms(report, v)
        out += _best_against_others(v)
        out += _effects(report)
        out += _cell_table(report)
    else:
        out += _results(report, v)
        out += _means_table(report)
    if s.groups:
        arms, note = report.curve_arms()
        out += [
            "## Learning curve",
            "",
            f"{METRIC_TITLES[s.metric]} against training-set size (mean, 95% CI)."
            + (f" {note}." if note else ""),
            "",
            *_fenced("text", learning_curve_text(s, arms=arms)),
            "",
        ]
    out += markdown_section(report, figures)
    out += _learned(report)
    out += ["## Conclusion", "", text(v.conclusion), ""]
    if report.sweep is not None:
        out += _all_pairs(report, v)
    out += _runs(report)
    out += ["## Configuration", "", "| key | value |", "| --- | --- |"]
    for key, value in exp.config.items():
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        out.append(f"| {cell(key)} | {cell(shown)} |")
    out.append("")
    rerun = _experiment_file(exp.config)
    if rerun:
        out += [
            "To run it again, save this as `experiment.toml` and run "
            "`embtui run experiment.toml` (the same data, seeds and settings give the same "
            "numbers):",
            "",
            *_fenced("toml", rerun),
            "",
        ]
    out += ["## Environment", ""]
    for key, label in (
        ("embtui", "embtui"),
        ("tensorflow", "TensorFlow"),
        ("keras", "Keras"),
        ("python", "Python"),
        ("device", "Device"),
        ("threads_per_op", "Threads per TensorFlow op"),
    ):
        if meta.get(key):
            out.append(f"- {label}: {text(str(meta[key]))}")
    return "\n".join(out).rstrip("\n") + "\n"


def _learned(report: Report) -> list[str]:
    """What the models learned, from the runs' kept arrays (`embtui.inspect.summary`)."""
    learned = report.learned
    if learned is None:
        return []
    out = [
        "## What the models learned",
        "",
        f"At {learned.size} training reviews, from the arrays the runs kept (`embtui inspect "
        "RUN` shows more of one run).",
        "",
        "| arm | run | validation errors (mean) | most positive words | most negative words |",
        "| --- | --- | --- | --- | --- |",
    ]
    for a in learned.arms:
        out.append(
            f"| {cell(a.arm)} | {a.run_id} (seed {a.seed}) | {a.errors_mean:.1f} of {a.reviews} "
            f"({a.runs} run{'s' if a.runs != 1 else ''}) | "
            f"{cell(', '.join(w.word for w in a.positive)) or '–'} | "
            f"{cell(', '.join(w.word for w in a.negative)) or '–'} |"
        )
    hows = sorted({a.how_scored for a in learned.arms if a.how_scored})
    if hows:
        out += ["", *(f"Word {text(h)}." for h in hows)]
    probes = sorted({p for a in learned.arms for p in a.neighbours})
    if probes:
        out += ["", "Nearest neighbours (cosine) of a few words:", ""]
        out += ["| word | " + " | ".join(cell(a.arm) for a in learned.arms) + " |"]
        out += ["| --- |" + " --- |" * len(learned.arms)]
        for probe in probes:
            row = [
                ", ".join(n.word for n in a.neighbours.get(probe, ())) or "–" for a in learned.arms
            ]
            out.append(f"| {cell(probe)} | " + " | ".join(cell(x) for x in row) + " |")
    if learned.agreement:
        out += ["", "How often two arms' first-seed runs predict the same class:", ""]
        for (a, b), share in learned.agreement.items():
            out.append(f"- {text(a)} and {text(b)}: {share:.1%} of the validation reviews")
    out.append("")
    return out


def _results(report: Report, v: Verdicts) -> list[str]:
    s = report.summary
    if not s.groups:
        return ["## Results", "", "No run has finished yet.", ""]
    arms = [a for a in s.arms if any(g.arm == a for g in s.groups)]
    p_label = "p (Holm)" if s.adjusted else "p"
    out = [
        f"## Results: {METRIC_TITLES[s.metric]}",
        "",
        "Each arm: mean ± 95% CI half-width (n seeds). Difference: first arm minus second, "
        f"with its 95% Welch CI. The verdicts: {v.family_text}",
        "",
        "| size | "
        + " | ".join(map(cell, arms))
        + f" | difference | 95% CI | {p_label} | d | verdict |",
        "| ---: | " + " | ".join("---:" for _ in arms) + " | ---: | --- | ---: | ---: | --- |",
    ]
    for size in s.sizes:
        cells = [(g.label() if (g := s.group(size, a)) else "–") for a in arms]
        comps = v.at(size)
        if not comps:
            out.append(f"| {size} | " + " | ".join(cells) + " | – | – | – | – | – |")
            continue
        for i, c in enumerate(comps):
            lead = (
                f"| {size} | " + " | ".join(cells)
                if i == 0
                else "| | " + " | ".join("" for _ in arms)
            )
            diff = fmt_diff(c.diff) + (
                f" ({cell(c.arm_a)} − {cell(c.arm_b)})" if len(arms) > 2 else ""
            )
            ci = fmt_ci(c.ci_low, c.ci_high)
            p_text = fmt_p(c.p_holm if s.adjusted else c.p, s.alpha)
            d = f"{c.cohens_d:+.2f}" if c.cohens_d is not None else "–"
            out.append(f"{lead} | {diff} | {ci} | {p_text} | {d} | {cell(c.text)} |")
    out.append("")
    return out


def _best_arms(report: Report, v: Verdicts) -> list[str]:
    s, sweep = report.summary, report.sweep
    out = [
        f"## Results: {METRIC_TITLES[s.metric]}",
        "",
        "Per size, the arm with the highest mean, and the arms not significantly worse than "
        f"it. The verdicts: {v.family_text} The table of every pair is an appendix "
        "(*All pairs*), a Holm family of its own.",
        "",
        "| size | best arm | mean ± 95% CI (n) | not significantly worse | verdict |",
        "| ---: | --- | ---: | --- | --- |",
    ]
    for b in sweep.best:
        g = s.group(b.size, b.best)
        shown = g.label() if g is not None else f"{b.mean:.3f}"
        worse = ", ".join(b.not_worse) or "–"
        out.append(f"| {b.size} | {cell(b.best)} | {shown} | {cell(worse)} | {cell(b.verdict())} |")
    out.append("")
    return out


def _best_against_others(v: Verdicts) -> list[str]:
    """Each verdict's numbers: the best arm against each other arm, size by size."""
    out = [
        "## Best arm against each other arm",
        "",
        f"Best minus other, with the 95% Welch interval; p Holm-adjusted as above ({v.holm_text}).",
        "",
        "| size | best arm | other arm | best − other | 95% CI | p (Holm) | verdict |",
        "| ---: | --- | --- | ---: | --- | ---: | --- |",
    ]
    for c in v.rows:
        out.append(
            f"| {c.size} | {cell(c.arm_a)} | {cell(c.arm_b)} | {fmt_diff(c.diff)} | "
            f"{fmt_ci(c.ci_low, c.ci_high)} | {fmt_p(c.p_holm, v.alpha)} | {cell(c.text)} |"
        )
    out.append("")
    return out


def _effects(report: Report) -> list[str]:
    sweep = report.sweep
    if not sweep.effects:
        return []
    out = [
        "## Main effects",
        "",
        "Each factor's value against its first value, over runs matched on every other "
        "factor, the size and the seed: the mean paired difference, its 95% t-interval and "
        f"the paired t-test's p, Holm-adjusted across the {len(sweep.effects)} rows.",
        "",
        "| factor | value | against | matched runs | difference | 95% CI | p (Holm) | verdict |",
        "| --- | --- | --- | ---: | ---: | --- | ---: | --- |",
    ]
    for e in sweep.effects:
        diff = "–" if e.diff is None else f"{e.diff:+.3f}"
        ci = f"[{e.ci_low:+.3f}, {e.ci_high:+.3f}]" if e.ci_low is not None else "–"
        p = format_p(e.p_holm, e.alpha) if e.p_holm is not None else "–"
        out.append(
            f"| {cell(e.factor)} | {cell(e.level)} | {cell(e.baseline)} | {e.n_pairs} | {diff} | "
            f"{ci} | {p} | {cell(e.verdict())} |"
        )
    out.append("")
    scopes = list(dict.fromkeys(f"{e.factor}: {e.scope}." for e in sweep.effects if e.scope))
    if scopes:
        out += ["Where a factor does not apply to every arm:", ""]
        out += [f"- {text(scope)}" for scope in scopes] + [""]
    return out


def _cell_table(report: Report) -> list[str]:
    """Every (size, arm) cell in rows: with many arms, columns would not fit."""
    s = report.summary
    by_cell = {(m.size, m.embedding): m for m in report.means}
    out = [
        "## Every arm by size",
        "",
        f"{METRIC_TITLES[s.metric]}: mean ± 95% CI half-width (n); final and best val_acc "
        "are means over the finished runs.",
        "",
        "| size | arm | mean ± 95% CI (n) | final val_acc | best val_acc |",
        "| ---: | --- | ---: | ---: | ---: |",
    ]
    for g in s.groups:
        m = by_cell.get((g.size, g.arm))
        final = f"{m.final_val_acc_mean:.4f}" if m else "–"
        best = f"{m.best_val_acc_mean:.4f}" if m else "–"
        out.append(f"| {g.size} | {cell(g.arm)} | {g.label()} | {final} | {best} |")
    out.append("")
    return out


def _all_pairs(report: Report, v: Verdicts) -> list[str]:
    s = report.summary
    out = [
        "## All pairs (appendix)",
        "",
        v.appendix_text,
        "",
        "| size | arm a | arm b | a − b | 95% CI | p (Holm) | d | verdict |",
        "| ---: | --- | --- | ---: | --- | ---: | ---: | --- |",
    ]
    for c in s.comparisons:
        ci = f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]" if c.ci_low is not None else "–"
        p = format_p(c.p_holm, s.alpha) if c.p_holm is not None else "–"
        d = f"{c.cohens_d:+.2f}" if c.cohens_d is not None else "–"
        out.append(
            f"| {c.size} | {cell(c.arm_a)} | {cell(c.arm_b)} | {c.diff:+.3f} | {ci} | {p} | {d} | "
            f"{cell(c.verdict)} |"
        )
    out.append("")
    return out


def _means_table(report: Report) -> list[str]:
    if not report.means:
        return []
    arms = [a for a in report.arms if any(m.embedding == a for m in report.means)]
    header = "| size | " + " | ".join(f"{cell(a)} final | {cell(a)} best" for a in arms) + " |"
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
            f"| {run.id} | {run.size} | {cell(r.arm)} | {run.seed} | {cell(run.status)}"
            + (f" ({cell(run.error)})" if run.error else "")
            + (f", repeats run {r.duplicate_of}: not counted" if r.duplicate_of else "")
            + f" | {len(r.epochs)} | {_f(last.loss if last else None)} | {_f(r.final_val_acc)} | "
            f"{_f(r.best_val_acc)} | {cell(run.device or '–')} | {run.params or '–'} | "
            f"{'–' if run.coverage is None else f'{run.coverage:.1%}'} | "
            f"{'–' if run.wall_s is None else f'{run.wall_s:.1f} s'} | "
            f"{format_bytes(run.peak_rss)} | {format_bytes(run.peak_gpu_mem)} | {util} |"
        )
    out.append("")
    return out


def _fenced(language: str, body: str) -> list[str]:
    """`body` as a fenced code block that nothing in it can close or disturb: the fence is
    longer than any run of backticks inside, and control and bidi characters show as
    escapes (in the TOML they are then exactly TOML's own `\\uXXXX` escapes)."""
    longest = max((len(run) for run in re.findall("`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    shown = "\n".join(terminal(line) for line in body.rstrip("\n").split("\n"))
    return [fence + language, shown, fence]


def _f(x: float | None) -> str:
    return "–" if x is None else f"{x:.4f}"


def _experiment_file(config: dict) -> str | None:
    """The recorded configuration as an experiment file, or None for experiments embtui
    cannot rerun (a user's own fits, recorded by EmbtuiCallback)."""
    from embtui.config import from_mapping
    from embtui.errors import EmbtuiError

    try:
        return from_mapping(config, new=False).to_toml()
    except EmbtuiError:
        return None
