"""Exports: what `embtui export` writes, checked against the per-run numbers it exports.

Trained experiments (the CLI's tiny grid and a 3-seed grid trained in this process) show
that the Markdown, CSV and JSON agree with each other and with scipy recomputed from the
JSON's own per-run values; hand-made stores pin the wording and edge cases exactly.
"""

from __future__ import annotations

import csv
import io
import json
import platform
import re
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as st

from embtui import __version__
from embtui.config import ExperimentConfig
from embtui.export import TEXT_FORMATS, render
from embtui.export.json import to_json
from embtui.report.model import build_report
from embtui.store import Store
from embtui.sysmetrics import format_bytes
from tests.helpers import record_experiment

ALPHA = 0.05


def tensorflow_version() -> str:
    for dist in ("tensorflow", "tensorflow-cpu"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    raise AssertionError("TensorFlow is not installed")


def section(md: str, title: str) -> str:
    """The text of one `## title` section, without its heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", md, re.M | re.S)
    assert match, f"no section {title!r} in:\n{md}"
    return match.group(1)


def table_rows(text: str) -> list[list[str]]:
    """Body rows of the first Markdown table in `text`, as stripped cells."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]


def finals(doc: dict) -> dict[tuple[int, str], list[float]]:
    """Final-epoch val_acc of every done run, by (size, arm), in seed order."""
    out: dict[tuple[int, str], list[float]] = {}
    for run in sorted(doc["runs"], key=lambda r: r["seed"]):
        if run["status"] == "done" and run["epochs"]:
            out.setdefault((run["size"], run["embedding"]), []).append(run["epochs"][-1]["val_acc"])
    return out


def p_text(p: float) -> str:
    """The documented p format: p<0.001, else two significant figures, more where two would
    round across alpha."""
    if p < 0.001:
        return "p<0.001"
    for digits in range(2, 7):
        text = f"{p:.{digits}g}"
        if (float(text) < ALPHA) == (p < ALPHA):
            break
    return f"p={text}"


def expected_comparison(a: np.ndarray, b: np.ndarray) -> tuple:
    """``(diff, p, ci_low, ci_high, d)``: Welch's test as scipy computes it, and Cohen's d
    with the pooled sd. Where scipy has no answer (both samples constant: NaN) the rule
    that stats.py documents: p 1 for equal constants, else 0, and a zero-width interval."""
    diff = a.mean() - b.mean()
    # A constant sample's variance is exactly 0 (numpy's can come out as 1e-33 for 0.7s).
    var_a, var_b = (0.0 if np.ptp(x) == 0 else x.var(ddof=1) for x in (a, b))
    pooled = np.sqrt(((len(a) - 1) * var_a + (len(b) - 1) * var_b) / (len(a) + len(b) - 2))
    d = diff / pooled if pooled > 0 else None
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return diff, (1.0 if diff == 0 else 0.0), diff, diff, d
    welch = st.ttest_ind(a, b, equal_var=False)
    ci = welch.confidence_interval(0.95)
    return diff, welch.pvalue, ci.low, ci.high, d


def holm(ps: list[float]) -> list[float]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    out = [0.0] * len(ps)
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (len(ps) - k) * ps[i]))
        out[i] = running
    return out


# -- the CLI's tiny grid (2 seeds) ----------------------------------------------------------


@pytest.fixture(scope="module")
def exported(cli_exports) -> dict[str, str]:
    return {"md": cli_exports.md, "json": json.dumps(cli_exports.json2), "csv": cli_exports.csv}


def test_markdown_sections_come_in_the_documented_order(exported):
    md = exported["md"]
    assert md.startswith("# embtui experiment 2: seed-grid\n")
    headings = re.findall(r"^## (.*)$", md, re.M)
    assert headings == [
        "Results: final-epoch val_acc",
        "Final and best val_acc by size and arm",
        "Learning curve",
        "Figures",
        "What the models learned",  # the runs kept their arrays (keep_weights = cell)
        "Conclusion",
        "Runs",
        "Configuration",
        "Environment",
    ]
    assert "- Status: **done** (8 runs: 8 done)" in md
    assert "- GloVe: glove.tiny.4d.txt (4-d), vocabulary coverage 37.5%" in md


def test_markdown_results_table_has_the_header_and_a_row_per_size(exported):
    doc = json.loads(exported["json"])
    results = section(exported["md"], "Results: final-epoch val_acc")
    assert "| size | learned | glove | difference | 95% CI | p (Holm) | d | verdict |" in results
    rows = table_rows(results)
    assert [row[0] for row in rows] == ["10", "20"]
    for row, comp in zip(rows, doc["comparisons"], strict=True):
        assert row[3] == f"{comp['diff']:+.3f}"
        assert row[7] == comp["verdict"]


def test_markdown_final_and_best_table_is_the_mean_of_the_runs(exported):
    doc = json.loads(exported["json"])
    text = section(exported["md"], "Final and best val_acc by size and arm")
    assert "| size | learned final | learned best | glove final | glove best |" in text
    expected = []
    for size in (10, 20):
        row = [str(size)]
        for arm in ("learned", "glove"):
            runs = [r for r in doc["runs"] if (r["size"], r["embedding"]) == (size, arm)]
            final = np.mean([r["epochs"][-1]["val_acc"] for r in runs])
            best = np.mean([max(e["val_acc"] for e in r["epochs"]) for r in runs])
            row += [f"{final:.4f}", f"{best:.4f}"]
        expected.append(row)
    assert table_rows(text) == expected


def test_markdown_lists_every_run(exported):
    doc = json.loads(exported["json"])
    rows = table_rows(section(exported["md"], "Runs"))
    expected = []
    for r in doc["runs"]:
        last = r["epochs"][-1]
        expected.append(
            [
                str(r["id"]),
                str(r["size"]),
                r["embedding"],
                str(r["seed"]),
                "done",
                "2",
                f"{last['loss']:.4f}",
                f"{last['val_acc']:.4f}",
                f"{max(e['val_acc'] for e in r['epochs']):.4f}",
                r["device"],
                str(r["params"]),
                "–" if r["coverage"] is None else "37.5%",
                f"{r['wall_s']:.1f} s",
                format_bytes(r["peak_rss_mb"] * 1e6),
                "–",  # no GPU here: no GPU memory or utilisation to show
                "–",
            ]
        )
    assert rows == expected
    assert all(r["wall_s"] > 0 and r["peak_rss_mb"] > 100 for r in doc["runs"])


def test_markdown_has_config_environment_curve_and_conclusion(exported, tmp_path):
    md = exported["md"]
    doc = json.loads(exported["json"])
    config = dict(row for row in table_rows(section(md, "Configuration")))
    assert config["sizes"] == "10, 20"
    assert config["embeddings"] == "learned, glove"
    assert (config["epochs"], config["val_size"], config["vocab_size"]) == ("2", "20", "200")
    # ...and as an experiment file that reruns it: the same configuration, read back.
    from embtui.config import from_mapping, load_toml

    block = section(md, "Configuration").split("```toml\n", 1)[1].split("```", 1)[0]
    rerun = tmp_path / "experiment.toml"
    rerun.write_text(block, encoding="utf-8")
    assert load_toml(rerun) == from_mapping(doc["experiment"]["config"])
    env = section(md, "Environment")
    assert f"- TensorFlow: {tensorflow_version()}" in env
    assert f"- Python: {platform.python_version()}" in env
    assert f"- embtui: {__version__}" in env
    assert f"- Device: {doc['runs'][0]['device']}" in env
    threads = doc["experiment"]["meta"]["threads_per_op"]
    assert f"- Threads per TensorFlow op: {threads}" in env
    curve = section(md, "Learning curve")
    assert "```text" in curve and "o learned" in curve and "x glove" in curve
    conclusion = section(md, "Conclusion").strip()
    assert conclusion == doc["statistics"]["conclusion"]
    assert conclusion.startswith("Metric: final-epoch validation accuracy")
    assert "At 10 training reviews" in conclusion and "At 20 training reviews" in conclusion


EPOCH_HEADER = (
    "epoch,acc,loss,val_acc,val_loss,seconds,run_id,size,arm,seed,head,status,"
    "run_wall_s,run_peak_rss_mb,run_peak_gpu_mem_mb,run_mean_gpu_util"
)
COSTS = ("wall_s", "peak_rss_mb", "peak_gpu_mem_mb", "mean_gpu_util")


def epochs_from_json(doc: dict) -> list[dict]:
    """Every (run, epoch) of a JSON export, as the rows the per-epoch CSV should hold."""
    return [
        {
            **epoch,
            "run_id": run["id"],
            "size": run["size"],
            "arm": run["embedding"],
            "seed": run["seed"],
            "head": run["head"],
            "status": run["status"],
            **{f"run_{key}": run[key] for key in COSTS},
        }
        for run in doc["runs"]
        for epoch in run["epochs"]
    ]


def epochs_from_csv(text: str) -> list[dict]:
    """The per-epoch CSV read back with the csv module, numbers as numbers."""
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    ints, floats = ("epoch", "run_id", "size", "seed"), ("acc", "loss", "val_acc", "val_loss")
    out = []
    for row in rows:
        assert None not in row, row  # no row longer than the header
        typed: dict = dict(row)
        typed.update({k: int(row[k]) for k in ints})
        typed.update({k: float(row[k]) for k in (*floats, "seconds")})
        typed.update(
            {f"run_{k}": float(row[f"run_{k}"]) if row[f"run_{k}"] else None for k in COSTS}
        )
        out.append(typed)
    return out


def test_csv_has_one_row_per_epoch_with_the_json_numbers(exported):
    doc = json.loads(exported["json"])
    text = exported["csv"]
    assert text.splitlines()[0] == EPOCH_HEADER
    rows = epochs_from_csv(text)
    assert len(rows) == sum(len(r["epochs"]) for r in doc["runs"]) == 8 * 2
    assert rows == epochs_from_json(doc)  # full precision, exactly
    assert [row["epoch"] for row in rows] == [1, 2] * 8


def test_summary_csv_has_one_row_per_cell_with_the_json_numbers(exported, cli_experiment):
    doc = json.loads(exported["json"])
    with Store(cli_experiment.store, create=False) as store:
        text = render(build_report(store, doc["experiment"]["id"]), "summary-csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(int(r["size"]), r["arm"]) for r in rows] == [
        (s["size"], s["embedding"]) for s in doc["summary"]
    ]
    for row, s in zip(rows, doc["summary"], strict=True):
        assert int(row["n"]) == s["n"] == 2
        assert row["metric"] == "final"
        for key in ("mean", "sd", "ci_low", "ci_high", "final_val_acc_mean", "best_val_acc_mean"):
            assert float(row[key]) == s[key], key  # full precision, exactly


# -- statistics end to end (issue 4): a 3-seed grid ------------------------------------------


@pytest.fixture(scope="module")
def three_exported(three_seed_experiment, run_cli_many) -> tuple[dict, str]:
    store = three_seed_experiment.store
    results = run_cli_many(
        [["export", "latest", "--format", fmt, "--store", store] for fmt in ("json", "md")]
    )
    for result in results:
        assert result.rc == 0 and result.stderr == "", result.stderr
    return json.loads(results[0].stdout), results[1].stdout


def test_exported_cell_statistics_agree_with_scipy_on_the_per_run_values(three_exported):
    doc, _ = three_exported
    values = finals(doc)
    assert len(values) == 4 and {len(v) for v in values.values()} == {3}
    for row in doc["summary"]:
        v = np.array(values[(row["size"], row["embedding"])])
        assert row["values"] == v.tolist()
        assert row["n"] == 3
        assert row["mean"] == pytest.approx(v.mean(), abs=1e-9)
        assert row["sd"] == pytest.approx(v.std(ddof=1), abs=1e-9)
        if np.ptp(v) == 0:  # documented: a constant cell has a zero-width interval
            assert row["ci_low"] == row["ci_high"] == row["mean"]
            continue
        low, high = st.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=st.sem(v))
        assert row["ci_low"] == pytest.approx(low, abs=1e-9)
        assert row["ci_high"] == pytest.approx(high, abs=1e-9)
        assert row["half_width"] == pytest.approx((high - low) / 2, abs=1e-9)


def test_exported_comparisons_agree_with_scipy_and_holm(three_exported):
    doc, _ = three_exported
    values = finals(doc)
    comps = doc["comparisons"]
    assert [(c["size"], c["arm_a"], c["arm_b"]) for c in comps] == [
        (10, "learned", "glove"),
        (20, "learned", "glove"),
    ]
    raw = []
    for c in comps:
        a = np.array(values[(c["size"], "learned")])
        b = np.array(values[(c["size"], "glove")])
        diff, p, low, high, d = expected_comparison(a, b)
        assert c["diff"] == pytest.approx(diff, abs=1e-9)
        assert c["p"] == pytest.approx(p, abs=1e-9)
        assert c["ci_low"] == pytest.approx(low, abs=1e-9)
        assert c["ci_high"] == pytest.approx(high, abs=1e-9)
        assert c["cohens_d"] == (None if d is None else pytest.approx(d, abs=1e-9))
        raw.append(p)
    for c, adjusted in zip(comps, holm(raw), strict=True):
        assert c["p_holm"] == pytest.approx(adjusted, abs=1e-9)
        if adjusted < ALPHA:
            winner = "learned" if c["diff"] > 0 else "glove"
            assert c["better"] == winner
            assert c["verdict"] == f"{winner} better ({p_text(adjusted)})"
        else:
            assert c["better"] is None
            assert c["verdict"] == f"no significant difference ({p_text(adjusted)})"
    assert doc["statistics"]["holm_adjusted"] is True
    assert doc["statistics"]["alpha"] == ALPHA


def test_the_markdown_shows_the_same_numbers_rounded(three_exported):
    doc, md = three_exported
    values = finals(doc)
    rows = table_rows(section(md, "Results: final-epoch val_acc"))
    expected = {
        size: expected_comparison(
            np.array(values[(size, "learned")]), np.array(values[(size, "glove")])
        )
        for size in (10, 20)
    }
    adjusted = holm([expected[size][1] for size in (10, 20)])
    for row, size, p_adj in zip(rows, (10, 20), adjusted, strict=True):
        cells = []
        for arm in ("learned", "glove"):
            v = np.array(values[(size, arm)])
            half = st.t.ppf(0.975, 2) * st.sem(v)
            cells.append(f"{v.mean():.3f} ± {half:.3f} (3)")
        diff, _, low, high, d = expected[size]
        verdict = (
            f"{'learned' if diff > 0 else 'glove'} better ({p_text(p_adj)})"
            if p_adj < ALPHA
            else f"no significant difference ({p_text(p_adj)})"
        )
        assert row == [
            str(size),
            *cells,
            f"{diff:+.3f}",
            f"[{low:+.3f}, {high:+.3f}]",
            p_text(p_adj),
            "–" if d is None else f"{d:+.2f}",
            verdict,
        ]
    chance = doc["statistics"]["chance"]
    assert f"Chance level (majority class) is {chance:.3f}." in section(md, "Conclusion")


# -- hand-made stores: exact wording and edge cases -----------------------------------------


def synthetic_store(path: Path, values: dict[tuple[int, str], list[float | None]]) -> int:
    """An experiment whose run (size, arm, seed i) ends at val_acc values[(size, arm)][i];
    None makes that run fail before its first epoch."""
    sizes = sorted({s for s, _ in values})
    arms = list(dict.fromkeys(a for _, a in values))
    seeds = max(len(v) for v in values.values())
    cfg = ExperimentConfig(
        name="synthetic", sizes=tuple(sizes), embeddings=tuple(arms), seeds=seeds, epochs=2
    )
    runs = [(s, a, i, v) for s in sizes for a in arms for i, v in enumerate(values.get((s, a), []))]
    with Store(path) as store:
        return record_experiment(store, cfg.name, cfg.to_dict(), runs)


def report_text(path: Path, exp: int, fmt: str) -> str:
    with Store(path, create=False) as store:
        return render(build_report(store, exp), fmt)


def test_the_p_column_agrees_with_the_verdict_next_to_it(tmp_path):
    """p = 0.0498: two significant figures would show 'p=0.05' beside a 'better' verdict."""
    path = tmp_path / "s.sqlite"
    exp = synthetic_store(
        path,
        {(10, "learned"): [0.60, 0.62, 0.64], (10, "glove"): [0.5527, 0.5777, 0.5927]},
    )
    p = st.ttest_ind([0.60, 0.62, 0.64], [0.5527, 0.5777, 0.5927], equal_var=False).pvalue
    assert 0.0495 < p < 0.05
    row = table_rows(section(report_text(path, exp, "md"), "Results: final-epoch val_acc"))[0]
    assert row[7] == "learned better (p=0.0498)"
    assert row[5] == "p=0.0498"


def test_clearly_separated_arms_are_called_and_overlapping_ones_are_not(tmp_path):
    path = tmp_path / "s.sqlite"
    exp = synthetic_store(
        path,
        {
            (10, "learned"): [0.51, 0.53, 0.52, 0.50],
            (10, "glove"): [0.52, 0.50, 0.53, 0.51],
            (50, "learned"): [0.60, 0.61, 0.62, 0.605],
            (50, "glove"): [0.70, 0.71, 0.72, 0.705],
        },
    )
    doc = json.loads(report_text(path, exp, "json"))
    verdicts = {c["size"]: c["verdict"] for c in doc["comparisons"]}
    assert verdicts[10].startswith("no significant difference (p=")
    assert re.fullmatch(r"glove better \(p(<0\.001|=0\.00\d+)\)", verdicts[50])
    conclusion = doc["statistics"]["conclusion"]
    assert "At 50 training reviews, glove scored higher than learned" in conclusion
    assert "No arm was significantly better than another at every size." in conclusion


def test_single_runs_failed_runs_and_missing_cells_are_shown_not_hidden(tmp_path):
    path = tmp_path / "s.sqlite"
    exp = synthetic_store(
        path, {(10, "learned"): [0.55], (10, "glove"): [0.6, None], (20, "learned"): [0.7]}
    )
    md = report_text(path, exp, "md")
    doc = json.loads(report_text(path, exp, "json"))
    rows = table_rows(section(md, "Results: final-epoch val_acc"))
    assert rows[0][:3] == ["10", "0.550 (n=1, no interval)", "0.600 (n=1, no interval)"]
    assert rows[0][3:] == ["-0.050", "–", "–", "–", "not testable (n=1)"]
    assert rows[1] == ["20", "0.700 (n=1, no interval)", "–", "–", "–", "–", "–", "–"]
    runs = table_rows(section(md, "Runs"))
    assert runs[2][4] == "failed (ValueError: boom)" and runs[2][5] == "0"
    assert "- Status: **done** (4 runs: 3 done, 1 failed)" in md
    summary = {(s["size"], s["embedding"]): s for s in doc["summary"]}
    assert summary[(10, "glove")]["n"] == 1  # the failed run is not counted
    assert summary[(10, "glove")]["ci_low"] is None
    failed = [r for r in doc["runs"] if r["status"] == "failed"]
    assert [(r["error"], r["epochs"]) for r in failed] == [("ValueError: boom", [])]
    assert "run at least 3 seeds per cell" in doc["statistics"]["conclusion"]


@pytest.mark.filterwarnings("ignore:Precision loss occurred:RuntimeWarning")
def test_constant_cells_follow_the_documented_rules_without_nan(tmp_path):
    """One constant side: scipy's Welch test; both constant: p is 0 or 1, no NaN anywhere."""
    path = tmp_path / "s.sqlite"
    values = {
        (10, "learned"): [0.5, 0.5, 0.5],
        (10, "glove"): [0.6, 0.62, 0.64],
        (20, "learned"): [0.5, 0.5, 0.5],
        (20, "glove"): [0.7, 0.7, 0.7],
        (30, "learned"): [0.55, 0.55, 0.55],
        (30, "glove"): [0.55, 0.55, 0.55],
    }
    exp = synthetic_store(path, values)
    text = report_text(path, exp, "json")
    assert "NaN" not in text
    comps = json.loads(text)["comparisons"]
    expected = [
        expected_comparison(np.array(values[(s, "learned")]), np.array(values[(s, "glove")]))
        for s in (10, 20, 30)
    ]
    for c, (diff, p, low, high, d), p_adj in zip(
        comps, expected, holm([e[1] for e in expected]), strict=True
    ):
        assert (c["diff"], c["p"], c["ci_low"], c["ci_high"]) == pytest.approx(
            (diff, p, low, high), abs=1e-9
        )
        assert c["cohens_d"] == (None if d is None else pytest.approx(d, abs=1e-9))
        assert c["p_holm"] == pytest.approx(p_adj, abs=1e-9)
    assert [c["verdict"] for c in comps][1:] == [
        "glove better (p<0.001)",
        "no significant difference (p=1)",
    ]


@pytest.mark.parametrize(
    ("metric", "title", "shift"),
    [
        ("final", "final-epoch val_acc", 0.0),
        ("best", "best-epoch val_acc", 0.01),  # epoch 1 is 0.01 higher than the last
        ("at_min_val_loss", "val_acc at the epoch of lowest val_loss", 0.0),  # epoch 2
    ],
)
def test_the_compared_metric_can_be_chosen(metric, title, shift, tmp_path):
    path = tmp_path / "s.sqlite"
    values = {(10, "learned"): [0.5, 0.52, 0.56], (10, "glove"): [0.6, 0.61, 0.65]}
    exp = synthetic_store(path, values)
    with Store(path, create=False) as store:
        report = build_report(store, exp, metric=metric)
    doc = json.loads(render(report, "json"))
    assert f"## Results: {title}\n" in render(report, "md")
    for row in doc["summary"]:
        expected = np.array(values[(row["size"], row["embedding"])]) + shift
        assert row["metric"] == metric
        assert row["values"] == pytest.approx(expected.tolist(), abs=1e-12)
        assert row["mean"] == pytest.approx(expected.mean(), abs=1e-12)


def test_csv_rows_are_the_stored_epochs_of_every_run_that_has_any(tmp_path):
    """Keras CSVLogger's columns, epochs from 1, exact floats; a failed run adds no row."""
    path = tmp_path / "s.sqlite"
    exp = synthetic_store(
        path,
        {(10, "learned"): [0.6123456789, 0.5], (10, "glove"): [None, 0.7], (20, "glove"): [1 / 3]},
    )
    with Store(path, create=False) as store:
        report = build_report(store, exp)
        stored = store.epochs(exp)
    text = render(report, "csv")
    assert "\r" not in text and text.endswith("\n")
    assert text.split("\n", 1)[0] == EPOCH_HEADER
    rows = epochs_from_csv(text)
    assert rows == epochs_from_json(json.loads(to_json(report)))
    assert len(rows) == sum(len(e) for e in stored.values()) == 4 * 2
    assert {row["status"] for row in rows} == {"done"}
    assert [(row["size"], row["arm"], row["seed"], row["epoch"]) for row in rows] == [
        (10, "learned", 0, 1),
        (10, "learned", 0, 2),
        (10, "learned", 1, 1),
        (10, "learned", 1, 2),
        (10, "glove", 1, 1),
        (10, "glove", 1, 2),
        (20, "glove", 0, 1),
        (20, "glove", 0, 2),
    ]
    final = rows[1]  # (10, learned, seed 0) at its last epoch
    assert final["val_acc"] == 0.6123456789 and final["head"] == "flatten"
    assert rows[-1]["val_acc"] == 1 / 3


def test_summary_csv_is_the_per_cell_statistics(tmp_path):
    path = tmp_path / "s.sqlite"
    values = {(10, "learned"): [0.5, 0.52, 0.56], (10, "glove"): [0.6, 0.61, None]}
    exp = synthetic_store(path, values)
    text = report_text(path, exp, "summary-csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert text.split("\n", 1)[0] == (
        "size,arm,n,metric,mean,sd,ci_low,ci_high,final_val_acc_mean,best_val_acc_mean"
    )
    assert [(r["size"], r["arm"], r["n"]) for r in rows] == [
        ("10", "learned", "3"),
        ("10", "glove", "2"),
    ]
    assert float(rows[0]["mean"]) == pytest.approx(np.mean([0.5, 0.52, 0.56]), abs=1e-12)
    assert float(rows[1]["final_val_acc_mean"]) == pytest.approx(0.605, abs=1e-12)
    assert float(rows[1]["best_val_acc_mean"]) == pytest.approx(0.615, abs=1e-12)


def test_every_text_format_renders_and_an_unknown_one_is_refused(tmp_path):
    path = tmp_path / "s.sqlite"
    exp = synthetic_store(path, {(10, "learned"): [0.5], (10, "glove"): [0.6]})
    with Store(path, create=False) as store:
        report = build_report(store, exp)
    assert tuple(TEXT_FORMATS) == ("md", "html", "csv", "summary-csv", "json")
    for fmt in TEXT_FORMATS:
        assert render(report, fmt).endswith("\n")
    with pytest.raises(ValueError, match="unknown export format 'xml'"):
        render(report, "xml")


# -- writing export files -------------------------------------------------------------------


def test_export_help_names_every_format_from_the_one_list(capsys):
    """`embtui export --help` lists FORMATS (one home for them) and importing the CLI for
    it loads neither the report nor scipy."""
    import subprocess
    import sys

    from embtui.cli import main
    from embtui.export import FORMATS

    with pytest.raises(SystemExit) as done:
        main(["export", "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(FORMATS) + "}" in text
    for name, what in FORMATS.items():
        assert f"{name}: {what}" in text
    probe = (
        "import sys, embtui.cli; "
        "print(sorted(m for m in ('scipy', 'embtui.report.model') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert loaded.stdout.strip() == "[]", loaded.stderr


def test_a_store_from_before_factor_records_exports_exactly_as_before(
    three_seed_experiment, tmp_path
):
    """A v4 store (runs without factor values) is upgraded on open, and every export of
    its experiment is the same text as before the upgrade."""
    from tests.helpers import copy_store

    path = copy_store(three_seed_experiment.store, tmp_path / "v4.sqlite")
    exp_id = three_seed_experiment.experiment_id
    with Store(path, create=False) as store:
        before = {fmt: render(build_report(store, exp_id), fmt) for fmt in TEXT_FORMATS}
    import sqlite3

    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs DROP COLUMN factors")
    for trigger in ("experiments_high_water", "runs_high_water"):  # v6
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DROP TABLE id_high_water")
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with Store(path, create=False) as store:
        after = {fmt: render(build_report(store, exp_id), fmt) for fmt in TEXT_FORMATS}
    assert after == before
