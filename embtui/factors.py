"""Sweeps over any factor: arms named by what varies, the best arm, and each factor's effect.

An experiment's grid is sizes x (every listed factor value) x seeds. A run's *factors* are
all of its settings other than size and seed (embedding, head, optimizer, learning rate,
...); an *arm* is one combination of them, named by the values that vary among the runs
compared ("glove avgpool lr=0.01"), short and stable.

With two arms the comparison is exactly `embtui.stats.summarize`'s. With more, what the
numbers support is said per size:

* the **best arm** by mean, tested against every other arm (Welch; Holm across all the
  best-against-other tests of every size), and the set of arms **not significantly worse
  than the best**: "X is best; Y and Z are not significantly worse", or "X is better than
  every other arm";
* the **main effect** of each factor: for each level against the factor's first level, the
  mean difference over runs matched on every other factor, the size and the seed, with a
  paired 95% t-interval and the paired t-test's p (Holm across the rows of the factor
  table). This answers "does lr=0.01 help?" across the whole sweep.

Everything is recomputable with scipy from the per-run values a JSON export holds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scipy import stats as _st

from embtui.config import APPLIES_TO, arm_name, level_text, varying
from embtui.stats import describe, format_p, holm, welch


@dataclass(frozen=True)
class RunValue:
    """One finished run: where it sits in the grid and its value of the metric."""

    size: int
    seed: int
    factors: Mapping[str, Any]
    value: float


@dataclass(frozen=True)
class BestArm:
    """The best arm at one size, and how every other arm compares with it."""

    size: int
    best: str
    mean: float
    others: tuple[Against, ...]  # every other arm with runs at this size, in arm order

    @property
    def not_worse(self) -> tuple[str, ...]:
        """Arms not significantly worse than the best (untestable ones included)."""
        return tuple(o.arm for o in self.others if not o.significant)

    def verdict(self) -> str:
        if not self.others:
            return f"{self.best} is the only arm"
        if any(o.p_holm is None for o in self.others) and len(self.not_worse) == len(self.others):
            return f"{self.best} has the highest mean; too few runs to test the others"
        if not self.not_worse:
            return f"{self.best} is better than every other arm"
        names = _join(list(self.not_worse))
        verb = "is" if len(self.not_worse) == 1 else "are"
        return f"{self.best} is best; {names} {verb} not significantly worse"


@dataclass(frozen=True)
class Against:
    """One arm against the best arm of its size (diff = best - this arm)."""

    arm: str
    n: int
    mean: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None
    alpha: float

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < self.alpha and self.diff > 0


@dataclass(frozen=True)
class Effect:
    """A factor's level against its first level, over runs matched on everything else."""

    factor: str
    level: str  # as `level_text` shows it
    baseline: str
    n_pairs: int
    diff: float | None  # mean of (level - baseline) over the matched pairs
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None
    alpha: float
    #: Which runs the effect is computed over, where a factor does not apply to every arm:
    #: "over the learned runs (embedding_dim does not apply to glove)", or "learned at
    #: dim=8". Empty where every factor applies to every run.
    scope: str = ""

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < self.alpha and self.diff != 0

    def verdict(self) -> str:
        if self.diff is None:
            return "no matched runs"
        if self.p_holm is None:
            return f"not testable (n={self.n_pairs} pairs)"
        shown = format_p(self.p_holm, self.alpha)
        if self.significant:
            word = "better" if self.diff > 0 else "worse"
            return f"{self.level} {word} than {self.baseline} ({shown})"
        return f"no significant difference ({shown})"


@dataclass(frozen=True)
class SweepSummary:
    """The k-arm statements of one metric: the best arm per size and the factor table."""

    metric: str
    alpha: float
    factors: tuple[str, ...]  # the varying factors
    arms: tuple[str, ...]
    best: tuple[BestArm, ...]  # one per size with runs of at least one arm
    effects: tuple[Effect, ...]

    @property
    def n_best_tests(self) -> int:
        return sum(1 for b in self.best for o in b.others if o.p is not None)

    def conclusion(self, label: str, chance: float | None = None) -> str:
        """One paragraph, from the verdicts only (never more than they support)."""
        factors = ", ".join(self.factors) or "none"
        out = [
            f"Metric: {label}, mean over seeds. {len(self.arms)} arms (the values of "
            f"{factors}); at each size the best arm was compared with every other arm by "
            f"Welch's t-test at alpha={self.alpha:g}, p-values Holm-adjusted across all "
            f"{self.n_best_tests} of those tests."
        ]
        out += self.sentences()
        if self.effects:
            out.append(
                "Main effects compare each factor's values over runs matched on every other "
                f"factor, the size and the seed (paired t-test, Holm across the "
                f"{len(self.effects)} rows)."
            )
        if chance is not None:
            out.append(f"Chance level (majority class) is {chance:.3f}.")
        return " ".join(out)

    def sentences(self) -> list[str]:
        """The statements the numbers support, one per size and one per factor level."""
        out = []
        for b in self.best:
            out.append(f"At {b.size} training reviews, {b.verdict()} (mean {b.mean:.3f}).")
        for e in self.effects:
            if e.diff is None:
                continue
            ci = (
                f", 95% CI [{e.ci_low:+.3f}, {e.ci_high:+.3f}]"
                if e.ci_low is not None and e.ci_high is not None
                else ""
            )
            out.append(
                f"{e.level} against {e.baseline}: {e.diff:+.3f} over {e.n_pairs} matched "
                f"runs{ci}; {e.verdict()}."
            )
        return out


def summarize_sweep(
    runs: Sequence[RunValue],
    *,
    metric: str = "final",
    alpha: float = 0.05,
    level_order: Mapping[str, Sequence[Any]] | None = None,
) -> SweepSummary:
    """The best arm per size and every factor's main effect (see the module docstring).

    `level_order` gives each factor's levels in their configured order (the first is the
    baseline of its effects); without it, levels come in order of first appearance.
    """
    keys = varying(r.factors for r in runs)
    names = [arm_name(r.factors, keys) for r in runs]
    arms = tuple(dict.fromkeys(names))
    by_cell: dict[tuple[int, str], list[float]] = {}
    for r, name in zip(runs, names, strict=True):
        by_cell.setdefault((r.size, name), []).append(float(r.value))
    sizes = sorted({r.size for r in runs})

    raw: list[tuple[int, str, float, list[tuple[str, list[float], Any]]]] = []
    for size in sizes:
        cells = {a: by_cell[(size, a)] for a in arms if (size, a) in by_cell}
        if not cells:
            continue
        best = max(cells, key=lambda a: (describe(cells[a]).mean, -arms.index(a)))
        others = [(a, v, welch(cells[best], v)) for a, v in cells.items() if a != best]
        raw.append((size, best, describe(cells[best]).mean, others))
    adjusted = iter(holm([w.p for _, _, _, others in raw for _, _, w in others]))
    best_rows = []
    for size, best, mean, others in raw:
        against = tuple(
            Against(
                a, len(v), describe(v).mean, w.diff, w.ci_low, w.ci_high, w.p, next(adjusted), alpha
            )
            for a, v, w in others
        )
        best_rows.append(BestArm(size, best, mean, against))

    effects = _effects(runs, keys, alpha, level_order or {})
    return SweepSummary(metric, alpha, tuple(keys), arms, tuple(best_rows), effects)


def _effects(
    runs: Sequence[RunValue],
    keys: Sequence[str],
    alpha: float,
    level_order: Mapping[str, Sequence[Any]],
) -> tuple[Effect, ...]:
    """Each factor's levels against its first, over runs matched on everything else.

    A factor that does not apply to some arms (None in their runs: `embedding_dim` of a
    GloVe arm) is computed over the runs it applies to. Where another factor applies to
    only some of this factor's levels (comparing `glove` with `learned` at dim=8 and
    dim=32), the runs it applies to are matched at its first level, so each run is paired
    once and the scope says so.
    """
    rows: list[tuple[str, str, str, list[float], str]] = []
    for key in keys:
        used = [r for r in runs if r.factors.get(key) is not None]
        levels = _levels(used, key, level_order.get(key))
        if len(levels) < 2:
            continue
        base = levels[0]
        scope = []
        if len(used) < len(runs):
            skipped = sorted({_other(r, key) for r in runs if r.factors.get(key) is None})
            kept = sorted({_other(r, key) for r in used})
            scope.append(
                f"over the {', '.join(kept)} runs ({key} does not apply to {', '.join(skipped)})"
            )
        # Another factor applies to only some of this factor's levels (embedding_dim, when
        # this factor is the embedding): match at its first level where it applies. For any
        # other factor (a head, a rate) "does not apply" is itself a level to match on.
        partial = [
            k
            for k in keys
            if k != key
            and key == "embeddings"
            and k in APPLIES_TO
            and len({r.factors.get(k) is None for r in used}) > 1
        ]
        for k in partial:
            first = _levels(
                [r for r in used if r.factors.get(k) is not None], k, level_order.get(k)
            )[0]
            used = [r for r in used if r.factors.get(k) is None or r.factors[k] == first]
            scope.append(f"{k} at {level_text(k, first)} where it applies")
        rest = [k for k in keys if k != key and k not in partial]

        # Each run's place apart from this factor: size, seed and every other factor.
        def place(r: RunValue, rest: list[str] = rest) -> tuple:
            return (r.size, r.seed, *(repr(r.factors[k]) for k in rest))

        baseline = {place(r): r.value for r in used if r.factors[key] == base}
        for level in levels[1:]:
            diffs = [
                r.value - baseline[place(r)]
                for r in used
                if r.factors[key] == level and place(r) in baseline
            ]
            rows.append(
                (key, level_text(key, level), level_text(key, base), diffs, "; ".join(scope))
            )
    tests = [_paired(diffs) for _, _, _, diffs, _ in rows]
    adjusted = holm([t[3] for t in tests])
    return tuple(
        Effect(key, level, base, len(diffs), *test, p_adj, alpha, scope)
        for (key, level, base, diffs, scope), test, p_adj in zip(rows, tests, adjusted, strict=True)
    )


def _other(run: RunValue, key: str) -> str:
    """The embedding of a run, which decides where `key` applies."""
    return str(run.factors.get("embeddings", "?"))


def _levels(runs: Sequence[RunValue], key: str, order: Sequence[Any] | None) -> list[Any]:
    seen = list(dict.fromkeys(r.factors[key] for r in runs))
    if order is None:
        return seen
    ordered = [v for v in order if v in seen]
    return ordered + [v for v in seen if v not in ordered]


def _paired(
    diffs: Sequence[float], confidence: float = 0.95
) -> tuple[float | None, float | None, float | None, float | None]:
    """(mean, ci_low, ci_high, p) of paired differences: the one-sample t on them (what
    scipy.stats.ttest_rel computes), with the zero-variance cases decided exactly."""
    n = len(diffs)
    if n == 0:
        return None, None, None, None
    sample = describe(diffs, confidence)
    if sample.sd is None:  # a single pair: no interval, no test
        return sample.mean, None, None, None
    if sample.sd == 0.0:
        p = 1.0 if sample.mean == 0.0 else 0.0
        return sample.mean, sample.mean, sample.mean, p
    t = sample.mean / (sample.sd / math.sqrt(n))
    p = float(2.0 * _st.t.sf(abs(t), n - 1))
    return sample.mean, sample.ci_low, sample.ci_high, min(max(p, 0.0), 1.0)


def _join(items: list[str]) -> str:
    if len(items) <= 2:
        return " and ".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
