"""`embtui rm`, `embtui rename`, a failed run's reason in `embtui list`, and the live
progress display counting as the store does (after Ctrl-C: 0/4 done, epoch 5/10)."""

from __future__ import annotations

import io
import re
import sys

import pytest
from rich.console import Console

from embtui.cli import main
from embtui.display import fit_number, short_reason, status_with_reason
from embtui.engine.events import ExperimentFinished, RunFinished, RunStarted, Stage
from embtui.progress import LiveReporter
from embtui.store import EpochMetrics, Store


def _experiment(store: Store, name: str = "exp", runs: int = 2, *, finish: bool = True) -> int:
    exp_id = store.create_experiment(
        name,
        {"epochs": 1, "embeddings": ["learned"]},
        [(10, "learned", s) for s in range(runs)],
        head="flatten",
    )
    if finish:
        for r in store.runs(exp_id):
            store.start_run(r.id, device="CPU", params=1, coverage=None)
            store.add_epoch(EpochMetrics(r.id, 1, 0.5, 0.6, 0.7, 0.625, 0.1))
            store.finish_run(r.id, "done")
        store.set_experiment_status(exp_id, "done")
    return exp_id


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "s.sqlite") as s:
        yield s


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rm_yes_deletes_the_experiment_its_runs_and_checkpoints(store, capsys):
    keep = _experiment(store, "keep")
    gone = _experiment(store, "gone")
    folder = store.checkpoint_folder
    folder.mkdir()
    checkpoint = folder / f"run-{store.runs(gone)[0].id}.npz"
    checkpoint.write_bytes(b"x")
    code, out, err = _run(capsys, "rm", str(gone), "--yes", "--store", str(store.path))
    assert (code, err) == (0, "")
    assert out == f"deleted experiment {gone} 'gone' (done, 2 runs)\n"
    assert [e.id for e in store.experiments()] == [keep]
    assert store.epochs(gone) == {} and store.runs(gone) == []
    assert len(store.epochs(keep)) == 2
    assert not checkpoint.exists()


def test_rm_asks_on_a_terminal_and_deletes_only_on_yes(store, capsys, monkeypatch):
    exp_id = _experiment(store)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    answers = iter(["n", "y"])
    prompts = []
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or next(answers))
    assert _run(capsys, "rm", "latest", "--store", str(store.path))[:2] == (0, "nothing deleted\n")
    assert [e.id for e in store.experiments()] == [exp_id]
    assert prompts == [
        f"delete experiment {exp_id} 'exp' (done, 2 runs) and its epochs? this cannot be "
        "undone [y/N] "
    ]
    assert _run(capsys, "rm", "latest", "--store", str(store.path))[0] == 0
    assert store.experiments() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rm", "1"], "embtui rm 1: not a terminal to ask; add --yes to delete"),
        (["rm", "9", "--yes"], "no experiment with id 9 in"),
        (["rm", "x1", "--yes"], "experiment 'x1': expected an experiment id"),
        (["rename", "1", "a/b"], "name = 'a/b': a non-empty name without slashes"),
        (["rename", "1", "bell\a"], "name = 'bell\\x07': a non-empty name"),
        (["rename", "9", "fine"], "no experiment with id 9 in"),
    ],
)
def test_bad_input_to_rm_and_rename_is_one_line_and_changes_nothing(
    store, capsys, monkeypatch, args, message
):
    _experiment(store)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, out, err = _run(capsys, *args, "--store", str(store.path))
    assert code == 2 and out == ""
    assert err.startswith(f"embtui: error: {message}") and err.count("\n") == 1, err
    assert [(e.id, e.name) for e in store.experiments()] == [(1, "exp")]


def test_rm_refuses_an_experiment_a_live_process_trains(store, capsys):
    exp_id = _experiment(store, finish=False)  # owned by this (live) process, queued
    code, _, err = _run(capsys, "rm", str(exp_id), "--yes", "--store", str(store.path))
    assert code == 2
    assert re.fullmatch(
        rf"embtui: error: experiment {exp_id} is being trained by pid \d+ on \S+; "
        "stop it before deleting it\n",
        err,
    )
    assert [e.id for e in store.experiments()] == [exp_id]


def test_rename_changes_the_name_lists_and_exports_show(store, capsys):
    exp_id = _experiment(store, "old")
    code, out, _ = _run(capsys, "rename", str(exp_id), "baseline 2", "--store", str(store.path))
    assert (code, out) == (0, f"experiment {exp_id}: 'old' is now 'baseline 2'\n")
    assert store.experiment(exp_id).name == "baseline 2"
    assert store.experiment(exp_id).config == {"epochs": 1, "embeddings": ["learned"]}
    _, listing, _ = _run(capsys, "list", "--store", str(store.path))
    assert listing.splitlines()[1].split()[:4] == [str(exp_id), "baseline", "2", "done"]


def test_list_shows_why_a_run_failed(store, capsys, monkeypatch):
    exp_id = _experiment(store, runs=2, finish=False)
    ok, bad = store.runs(exp_id)
    store.start_run(ok.id, device="CPU", params=1, coverage=None)
    store.add_epoch(EpochMetrics(ok.id, 1, 0.5, 0.6, 0.7, 0.625, 0.1))
    store.finish_run(ok.id, "done")
    store.start_run(bad.id, device="CPU", params=1, coverage=None)
    store.add_epoch(EpochMetrics(bad.id, 1, 294264872.96, 0.5, 0.7, 0.5, 0.1))
    store.finish_run(bad.id, "failed", "loss became NaN at epoch 2")
    store.set_experiment_status(exp_id, "failed")
    monkeypatch.setenv("COLUMNS", "120")
    code, out, err = _run(capsys, "list", str(exp_id), "--store", str(store.path))
    assert (code, err) == (0, "")
    cells = {
        row[0]: row
        for line in out.splitlines()[2:]  # after the experiment's line and the headers
        for row in [[c.strip() for c in line.split("  ") if c.strip()]]
    }
    assert cells[str(bad.id)][4:] == ["failed: NaN", "1", "0.5000", "loss became NaN at epoch 2"]
    assert cells[str(ok.id)][4:] == ["done", "1", "0.6250"]


def test_values_and_reasons_fit_their_columns():
    assert fit_number(294264872.96) == "2.94e8"
    assert fit_number(294264872.96, 8) == "2.94e+08"
    assert fit_number(0.69314718) == "0.6931"
    assert fit_number(12.3456) == "12.346"
    assert fit_number(None) == "–"
    assert fit_number(float("nan")) == "nan"
    for value in (294264872.96, 12345.6, -0.5, 3e12, 1e-7, 999.99):
        assert len(fit_number(value)) <= 6, value
    assert short_reason("loss became NaN at epoch 2") == "NaN"
    assert short_reason("val_loss became infinite at epoch 4") == "inf"
    assert short_reason("ResourceExhaustedError: OOM when allocating tensor") == "OOM"
    assert short_reason("ValueError: bad shape (traceback in /x.log)") == "err"
    assert status_with_reason("failed", "loss became NaN at epoch 2") == "failed: NaN"
    assert status_with_reason("done", None) == "done"
    assert max(len(status_with_reason("failed", e)) for e in ("x", "OOM", "NaN")) <= len(
        "interrupted"
    )


def _progress_text(reporter: LiveReporter) -> str:
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    console.print(reporter.progress.get_renderable())
    return console.export_text()


def test_after_ctrl_c_the_progress_display_counts_as_the_store_does():
    """A grid of 4 runs of 10 epochs stopped during its first run's epoch 5: the store says
    0/4 done and the run stopped at epoch 5 of 10; so does the display."""
    reporter = LiveReporter(epochs=10)
    reporter(Stage(1, "loading TensorFlow"))
    reporter(RunStarted(1, 1, 0, 4, 100, "learned", 0, "CPU"))
    for epoch in range(1, 6):
        reporter(EpochMetrics(1, epoch, 0.5, 0.6, 0.7, 0.6, 0.1))
    reporter(RunFinished(1, 1, "cancelled"))
    reporter(ExperimentFinished(1, "cancelled"))
    lines = _progress_text(reporter).splitlines()
    runs = next(line for line in lines if line.startswith("runs"))
    epochs = next(line for line in lines if line.startswith("epochs"))
    assert re.search(r"\b0/4\b", runs) and "cancelled" in runs, runs
    assert re.search(r"\b5/10\b", epochs), epochs


def test_a_resumed_grid_counts_the_runs_done_before_it():
    reporter = LiveReporter(epochs=2, done=2)
    reporter(RunStarted(1, 3, 2, 4, 100, "glove", 0, "CPU"))
    reporter(EpochMetrics(3, 1, 0.5, 0.6, 0.7, 0.6, 0.1))
    reporter(EpochMetrics(3, 2, 0.5, 0.6, 0.7, 0.6, 0.1))
    reporter(RunFinished(1, 3, "done"))
    reporter(RunStarted(1, 4, 3, 4, 100, "glove", 1, "CPU"))
    reporter(RunFinished(1, 4, "failed", "loss became NaN at epoch 1"))
    text = _progress_text(reporter)
    assert re.search(r"runs.*\b3/4\b", text), text
