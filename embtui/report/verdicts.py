"""The verdicts of a report: which comparisons decide "which arm is better at each size", in
one place, so that the console's compare screen, `embtui run`'s closing summary, the
Markdown and the JSON export all say the same thing.

The rule:

* **two arms**: the per-size comparisons of the two arms are the verdicts (Welch's t-test,
  Holm-adjusted across the sizes);
* **more arms** (a sweep): at each size the best arm against every other arm gives the
  verdicts (Welch, Holm-adjusted across all of those tests), the main effects of the factors
  follow, and the table of every pair of arms is an appendix: a Holm family of its own,
  whose p-values are adjusted for more tests and so are never the verdicts.

`verdicts(report)` builds a `Verdicts`: one `Verdict` per comparison (size, the two arms,
their means, the difference with its 95% interval, p and Holm-adjusted p, the verdict text),
one statement per size, the main effects, the conclusion and the family they belong to. The
`fmt_*` functions are how every view writes these numbers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from embtui.metrics import METRIC_LABELS
from embtui.stats import Comparison, format_p, verdict

if TYPE_CHECKING:
    from embtui.factors import Effect
    from embtui.report.model import Report
    from embtui.stats import Summary

#: The family of the verdicts: each size's comparison of two arms, or a sweep's best arm
#: against every other.
PAIR = "each size's pair of arms"
BEST = "best against others"


@dataclass(frozen=True)
class Verdict(Comparison):
    """One comparison the verdicts rest on: `arm_a` against `arm_b` at `size`.

    A verdict is a `Comparison` (`embtui.stats`: the arms' n and means, ``diff = mean_a -
    mean_b`` with its 95% Welch interval, p, Holm-adjusted p, Cohen's d, the arm found
    better or None, the verdict's words), with the names every view reads it by. With two
    arms it is the summary's own comparison, `arm_a` the earlier arm in arm order; in a
    sweep `arm_a` is the size's best arm (no Cohen's d), and `p_holm` is adjusted within
    the verdicts' family.
    """

    @classmethod
    def of(cls, comparison: Comparison) -> Verdict:
        """The verdict that `comparison` (a two-arm summary's) gives."""
        return cls(**{f.name: getattr(comparison, f.name) for f in fields(Comparison)})

    @property
    def text(self) -> str:
        """The verdict's words: "glove better (p=0.003)", "no significant difference"..."""
        return self.verdict

    @property
    def pair(self) -> str:
        return f"{self.arm_a} − {self.arm_b}"

    def as_dict(self) -> dict[str, Any]:
        """The comparison's fields, in their order (the verdict's words last)."""
        return asdict(self)


@dataclass(frozen=True)
class SizeVerdict:
    """What the verdicts say at one size: a sentence, and the comparisons behind it."""

    size: int
    statement: str
    best: str | None  # a sweep's best arm at this size (None with two arms)
    comparisons: tuple[Verdict, ...]


@dataclass(frozen=True)
class Verdicts:
    """Every verdict of a report, the main effects, and the family they were adjusted in."""

    metric: str
    alpha: float
    family: str  # PAIR or BEST
    n_tests: int  # the size of the Holm family (testable comparisons)
    sizes: tuple[SizeVerdict, ...]
    effects: tuple[Effect, ...]  # a sweep's main effects (none with two arms)
    conclusion: str
    appendix: Summary | None  # a sweep's every pair of arms: its own Holm family
    #: What the numbers rest on, said in every view: runs counted once (a repeat set
    #: aside, see `embtui.report.duplicates`) and factors that do not apply to every arm.
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> tuple[Verdict, ...]:
        return tuple(v for s in self.sizes for v in s.comparisons)

    @property
    def sweep(self) -> bool:
        return self.family == BEST

    def at(self, size: int) -> tuple[Verdict, ...]:
        return next((s.comparisons for s in self.sizes if s.size == size), ())

    @property
    def holm_text(self) -> str:
        """How the verdicts' p-values were adjusted, in a phrase."""
        if self.n_tests > 1:
            return f"Holm-adjusted across all {self.n_tests} of these tests"
        return "one test, no adjustment" if self.n_tests else "no testable comparison"

    @property
    def family_text(self) -> str:
        """The verdicts' family in a sentence, as every view heads them."""
        if not self.rows:
            return "no two arms have finished runs at the same size: nothing to compare."
        if self.sweep:
            return (
                "at each size the best arm against every other arm (Welch's t-test, "
                f"alpha = {self.alpha:g}, {self.holm_text})."
            )
        return (
            "at each size the two arms compared (Welch's t-test, "
            f"alpha = {self.alpha:g}, {self.holm_text})."
        )

    @property
    def appendix_text(self) -> str:
        """The appendix's family: every pair of arms, adjusted on its own."""
        if self.appendix is None:
            return ""
        return (
            "Every pair of arms at every size (Welch's t-test), Holm-adjusted across all "
            f"{self.appendix.n_tests} pairs: a family of its own, apart from the verdicts "
            "(best against others), whose p-values it does not change."
        )


def verdicts(report: Report) -> Verdicts:
    """The verdicts of `report` by the rule of the module docstring."""
    s = report.summary
    sweep = report.sweep
    if sweep is None:
        sizes = tuple(
            SizeVerdict(
                size,
                "; ".join(c.verdict for c in pairs),
                None,
                tuple(map(Verdict.of, pairs)),
            )
            for size in s.sizes
            if (pairs := [c for c in s.comparisons if c.size == size])
        )
        return Verdicts(
            s.metric, s.alpha, PAIR, s.n_tests, sizes, (), s.conclusion(), None, _notes(report)
        )
    rows = []
    for b in sweep.best:
        g = s.group(b.size, b.best)
        n_best = g.n if g is not None else 0
        comps: list[Verdict] = []
        for o in b.others:
            better, text = verdict(b.best, o.arm, o.diff, o.p_holm, o.alpha, n=min(n_best, o.n))
            comps.append(
                Verdict(
                    size=b.size,
                    arm_a=b.best,
                    arm_b=o.arm,
                    n_a=n_best,
                    n_b=o.n,
                    mean_a=b.mean,
                    mean_b=o.mean,
                    diff=o.diff,
                    ci_low=o.ci_low,
                    ci_high=o.ci_high,
                    p=o.p,
                    p_holm=o.p_holm,
                    cohens_d=None,  # the best arm against another: no standardized effect
                    better=better,
                    verdict=text,
                )
            )
        rows.append(SizeVerdict(b.size, b.verdict(), b.best, tuple(comps)))
    label = METRIC_LABELS.get(s.metric, s.metric)
    return Verdicts(
        s.metric,
        s.alpha,
        BEST,
        sweep.n_best_tests,
        tuple(rows),
        tuple(sweep.effects),
        sweep.conclusion(label, s.chance),
        s,
        _notes(report),
    )


def _notes(report: Report) -> tuple[str, ...]:
    scopes = (
        [f"{e.factor}: {e.scope}." for e in report.sweep.effects if e.scope]
        if report.sweep is not None
        else []
    )
    return tuple(dict.fromkeys([*report.duplicate_lines(), *scopes]))


def fmt_diff(x: float | None) -> str:
    return "–" if x is None else f"{x:+.3f}"


def fmt_ci(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"[{low:+.3f}, {high:+.3f}]"


def fmt_p(p: float | None, alpha: float) -> str:
    return "–" if p is None else format_p(p, alpha)


def fmt_mean(x: float) -> str:
    return f"{x:.3f}"


def effect_name(e: Effect) -> str:
    """`embeddings: glove vs learned`: the effect's factor, its value and the baseline."""
    return f"{e.factor}: {e.level} vs {e.baseline}"


def effect_dict(e: Effect) -> dict[str, Any]:
    return {
        "factor": e.factor,
        "level": e.level,
        "baseline": e.baseline,
        "n_pairs": e.n_pairs,
        "diff": e.diff,
        "ci_low": e.ci_low,
        "ci_high": e.ci_high,
        "p": e.p,
        "p_holm": e.p_holm,
        "significant": e.significant,
        "verdict": e.verdict(),
        "scope": e.scope,
    }
