"""Uncertainty-aware summaries of seeded experiment runs.

A reference study ran each (training-set size, embedding arm) cell once and called a
"better model" per size from differences of about one accuracy point, which is within
seed-to-seed noise. This module turns several seeds per cell into means with confidence
intervals, tests each pair of arms at each size, and says "no significant difference" when
that is what the data support. It is plain functions and frozen dataclasses over numbers:
numpy and scipy only (it must not import TensorFlow or Textual), and every distribution
comes from scipy (Student's t from `scipy.special`, which `scipy.stats.t` itself calls).

Metrics (`METRICS`), computed by `metric_value` from one run's per-epoch history:

* ``final``: validation accuracy of the last epoch;
* ``best``: the highest validation accuracy of any epoch (optimistic: it picks the epoch
  on the validation data it reports);
* ``at_min_val_loss``: validation accuracy at the epoch of lowest validation loss, the
  first such epoch on ties (what early stopping on val_loss would have kept).

Per cell (`GroupStats`, from `describe`): n runs, mean, sample sd (ddof=1) and the 95%
Student-t confidence interval of the mean, ``mean ± t(0.975, n-1) * sd / sqrt(n)``. With
n=1 there is no sd and no interval (None, never NaN). A cell whose values are all equal has
sd 0 and the interval collapses to the mean.

Per size and pair of arms (`Comparison`, from `welch`): the arms are paired in the
configured arm order, ``a`` the earlier arm and ``b`` the later, and ``diff = mean_a -
mean_b``. The test is Welch's unequal-variance t-test (``scipy.stats.ttest_ind(...,
equal_var=False)``); the interval of the difference is ``diff ± t(0.975, df) * se`` with
``se = sqrt(sd_a²/n_a + sd_b²/n_b)`` and the Welch–Satterthwaite df. Effect size is Cohen's d
with the pooled sd. A comparison with n<2 on either side is not testable: p, interval and
d are None. Zero variance on both sides, where scipy returns NaN, is decided here:

* equal constants: the means are equal, p = 1.0, the interval is [0, 0];
* different constants: the difference is certain, p = 0.0, the interval is [diff, diff]
  and the arm with the higher constant is better;
* Cohen's d is None whenever the pooled sd is 0.

When only one side is constant, the t statistic is computed from the exact variances
(0 for the constant side) with the Welch formula and p from ``scipy.stats.t``; scipy's own
moment computation would warn of catastrophic cancellation and can turn a constant float
sample into a tiny non-zero variance.

Multiple comparisons: all testable comparisons of one summary (every size and every pair)
form one Holm–Bonferroni family (`holm`). Decisions use ``p_holm`` at level ``alpha``
(default 0.05); with a single testable comparison ``p_holm`` equals ``p``. Verdict texts
show the p the decision used: ``"glove better (p=0.003)"``, ``"no significant difference
(p=0.41)"``, ``"not testable (n=1)"``; `Summary.conclusion` says "Holm-adjusted p" where
the adjustment applied. p is shown with two significant figures, ``p<0.001`` below 0.001
and more digits where rounding would cross ``alpha`` (`format_p`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import special as _sc

from embtui.metrics import METRIC_LABELS, METRICS, check_metric, metric_value

__all__ = [
    "METRICS",
    "METRIC_LABELS",
    "Comparison",
    "Difference",
    "GroupStats",
    "Sample",
    "Summary",
    "describe",
    "format_p",
    "holm",
    "metric_value",
    "summarize",
    "verdict",
    "welch",
]


def _as_array(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray([float(v) for v in values], dtype=float)
    if arr.size and not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite numbers")
    return arr


def _moments(arr: np.ndarray) -> tuple[float, float | None]:
    """Mean and sample sd (ddof=1; None for n<2), exact for constant samples."""
    if arr.size == 0:
        raise ValueError("no values")
    if np.ptp(arr) == 0.0:  # constant: avoid rounding noise in mean and variance
        return float(arr[0]), (0.0 if arr.size >= 2 else None)
    return float(np.mean(arr)), float(np.std(arr, ddof=1))


class Sample(NamedTuple):
    """A sample's size, mean, sd and the confidence interval of its mean (`describe`)."""

    n: int
    mean: float
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    half_width: float | None


class Difference(NamedTuple):
    """``mean(a) - mean(b)`` with its Welch interval, two-sided p and Cohen's d (`welch`)."""

    diff: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    cohens_d: float | None


def _t_ppf(q: float, df: float) -> float:
    """Student's t quantile: exactly what `scipy.stats.t.ppf(q, df)` returns (its `_ppf` is
    `special.stdtrit`), without the distribution machinery's ~0.3 ms per call, which a
    10,000-run sweep's thousands of intervals add up to seconds of."""
    return float(_sc.stdtrit(df, q))


def _t_sf(x: float, df: float) -> float:
    """`scipy.stats.t.sf(x, df)`, exactly (its `_sf` is `special.stdtr(df, -x)`)."""
    return float(_sc.stdtr(df, -x))


def _welch_p(xa: np.ndarray, xb: np.ndarray) -> float:
    """Two-sided Welch p: exactly `scipy.stats.ttest_ind(xa, xb, equal_var=False).pvalue`
    (scipy 1.17's steps, operation for operation: its variance, degrees of freedom, t and
    `special.stdtr`), without its axis and NaN machinery, which cost about 3 ms per call:
    seconds for the thousand comparisons of a 10,000-run sweep. `tests/test_stats.py`
    checks equality with scipy on thousands of samples."""

    def var(a: np.ndarray) -> Any:
        v = np.mean((a - np.mean(a, keepdims=True)) ** 2, axis=0)
        n = np.asarray(a.size, dtype=a.dtype)
        v *= n / (n - 1)
        return v

    n1, n2 = xa.size, xb.size
    vn1, vn2 = var(xa) / n1, var(xb) / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1**2 / (n1 - 1) + vn2**2 / (n2 - 1))
        df = np.where(np.isnan(df), 1.0, df)
        t = np.divide(np.mean(xa, axis=0) - np.mean(xb, axis=0), np.sqrt(vn1 + vn2))
    return float(2 * _sc.stdtr(np.asarray(df, dtype=t.dtype), -np.abs(t)))


def describe(values: Iterable[float], confidence: float = 0.95) -> Sample:
    """``Sample(n, mean, sd, ci_low, ci_high, half_width)`` of a sample.

    Student-t interval of the mean at `confidence`. For n=1, sd and the interval are None;
    for a constant sample sd and half_width are 0 and ci_low == ci_high == mean.
    """
    arr = _as_array(values)
    mean, sd = _moments(arr)
    n = int(arr.size)
    if sd is None:
        return Sample(n, mean, None, None, None, None)
    if sd == 0.0:
        return Sample(n, mean, 0.0, mean, mean, 0.0)
    half = float(_t_ppf((1.0 + confidence) / 2.0, n - 1) * sd / math.sqrt(n))
    return Sample(n, mean, sd, mean - half, mean + half, half)


def welch(a: Iterable[float], b: Iterable[float], confidence: float = 0.95) -> Difference:
    """``Difference(diff, ci_low, ci_high, p, cohens_d)`` comparing sample `a` with `b`.

    ``diff = mean(a) - mean(b)``; Welch interval of the difference at `confidence` and
    two-sided Welch p. Interval, p and d are None when either sample has fewer than two
    values; d is None when the pooled sd is 0. See the module docstring for zero variance.
    """
    xa, xb = _as_array(a), _as_array(b)
    mean_a, sd_a = _moments(xa)
    mean_b, sd_b = _moments(xb)
    diff = mean_a - mean_b
    if sd_a is None or sd_b is None:
        return Difference(diff, None, None, None, None)
    na, nb = xa.size, xb.size
    pooled = math.sqrt(((na - 1) * sd_a**2 + (nb - 1) * sd_b**2) / (na + nb - 2))
    d = diff / pooled if pooled > 0.0 else None
    va, vb = sd_a**2 / na, sd_b**2 / nb
    se = math.sqrt(va + vb)
    if se == 0.0:  # both constant: scipy gives NaN; the difference is known exactly
        return Difference(diff, diff, diff, (1.0 if diff == 0.0 else 0.0), d)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    half = float(_t_ppf((1.0 + confidence) / 2.0, df) * se)
    constant = sd_a == 0.0 or sd_b == 0.0
    p = float(2.0 * _t_sf(abs(diff) / se, df)) if constant else _welch_p(xa, xb)
    return Difference(diff, diff - half, diff + half, min(max(p, 0.0), 1.0), d)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni step-down adjusted p-values, in the input order.

    The k-th smallest of the m p-values (k from 0) is multiplied by m - k, the results are
    made monotone (running maximum) and capped at 1. None passes through and does not count
    in m.
    """
    given = {i: p for i, p in enumerate(pvalues) if p is not None}
    for p in given.values():
        if not (0.0 <= p <= 1.0):  # also rejects NaN
            raise ValueError(f"p-value out of [0, 1]: {p!r}")
    m = len(given)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, i in enumerate(sorted(given, key=given.__getitem__)):
        running = max(running, min(1.0, (m - k) * given[i]))
        out[i] = running
    return out


def format_p(p: float, alpha: float | None = None) -> str:
    """``"p<0.001"``, else p to two significant figures: ``"p=0.003"``, ``"p=0.41"``, ``"p=1"``.

    With `alpha`, digits are added where two would round across it (0.0496 -> ``"p=0.0496"``,
    not ``"p=0.05"``), so the shown value agrees with the decision.
    """
    if p < 0.001:
        return "p<0.001"
    for digits in range(2, 7):
        text = f"{p:.{digits}g}"
        if alpha is None or (float(text) < alpha) == (p < alpha):
            break
    return f"p={text}"


def verdict(
    arm_a: str,
    arm_b: str,
    diff: float,
    p: float | None,
    alpha: float = 0.05,
    *,
    n: int | None = None,
) -> tuple[str | None, str]:
    """``(better_arm_or_None, text)`` for ``diff = mean_a - mean_b`` tested with `p`.

    Significant when ``p < alpha`` and diff is not 0: the arm with the higher mean is better.
    `p` is None for an untestable comparison; `n` (the smaller group size) is then named in
    the text, ``"not testable (n=1)"``.
    """
    if p is None:
        return None, "not testable" if n is None else f"not testable (n={n})"
    shown = format_p(p, alpha)
    if p < alpha and diff != 0.0:
        better = arm_a if diff > 0 else arm_b
        return better, f"{better} better ({shown})"
    return None, f"no significant difference ({shown})"


@dataclass(frozen=True)
class GroupStats:
    """One (size, arm) cell over its seeds; interval fields are None when n < 2."""

    size: int
    arm: str
    n: int
    mean: float
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    half_width: float | None
    values: tuple[float, ...]

    def label(self) -> str:
        """``"0.812 ± 0.014 (3)"``: mean ± 95% CI half-width (n); n=1 says no interval."""
        if self.half_width is None:
            return f"{self.mean:.3f} (n={self.n}, no interval)"
        return f"{self.mean:.3f} ± {self.half_width:.3f} ({self.n})"


@dataclass(frozen=True)
class Comparison:
    """Arm `arm_a` against `arm_b` (earlier vs later in arm order) at one size."""

    size: int
    arm_a: str
    arm_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None
    cohens_d: float | None
    better: str | None
    verdict: str

    @property
    def testable(self) -> bool:
        return self.p is not None

    @property
    def significant(self) -> bool:
        return self.better is not None


def _known(value: float | None) -> float:
    """A value that only tested comparisons have (p, interval), where one is expected."""
    if value is None:
        raise ValueError("an untestable comparison has no p-value or interval")
    return value


def _fmt(x: float) -> str:
    return f"{x:.3f}"


def _seed_phrase(ns: Sequence[int]) -> str:
    lo, hi = min(ns), max(ns)
    return f"n={lo} seeds per cell" if lo == hi else f"n={lo}-{hi} seeds per cell"


def _join(items: Sequence[str], word: str = "and") -> str:
    if len(items) <= 2:
        return f" {word} ".join(items)
    return ", ".join(items[:-1]) + f" {word} " + items[-1]


@dataclass(frozen=True)
class Summary:
    """Every cell and comparison of one experiment for one metric."""

    metric: str
    alpha: float
    arms: tuple[str, ...]
    sizes: tuple[int, ...]
    groups: tuple[GroupStats, ...]  # ordered by size, then arm order
    comparisons: tuple[Comparison, ...]  # ordered by size, then pair order
    chance: float | None  # validation majority-class rate

    @property
    def n_tests(self) -> int:
        """Size of the Holm family: the number of testable comparisons."""
        return sum(1 for c in self.comparisons if c.testable)

    @property
    def adjusted(self) -> bool:
        """True when decisions use Holm-adjusted p (more than one testable comparison)."""
        return self.n_tests > 1

    def group(self, size: int, arm: str) -> GroupStats | None:
        for g in self.groups:
            if g.size == size and g.arm == arm:
                return g
        return None

    def curve(self, arm: str) -> list[GroupStats]:
        """The learning curve of `arm`: its cells in increasing size."""
        return [g for g in self.groups if g.arm == arm]

    def _p_text(self, c: Comparison) -> str:
        text = format_p(_known(c.p_holm), self.alpha)
        return f"Holm-adjusted {text}" if self.adjusted else text

    def _size_sentence(self, size: int) -> str | None:
        comps = [c for c in self.comparisons if c.size == size]
        if not comps:
            return None
        head = f"At {size} training reviews"
        untestable = [c for c in comps if not c.testable]
        tested = [c for c in comps if c.testable]
        sig = [c for c in tested if c.significant]
        nonsig = [c for c in tested if not c.significant]
        parts: list[str] = []
        for c in sig:
            loser = c.arm_b if c.better == c.arm_a else c.arm_a
            hi, lo = (c.mean_a, c.mean_b) if c.better == c.arm_a else (c.mean_b, c.mean_a)
            parts.append(
                f"{c.better} scored higher than {loser} ({_fmt(hi)} vs {_fmt(lo)}, "
                f"{self._p_text(c)})"
            )
        if nonsig:
            bound = max(max(abs(_known(c.ci_low)), abs(_known(c.ci_high))) for c in nonsig)
            ns = [g.n for g in self.groups if g.size == size and g.n >= 2]
            if len(comps) == 1:
                c = nonsig[0]
                text = (
                    f"there was no significant difference between the arms ({c.arm_a} "
                    f"{_fmt(c.mean_a)} vs {c.arm_b} {_fmt(c.mean_b)}, {self._p_text(c)})"
                )
            elif not sig and not untestable:
                best = min(nonsig, key=lambda c: _known(c.p_holm))
                text = (
                    "there was no significant difference between any of the arms "
                    f"(smallest {self._p_text(best)})"
                )
            else:
                pairs = [f"{c.arm_a} vs {c.arm_b} ({self._p_text(c)})" for c in nonsig]
                text = f"there was no significant difference for {_join(pairs, 'or')}"
            if bound > 0.0:
                text += (
                    f"; with {_seed_phrase(ns)}, differences up to {bound:.3f} cannot be ruled out"
                )
            parts.append(text)
        if untestable:
            thin = sorted(
                {
                    g.arm
                    for c in untestable
                    for g in (self.group(size, c.arm_a), self.group(size, c.arm_b))
                    if g is not None and g.n < 2
                },
                key=self.arms.index,
            )
            parts.append(f"no test was possible (a single run for {_join(thin)}); run more seeds")
        joiner = ", " if sig else " "
        return head + joiner + "; ".join(parts) + "."

    def conclusion(self) -> str:
        """One paragraph built only from the cells and verdicts above.

        A general winner is claimed for a pair of arms only when it was significant in the
        same direction at every size (and there are at least two sizes).
        """
        if not self.groups:
            return "No runs to summarize."
        label = METRIC_LABELS.get(self.metric, self.metric)
        out = [
            f"Metric: {label}, mean over seeds with 95% t-intervals; arms compared with "
            f"Welch's t-test at alpha={self.alpha:g}"
            + (
                f", p-values Holm-adjusted across all {self.n_tests} comparisons."
                if self.adjusted
                else "."
            )
        ]
        for size in self.sizes:
            sentence = self._size_sentence(size)
            if sentence:
                out.append(sentence)
        if not self.comparisons:
            out.append("No two arms have runs at the same size, so no arms could be compared.")
        elif len(self.sizes) > 1:
            general = []
            for i, a in enumerate(self.arms):
                for b in self.arms[i + 1 :]:
                    pair = [c for c in self.comparisons if (c.arm_a, c.arm_b) == (a, b)]
                    winners = {c.better for c in pair}
                    if len(pair) == len(self.sizes) and len(winners) == 1 and None not in winners:
                        w = winners.pop()
                        general.append(f"{w} scored higher than {b if w == a else a}")
            if general:
                out.append(f"At every training-set size, {_join(general)}.")
            else:
                out.append("No arm was significantly better than another at every size.")
        if any(g.n < 2 for g in self.groups):
            out.append("Cells with a single run cannot be tested; run at least 3 seeds per cell.")
        if self.chance is not None:
            out.append(f"Chance level (majority class) is {self.chance:.3f}.")
            near = [
                f"{g.arm} at {g.size} reviews"
                for g in self.groups
                if g.ci_low is not None and g.ci_low <= self.chance
            ]
            if near:
                which = "that cell is" if len(near) == 1 else "those cells are"
                out.append(
                    f"The 95% interval reaches chance for {_join(near)}, so {which} not "
                    "shown to beat chance."
                )
        return " ".join(out)


def summarize(
    cells: Iterable[tuple[int, str, float]],
    *,
    arms: Sequence[str] | None = None,
    metric: str = "final",
    alpha: float = 0.05,
    chance: float | None = None,
) -> Summary:
    """Summarize runs given as ``(size, arm, value)``, one per run (one per seed).

    `arms` fixes the arm order (default: order of first appearance) and must name every arm
    in `cells`; comparisons pair arms in that order at every size where both have runs.
    """
    check_metric(metric)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    data: dict[tuple[int, str], list[float]] = {}
    seen: list[str] = []
    for size, arm, value in cells:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"non-finite value {value!r} for size {size}, arm {arm!r}")
        data.setdefault((int(size), arm), []).append(v)
        if arm not in seen:
            seen.append(arm)
    if arms is None:
        order = tuple(seen)
    else:
        order = tuple(arms)
        if len(set(order)) != len(order):
            raise ValueError(f"arms repeats a name: {list(order)}")
        missing = [a for a in seen if a not in order]
        if missing:
            raise ValueError(f"runs for arms not in arms: {', '.join(missing)}")
    sizes = tuple(sorted({s for s, _ in data}))
    groups: list[GroupStats] = []
    for size in sizes:
        for arm in order:
            vals = data.get((size, arm))
            if vals:
                groups.append(GroupStats(size, arm, *describe(vals), values=tuple(vals)))
    raw = []
    for size in sizes:
        for i, a in enumerate(order):
            for b in order[i + 1 :]:
                va, vb = data.get((size, a)), data.get((size, b))
                if va and vb:
                    raw.append((size, a, b, va, vb, welch(va, vb)))
    adjusted = holm([r[5].p for r in raw])
    comparisons = []
    for (size, a, b, va, vb, w), p_adj in zip(raw, adjusted, strict=True):
        better, text = verdict(a, b, w.diff, p_adj, alpha, n=min(len(va), len(vb)))
        comparisons.append(
            Comparison(
                size=size,
                arm_a=a,
                arm_b=b,
                n_a=len(va),
                n_b=len(vb),
                mean_a=describe(va).mean,
                mean_b=describe(vb).mean,
                diff=w.diff,
                ci_low=w.ci_low,
                ci_high=w.ci_high,
                p=w.p,
                p_holm=p_adj,
                cohens_d=w.cohens_d,
                better=better,
                verdict=text,
            )
        )
    return Summary(
        metric=metric,
        alpha=alpha,
        arms=order,
        sizes=sizes,
        groups=tuple(groups),
        comparisons=tuple(comparisons),
        chance=chance,
    )
