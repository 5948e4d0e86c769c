import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats as st

from embtui.stats import (
    METRICS,
    describe,
    format_p,
    holm,
    metric_value,
    summarize,
    verdict,
    welch,
)

# Student's sleep data (Cushny & Peebles 1905), as in R's `example(t.test)`: extra hours
# of sleep under two drugs, ten patients each.
SLEEP_1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
SLEEP_2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def _epochs(val_acc, val_loss):
    return [
        {"epoch": i + 1, "loss": 0.5, "acc": 0.5, "val_loss": vl, "val_acc": va}
        for i, (va, vl) in enumerate(zip(val_acc, val_loss, strict=True))
    ]


def _no_nan(summary):
    for g in summary.groups:
        for v in (g.mean, g.sd, g.ci_low, g.ci_high, g.half_width):
            assert v is None or math.isfinite(v)
    for c in summary.comparisons:
        for v in (c.diff, c.ci_low, c.ci_high, c.p, c.p_holm, c.cohens_d):
            assert v is None or math.isfinite(v)


# ---- metric_value ---------------------------------------------------------------------


def test_metrics_tuple():
    assert METRICS == ("final", "best", "at_min_val_loss")


def test_metric_value_each_metric():
    epochs = _epochs([0.60, 0.75, 0.70, 0.72], [0.60, 0.50, 0.45, 0.55])
    assert metric_value(epochs) == 0.72
    assert metric_value(epochs, "final") == 0.72
    assert metric_value(epochs, "best") == 0.75
    assert metric_value(epochs, "at_min_val_loss") == 0.70


def test_metric_value_ties_take_first_min_and_order_by_epoch():
    epochs = _epochs([0.60, 0.65, 0.70], [0.40, 0.40, 0.50])
    assert metric_value(epochs, "at_min_val_loss") == 0.60
    shuffled = [epochs[2], epochs[0], epochs[1]]
    assert metric_value(shuffled, "final") == 0.70
    assert metric_value(shuffled, "at_min_val_loss") == 0.60


def test_metric_value_empty_nan_and_unknown():
    assert metric_value([], "final") is None
    assert metric_value([], "best") is None
    nan_loss = _epochs([0.6, 0.7], [float("nan"), 0.3])
    assert metric_value(nan_loss, "at_min_val_loss") == 0.7
    assert metric_value(_epochs([0.6], [float("nan")]), "at_min_val_loss") is None
    with pytest.raises(ValueError):
        metric_value(_epochs([0.6], [0.3]), "last")


# ---- describe -------------------------------------------------------------------------


def test_describe_textbook_one_sample_interval():
    # By hand: mean = 7.5 / 10 = 0.75; sum of squared deviations = 28.805, so
    # sd = sqrt(28.805 / 9) = 1.789010; t(0.975, 9) = 2.262157 (t table: 2.262);
    # half = 2.262157 * 1.789010 / sqrt(10) = 1.279780, CI = (-0.529780, 2.029780),
    # the interval R's t.test(extra[group == 1]) prints: -0.5297804 2.0297804.
    n, mean, sd, lo, hi, half = describe(SLEEP_1)
    assert n == 10
    assert mean == pytest.approx(0.75, abs=1e-12)
    assert sd == pytest.approx(1.789010, abs=1e-6)
    assert half == pytest.approx(1.279780, abs=1e-6)
    assert lo == pytest.approx(-0.5297804, abs=1e-7)
    assert hi == pytest.approx(2.0297804, abs=1e-7)


@pytest.mark.parametrize(
    "sample",
    [[0.81, 0.83, 0.80], [0.5, 0.52, 0.55, 0.49, 0.51], [0.7, 0.9], list(np.linspace(0.6, 0.8, 9))],
)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_describe_matches_scipy_t_interval(sample, confidence):
    n, mean, sd, lo, hi, half = describe(sample, confidence)
    x = np.asarray(sample)
    exp_lo, exp_hi = st.t.interval(confidence, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert n == len(x)
    assert mean == pytest.approx(x.mean())
    assert sd == pytest.approx(x.std(ddof=1))
    assert lo == pytest.approx(exp_lo)
    assert hi == pytest.approx(exp_hi)
    assert half == pytest.approx((exp_hi - exp_lo) / 2)


def test_describe_single_value_has_no_interval():
    assert describe([0.812]) == (1, 0.812, None, None, None, None)


def test_describe_zero_variance():
    assert describe([0.1, 0.1, 0.1]) == (3, 0.1, 0.0, 0.1, 0.1, 0.0)


def test_describe_rejects_empty_and_nan():
    with pytest.raises(ValueError):
        describe([])
    with pytest.raises(ValueError):
        describe([0.5, float("nan")])


# ---- welch ----------------------------------------------------------------------------


def test_welch_textbook_sleep_example():
    # R, example(t.test), Welch Two Sample t-test on the sleep data:
    # t = -1.8608, df = 17.776, p-value = 0.07939,
    # 95 percent confidence interval: -3.3654832 0.2054832; means 0.75 and 2.33.
    diff, lo, hi, p, d = welch(SLEEP_1, SLEEP_2)
    assert diff == pytest.approx(0.75 - 2.33, abs=1e-12)
    assert p == pytest.approx(0.07939, abs=5e-6)
    assert lo == pytest.approx(-3.3654832, abs=1e-7)
    assert hi == pytest.approx(0.2054832, abs=1e-7)
    # Cohen's d by hand: sd1 = 1.789010, sd2 = 2.002249, pooled sd = sqrt((sd1² + sd2²) / 2)
    # = 1.898625, d = -1.58 / 1.898625 = -0.832181.
    assert d == pytest.approx(-0.832181, abs=1e-6)


@pytest.mark.parametrize(
    "a, b",
    [
        ([0.81, 0.83, 0.80], [0.78, 0.80, 0.79, 0.77]),
        ([0.6, 0.65, 0.58, 0.62, 0.61], [0.59, 0.70, 0.55]),
        ([0.7, 0.9], [0.71, 0.72]),
    ],
)
def test_welch_matches_scipy_and_formula(a, b):
    diff, lo, hi, p, d = welch(a, b)
    x, y = np.asarray(a), np.asarray(b)
    assert diff == pytest.approx(x.mean() - y.mean())
    assert p == pytest.approx(st.ttest_ind(x, y, equal_var=False).pvalue)
    # Welch interval by the explicit formula.
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    df = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    half = st.t.ppf(0.975, df) * math.sqrt(va + vb)
    assert lo == pytest.approx(diff - half)
    assert hi == pytest.approx(diff + half)
    pooled = math.sqrt(
        ((len(x) - 1) * x.var(ddof=1) + (len(y) - 1) * y.var(ddof=1)) / (len(x) + len(y) - 2)
    )
    assert d == pytest.approx(diff / pooled)


def test_welch_n1_not_testable():
    diff, lo, hi, p, d = welch([0.8], [0.7, 0.72])
    assert diff == pytest.approx(0.09)
    assert (lo, hi, p, d) == (None, None, None, None)


def test_welch_zero_variance_equal_constants():
    assert welch([0.8, 0.8, 0.8], [0.8, 0.8]) == (0.0, 0.0, 0.0, 1.0, None)


def test_welch_zero_variance_different_constants():
    diff, lo, hi, p, d = welch([0.7, 0.7, 0.7], [0.8, 0.8, 0.8])
    assert diff == pytest.approx(-0.1)
    assert lo == hi == diff
    assert p == 0.0
    assert d is None


def test_welch_one_constant_group_no_warning_and_formula():
    a, b = [0.81, 0.81, 0.81], [0.70, 0.72, 0.75]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        diff, lo, hi, p, d = welch(a, b)
    vb = np.var(b, ddof=1) / 3
    t = (0.81 - np.mean(b)) / math.sqrt(vb)
    df = 2.0  # Welch–Satterthwaite with one zero variance: df = n_b - 1
    assert p == pytest.approx(2 * st.t.sf(t, df))
    assert hi - lo == pytest.approx(2 * st.t.ppf(0.975, df) * math.sqrt(vb))
    assert all(math.isfinite(v) for v in (diff, lo, hi, p, d))


# ---- holm -----------------------------------------------------------------------------


def test_holm_fixed_list():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_none_passes_through_and_not_counted():
    out = holm([0.01, None, 0.04])
    assert out[1] is None
    assert out[0] == pytest.approx(0.02)
    assert out[2] == pytest.approx(0.04)
    assert holm([None, None]) == [None, None]
    assert holm([]) == []


def test_holm_monotone_and_capped():
    assert holm([0.3, 0.2, 0.5]) == pytest.approx([0.6, 0.6, 0.6])
    assert holm([0.9, 0.6]) == pytest.approx([1.0, 1.0])
    assert holm([0.04]) == [0.04]
    with pytest.raises(ValueError):
        holm([float("nan")])


# ---- verdict and p formatting ---------------------------------------------------------


@pytest.mark.parametrize(
    "p, text",
    [
        (0.0, "p<0.001"),
        (0.0004, "p<0.001"),
        (0.001, "p=0.001"),
        (0.003, "p=0.003"),
        (0.00345, "p=0.0034"),
        (0.41, "p=0.41"),
        (0.414, "p=0.41"),
        (0.999, "p=1"),
        (1.0, "p=1"),
    ],
)
def test_format_p(p, text):
    assert format_p(p) == text


def test_format_p_does_not_round_across_alpha():
    assert format_p(0.0496, 0.05) == "p=0.0496"
    assert format_p(0.0496) == "p=0.05"
    assert format_p(0.0504, 0.05) == "p=0.05"


def test_verdict_wording():
    assert verdict("learned", "glove", -0.09, 0.003) == ("glove", "glove better (p=0.003)")
    assert verdict("learned", "glove", 0.09, 0.003) == ("learned", "learned better (p=0.003)")
    assert verdict("learned", "glove", 0.01, 0.41) == (None, "no significant difference (p=0.41)")
    assert verdict("a", "b", 0.0, 1.0) == (None, "no significant difference (p=1)")
    assert verdict("a", "b", 0.1, None, n=1) == (None, "not testable (n=1)")
    assert verdict("a", "b", 0.1, 0.03, alpha=0.01)[0] is None


# ---- summarize ------------------------------------------------------------------------


def test_group_labels_and_edge_cases():
    s = summarize(
        [
            (10, "a", 0.812),
            *[(20, "a", 0.812)] * 3,
            *[(20, "b", v) for v in (0.80, 0.83, 0.81)],
        ]
    )
    assert s.group(10, "a").label() == "0.812 (n=1, no interval)"
    assert s.group(20, "a").label() == "0.812 ± 0.000 (3)"
    # 0.8133 ± t(0.975, 2) * 0.015275 / sqrt(3) = 4.302653 * 0.008819 = 0.0379
    assert s.group(20, "b").label() == "0.813 ± 0.038 (3)"
    assert s.group(10, "b") is None
    _no_nan(s)


def test_summary_structure_and_order():
    cells = [
        (200, "glove", 0.71),
        (10, "learned", 0.55),
        (10, "glove", 0.60),
        (200, "learned", 0.62),
        (10, "glove-tuned", 0.58),
    ]
    s = summarize(cells, arms=["learned", "glove", "glove-tuned"], chance=0.51)
    assert s.arms == ("learned", "glove", "glove-tuned")
    assert s.sizes == (10, 200)
    assert [(g.size, g.arm) for g in s.groups] == [
        (10, "learned"),
        (10, "glove"),
        (10, "glove-tuned"),
        (200, "learned"),
        (200, "glove"),
    ]
    assert [(c.size, c.arm_a, c.arm_b) for c in s.comparisons] == [
        (10, "learned", "glove"),
        (10, "learned", "glove-tuned"),
        (10, "glove", "glove-tuned"),
        (200, "learned", "glove"),
    ]
    assert [g.size for g in s.curve("glove")] == [10, 200]
    assert s.curve("nope") == []
    assert all(c.verdict == "not testable (n=1)" for c in s.comparisons)
    assert summarize(cells).arms == ("glove", "learned", "glove-tuned")
    with pytest.raises(ValueError):
        summarize(cells, arms=["learned", "glove"])
    with pytest.raises(ValueError):
        summarize(cells, metric="nope")


def test_zero_variance_cells_in_summary():
    s = summarize(
        [(10, "a", 0.8)] * 3 + [(10, "b", 0.8)] * 3 + [(20, "a", 0.7)] * 3 + [(20, "b", 0.9)] * 3
    )
    c10, c20 = s.comparisons
    assert (c10.p, c10.p_holm, c10.better) == (1.0, 1.0, None)
    assert c10.verdict == "no significant difference (p=1)"
    assert (c20.p, c20.p_holm, c20.better) == (0.0, 0.0, "b")
    assert c20.verdict == "b better (p<0.001)"
    _no_nan(s)


def test_same_distribution_gives_no_significant_difference():
    rng = np.random.default_rng(2024)
    cells = [
        (size, arm, float(rng.normal(0.80, 0.02)))
        for size in (10, 50, 200, 500)
        for arm in ("learned", "glove")
        for _ in range(5)
    ]
    s = summarize(cells, alpha=0.05)
    assert len(s.comparisons) == 4
    for c in s.comparisons:
        assert c.better is None
        assert c.verdict.startswith("no significant difference")
        assert c.p_holm >= c.p
    assert "scored higher" not in s.conclusion()


def test_same_distribution_false_positive_rate_is_controlled():
    # Holm keeps the family-wise error at 5%: over 40 null experiments of 4 sizes each,
    # only a few may claim any difference.
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        cells = [
            (size, arm, float(rng.normal(0.8, 0.02)))
            for size in (10, 50, 200, 500)
            for arm in ("learned", "glove")
            for _ in range(5)
        ]
        hits += any(c.better for c in summarize(cells).comparisons)
    assert hits <= 6


def test_separated_arms_right_arm_better():
    rng = np.random.default_rng(7)
    cells = []
    for size, base in ((10, 0.55), (50, 0.62), (200, 0.70)):
        cells += [(size, "learned", float(base + rng.normal(0, 0.01))) for _ in range(5)]
        cells += [(size, "glove", float(base + 0.1 + rng.normal(0, 0.01))) for _ in range(5)]
    s = summarize(cells, arms=["learned", "glove"])
    for c in s.comparisons:
        assert c.better == "glove"
        assert c.diff < 0
        assert c.ci_high < 0
        assert c.cohens_d < -3
        assert c.verdict.startswith("glove better (p")
    text = s.conclusion()
    assert "At every training-set size, glove scored higher than learned." in text
    assert "Holm-adjusted" in text


def test_verdict_uses_holm_p_when_several_comparisons():
    a10, b10 = [0.80, 0.81, 0.82, 0.805], [0.77, 0.78, 0.79, 0.775]
    cells = [(10, "a", v) for v in a10] + [(10, "b", v) for v in b10]
    single = summarize(cells)
    (c,) = single.comparisons
    assert c.p_holm == c.p
    cells += [(20, "a", v) for v in (0.6, 0.7, 0.8)] + [(20, "b", v) for v in (0.62, 0.7, 0.79)]
    several = summarize(cells)
    c10 = several.comparisons[0]
    assert c10.p == pytest.approx(c.p)
    assert c10.p_holm == pytest.approx(min(1.0, 2 * c.p))
    assert format_p(c10.p_holm, 0.05) in c10.verdict


def _sentence(text, start):
    (hit,) = [s for s in text.split(". ") if s.startswith(start)]
    return hit


def test_conclusion_wording():
    cells = []
    for v in (0.60, 0.62, 0.64):  # 10 reviews: overlapping, not significant
        cells += [(10, "learned", v), (10, "glove", v + 0.005)]
    for v in (0.700, 0.705, 0.710):  # 200 reviews: clearly apart
        cells += [(200, "learned", v - 0.09), (200, "glove", v)]
    s = summarize(cells, arms=["learned", "glove"], chance=0.51)
    text = s.conclusion()
    at10 = _sentence(text, "At 10 training reviews")
    assert "no significant difference" in at10
    assert "better" not in at10 and "higher" not in at10
    assert "n=3 seeds per cell" in at10
    at200 = _sentence(text, "At 200 training reviews")
    assert at200.startswith("At 200 training reviews, glove scored higher than learned (0.705 vs")
    assert "Holm-adjusted p<0.001)" in at200
    assert "At every training-set size" not in text
    assert "No arm was significantly better than another at every size" in text
    assert "Chance level (majority class) is 0.510." in text


def test_conclusion_n1_recommends_seeds_and_chance_warning():
    s = summarize(
        [(10, "learned", 0.62), (10, "glove", 0.71)]
        + [(50, "learned", v) for v in (0.50, 0.60, 0.55)]
        + [(50, "glove", v) for v in (0.70, 0.71, 0.72)],
        chance=0.51,
    )
    text = s.conclusion()
    at10 = _sentence(text, "At 10 training reviews")
    assert "no test was possible" in at10
    assert "better" not in at10 and "higher" not in at10
    assert "run at least 3 seeds per cell" in text
    assert "reaches chance for learned at 50 reviews" in text
    _no_nan(s)


def test_conclusion_empty_and_single_arm():
    assert summarize([]).conclusion() == "No runs to summarize."
    text = summarize([(10, "a", 0.6), (10, "a", 0.7)]).conclusion()
    assert "no arms could be compared" in text


def test_stats_import_is_light():
    code = (
        "import sys, embtui.stats, embtui.export.curve; "
        "print(any(m.split('.')[0] in ('tensorflow', 'textual', 'keras') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_welch_p_is_scipys_ttest_ind_exactly():
    """stats._welch_p replaces scipy.stats.ttest_ind(equal_var=False) for speed: it must
    give the very same float on every sample, or the reports' p-values would change."""
    import warnings

    import numpy as np
    from scipy import stats as st

    from embtui.stats import _welch_p

    rng = np.random.default_rng(23)
    for case in range(3000):
        n1, n2 = (int(n) for n in rng.integers(2, 40, size=2))
        scale = 10 ** rng.uniform(-4, 1)
        a = rng.normal(0.7, scale * rng.uniform(0.05, 1), n1)
        b = rng.normal(0.7 + rng.uniform(-0.1, 0.1), scale, n2)
        if case % 4 == 0:  # accuracies of a few hundred reviews: ties and few values
            a, b = np.round(a, 3), np.round(b, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = float(st.ttest_ind(a, b, equal_var=False).pvalue)
        assert _welch_p(a, b) == expected, (case, a, b)
