"""Sweeps: arms named by what varies, the best arm per size, each factor's main effect;
every number recomputed here independently with scipy."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats as st

from embtui.config import arm_name, level_text, varying
from embtui.factors import RunValue, summarize_sweep

FACTORS = {
    "embeddings": ["learned", "glove"],
    "head": ["flatten", "avgpool"],
    "learning_rate": [0.001, 0.01],
}


def sweep_runs(effect_lr: float = 0.03, noise: float = 0.01, seeds: int = 3) -> list[RunValue]:
    """A 2x2x2 sweep at two sizes with known effects: glove +0.02, avgpool 0, lr=0.01
    `effect_lr`, plus seeded noise."""
    rng = np.random.default_rng(11)
    runs = []
    for size in (50, 500):
        for emb, head, lr in itertools.product(*FACTORS.values()):
            for seed in range(seeds):
                value = 0.6 + 0.0001 * size + 0.02 * (emb == "glove")
                value += effect_lr * (lr == 0.01) + rng.normal(0, noise)
                factors = {"embeddings": emb, "head": head, "learning_rate": lr, "epochs": 3}
                runs.append(RunValue(size, seed, factors, float(value)))
    return runs


def holm(ps: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out independently of embtui's."""
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def test_arms_are_named_by_the_values_that_vary():
    runs = sweep_runs()
    assert varying(r.factors for r in runs) == ["embeddings", "head", "learning_rate"]
    assert arm_name(runs[-1].factors, ["embeddings", "head", "learning_rate"]) == (
        "glove avgpool lr=0.01"
    )
    assert level_text("embedding_dim", 64) == "dim=64"
    assert level_text("dataset", "a.csv") == "dataset=a.csv"
    summary = summarize_sweep(runs, level_order=FACTORS)
    assert summary.arms[0] == "learned flatten lr=0.001" and len(summary.arms) == 8


def test_the_best_arm_and_the_arms_not_worse_match_scipy():
    runs = sweep_runs()
    summary = summarize_sweep(runs, level_order=FACTORS)
    by_cell: dict = {}
    for r in runs:
        key = (r.size, arm_name(r.factors, ["embeddings", "head", "learning_rate"]))
        by_cell.setdefault(key, []).append(r.value)
    raw_ps = []
    for best in summary.best:
        cells = {a: v for (s, a), v in by_cell.items() if s == best.size}
        assert best.best == max(cells, key=lambda a: np.mean(cells[a]))
        assert best.mean == pytest.approx(np.mean(cells[best.best]), abs=1e-12)
        for other in best.others:
            a, b = np.array(cells[best.best]), np.array(cells[other.arm])
            test = st.ttest_ind(a, b, equal_var=False)
            assert other.p == pytest.approx(test.pvalue, abs=1e-9)
            assert other.diff == pytest.approx(a.mean() - b.mean(), abs=1e-12)
            ci = test.confidence_interval(0.95)
            assert (other.ci_low, other.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)
            raw_ps.append(test.pvalue)
    adjusted = holm(raw_ps)
    got = [o.p_holm for b in summary.best for o in b.others]
    assert got == pytest.approx(adjusted, abs=1e-9)
    assert summary.n_best_tests == 14  # 7 others at each of 2 sizes: one Holm family


def test_the_verdict_never_says_more_than_the_numbers_support():
    clear = summarize_sweep(sweep_runs(effect_lr=0.3, noise=0.002), level_order=FACTORS)
    for best in clear.best:
        assert best.best.endswith("lr=0.01") and best.best.startswith("glove")
        # avgpool and flatten do the same: the other head is not significantly worse.
        assert len(best.not_worse) == 1 and best.not_worse[0].startswith("glove")
        assert (
            best.verdict() == f"{best.best} is best; {best.not_worse[0]} is not significantly worse"
        )
    noisy = summarize_sweep(sweep_runs(effect_lr=0.0, noise=0.05), level_order=FACTORS)
    assert any("not significantly worse" in b.verdict() for b in noisy.best)
    assert all("better than every other arm" not in b.verdict() for b in noisy.best)


def test_main_effects_are_paired_over_runs_matched_on_everything_else():
    runs = sweep_runs()
    summary = summarize_sweep(runs, level_order=FACTORS)
    assert [(e.factor, e.level, e.baseline) for e in summary.effects] == [
        ("embeddings", "glove", "learned"),
        ("head", "avgpool", "flatten"),
        ("learning_rate", "lr=0.01", "lr=0.001"),
    ]
    raw = []
    for effect, (key, (base, level)) in zip(summary.effects, FACTORS.items(), strict=True):

        def place(r, key=key):
            return (r.size, r.seed, *(r.factors[k] for k in FACTORS if k != key))

        a = {place(r): r.value for r in runs if r.factors[key] == level}
        b = {place(r): r.value for r in runs if r.factors[key] == base}
        keys = sorted(a)
        x, y = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])
        test = st.ttest_rel(x, y)
        ci = test.confidence_interval(0.95)
        assert effect.n_pairs == len(keys) == 2 * 4 * 3
        assert effect.diff == pytest.approx((x - y).mean(), abs=1e-12)
        assert (effect.ci_low, effect.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-9)
        assert effect.p == pytest.approx(test.pvalue, abs=1e-9)
        raw.append(test.pvalue)
    assert [e.p_holm for e in summary.effects] == pytest.approx(holm(raw), abs=1e-9)
    lr = summary.effects[2]
    assert lr.significant and lr.verdict().startswith("lr=0.01 better than lr=0.001 (p")
    assert not summary.effects[1].significant  # the head does nothing here


def test_a_single_pair_or_no_pair_is_not_tested():
    runs = [
        RunValue(10, 0, {"embeddings": "learned"}, 0.6),
        RunValue(10, 0, {"embeddings": "glove"}, 0.7),
    ]
    (effect,) = summarize_sweep(runs).effects
    assert (effect.n_pairs, effect.diff, effect.p) == (1, pytest.approx(0.1), None)
    assert effect.verdict() == "not testable (n=1 pairs)"
