"""Sweeps over any factor and comparisons across experiments, through the real CLI.

The statistics of the exports are recomputed here from the JSON's per-run values with scipy
alone; a pooled comparison of two one-arm experiments must equal one two-arm experiment.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from embtui.config import arm_name
from tests.helpers import REAL_CSV, TINY_GRID, copy_store, embtui, flags

pytestmark = pytest.mark.slow

SWEEP = {
    "embeddings": ["learned", "glove"],
    "head": ["flatten", "avgpool"],
    "learning_rate": [0.001, 0.01],
}


def holm(ps: list[float]) -> list[float]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out, running = [0.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - rank) * ps[i]))
        out[i] = running
    return out


def section(md: str, title: str) -> str:
    return md.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> tuple[dict, str]:
    """Issue 14's acceptance sweep on the shared 5k reviews: 2 x 2 x 2 arms, sizes 50 and
    500, 3 seeds, 3 epochs = 48 runs."""
    if not REAL_CSV.is_file():
        pytest.skip(f"shared data {REAL_CSV} is absent")
    folder = tmp_path_factory.mktemp("sweep")
    toml = folder / "sweep.toml"
    toml.write_text(
        f'name = "sweep"\ndataset = "{REAL_CSV}"\nsizes = [50, 500]\nseeds = 3\nepochs = 3\n'
        'embeddings = ["learned", "glove"]\nhead = ["flatten", "avgpool"]\n'
        "learning_rate = [0.001, 0.01]\nval_size = 1000\n",
        encoding="utf-8",
    )
    store = folder / "s.sqlite"
    result = embtui("run", str(toml), "--plain", "--store", str(store), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "experiment 1: sweep (48 runs)" in result.stderr
    doc = embtui("export", "1", "--format", "json", "--store", str(store))
    md = embtui("export", "1", "--format", "md", "--store", str(store))
    assert doc.returncode == 0 and md.returncode == 0, doc.stderr + md.stderr
    return json.loads(doc.stdout), md.stdout


def test_the_sweep_trains_all_48_runs_each_with_its_own_settings(sweep):
    doc, _ = sweep
    runs = doc["runs"]
    assert len(runs) == 48 and {r["status"] for r in runs} == {"done"}
    assert doc["factors"] == ["embeddings", "head", "learning_rate"]
    combos = {
        (r["factors"]["embeddings"], r["factors"]["head"], r["factors"]["learning_rate"])
        for r in runs
    }
    assert combos == set(itertools.product(*SWEEP.values()))
    assert all(len(r["epochs"]) == 3 for r in runs)
    # An avgpool head has fewer parameters than a flatten one: the run built its own model.
    params = {(r["factors"]["embeddings"], r["factors"]["head"]): r["params"] for r in runs}
    assert params[("learned", "avgpool")] < params[("learned", "flatten")]
    assert runs[0]["arm"] == "learned flatten lr=0.001"


def test_the_markdown_says_the_best_arm_the_not_worse_set_and_the_main_effects(sweep):
    doc, md = sweep
    best = section(md, "Results: final-epoch val_acc")
    rows = [
        line
        for line in best.splitlines()
        if line.startswith("| 50 |") or line.startswith("| 500 |")
    ]
    assert len(rows) == 2
    for row, b in zip(rows, doc["sweep"]["best"], strict=True):
        assert f"| {b['best']} |" in row and b["verdict"] in row
        assert (", ".join(b["not_worse"]) or "–") in row
    effects = section(md, "Main effects")
    for factor, level in (
        ("embeddings", "glove"),
        ("head", "avgpool"),
        ("learning_rate", "lr=0.01"),
    ):
        assert f"| {factor} | {level} |" in effects
    assert "[" in effects  # the paired intervals
    assert "## All pairs" in md and "## Conclusion" in md


def test_every_number_is_recomputed_by_scipy_from_the_json(sweep):
    doc, _ = sweep
    keys = ["embeddings", "head", "learning_rate"]
    values: dict = {}
    for r in doc["runs"]:
        values.setdefault((r["size"], arm_name(r["factors"], keys)), []).append(
            (r["seed"], r["epochs"][-1]["val_acc"])
        )
    cell = {k: np.array([v for _, v in sorted(vs)]) for k, vs in values.items()}
    # Per-cell means and intervals.
    for row in doc["summary"]:
        x = cell[(row["size"], row["arm"])]
        assert row["mean"] == pytest.approx(x.mean(), abs=1e-6)
        half = st.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
        assert row["ci_low"] == pytest.approx(x.mean() - half, abs=1e-6)
    # Best arm against every other: Welch, one Holm family over all of them.
    raw = []
    for b in doc["sweep"]["best"]:
        arms = {a: x for (s, a), x in cell.items() if s == b["size"]}
        assert b["best"] == max(arms, key=lambda a: arms[a].mean())
        for other in b["others"]:
            test = st.ttest_ind(arms[b["best"]], arms[other["arm"]], equal_var=False)
            ci = test.confidence_interval(0.95)
            assert other["p"] == pytest.approx(test.pvalue, abs=1e-6)
            assert (other["ci_low"], other["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
            raw.append(test.pvalue)
    got = [o["p_holm"] for b in doc["sweep"]["best"] for o in b["others"]]
    assert got == pytest.approx(holm(raw), abs=1e-6)
    # Main effects: paired over runs matched on the other factors, size and seed.
    runs = doc["runs"]
    raw = []
    for effect, (key, (base, level)) in zip(doc["sweep"]["effects"], SWEEP.items(), strict=True):

        def place(r, key=key):
            return (r["size"], r["seed"], *(repr(r["factors"][k]) for k in keys if k != key))

        a = {place(r): r["epochs"][-1]["val_acc"] for r in runs if r["factors"][key] == level}
        b = {place(r): r["epochs"][-1]["val_acc"] for r in runs if r["factors"][key] == base}
        order = sorted(a)
        test = st.ttest_rel([a[k] for k in order], [b[k] for k in order])
        ci = test.confidence_interval(0.95)
        assert effect["n_pairs"] == 24
        assert effect["diff"] == pytest.approx(np.mean([a[k] - b[k] for k in order]), abs=1e-6)
        assert (effect["ci_low"], effect["ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-6)
        assert effect["p"] == pytest.approx(test.pvalue, abs=1e-6)
        raw.append(test.pvalue)
    assert [e["p_holm"] for e in doc["sweep"]["effects"]] == pytest.approx(holm(raw), abs=1e-6)


# -- comparisons across experiments -----------------------------------------------------------


@pytest.fixture(scope="module")
def three_experiments(tiny, tmp_path_factory) -> Path:
    """One experiment with both arms, then one with learned only and one with glove only:
    the same data, sizes and seeds."""
    store = tmp_path_factory.mktemp("pool") / "s.sqlite"
    for arms in ("learned,glove", "learned", "glove"):
        grid = {**TINY_GRID, "embeddings": arms, "epochs": "3", "seeds": "3"}
        result = embtui(
            "run", *flags(dataset=tiny.csv, glove=tiny.glove, **grid), "--store", str(store)
        )
        assert result.returncode == 0, result.stderr[-2000:]
    return store


def test_two_one_arm_experiments_compare_exactly_as_one_two_arm_experiment(three_experiments):
    store = str(three_experiments)
    one = json.loads(embtui("export", "1", "--format", "json", "--store", store).stdout)
    pooled_run = embtui("export", "2,3", "--format", "json", "--store", store)
    assert pooled_run.returncode == 0, pooled_run.stderr
    pooled = json.loads(pooled_run.stdout)
    assert [e["id"] for e in pooled["experiments"]] == [2, 3]
    assert pooled["arms"] == one["arms"] == ["learned", "glove"]
    assert pooled["comparisons"] == one["comparisons"]  # the same numbers, exactly
    assert pooled["summary"] == one["summary"]
    assert pooled["statistics"]["conclusion"] == one["statistics"]["conclusion"]
    md = embtui("export", "latest,2", "--store", store).stdout
    assert md.startswith("# embtui experiments 3, 2 compared: seed-grid, seed-grid\n")


def test_experiments_validated_on_other_reviews_are_refused_in_one_line(
    tiny, three_experiments, tmp_path
):
    store = copy_store(three_experiments, tmp_path / "s.sqlite")
    other = embtui(
        "run",
        *flags(dataset=tiny.csv, glove=tiny.glove, **{**TINY_GRID, "val_size": "24"}),
        "--store",
        str(store),
    )
    assert other.returncode == 0, other.stderr[-2000:]
    refused = embtui("export", "1,4", "--store", str(store))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith(
        "embtui: error: experiments 1 and 4 were validated on different reviews"
    )
    assert refused.stdout == ""
