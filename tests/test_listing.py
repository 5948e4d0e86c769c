"""`embtui list`: one line per experiment, `list ID` for its runs, --json and --csv for
scripts (issue 23); real stores, through the CLI's entry function."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from embtui.cli import main
from embtui.store import EpochMetrics, Store


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def grid(store: Store, name: str, runs: int = 3, done: int = 1) -> int:
    """An experiment of `runs` runs (sizes 10 and 50, two arms), `done` of them finished
    with two epochs, the next one failed with NaN."""
    cells = [(10 if i % 2 == 0 else 50, "learned" if i % 3 else "glove", i) for i in range(runs)]
    exp_id = store.create_experiment(name, {"sizes": [10, 50]}, cells, head="flatten")
    for i, r in enumerate(store.runs(exp_id)[: done + 1]):
        store.start_run(r.id, device="CPU", params=1, coverage=None)
        for n in (1, 2):
            store.add_epoch(EpochMetrics(r.id, n, 0.6, 0.7, 0.65, 0.5 + n / 10 + i / 100, 0.1))
        if i < done:
            store.finish_run(r.id, "done")
        else:
            store.finish_run(r.id, "failed", "loss became NaN at epoch 3")
    store.set_experiment_status(exp_id, "failed")
    return exp_id


@pytest.fixture
def several(tmp_path: Path) -> Path:
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        grid(store, "seed-grid")
        grid(store, "lr sweep", runs=4, done=2)
        grid(store, '=HYPERLINK("http://x")', runs=1, done=0)
        grid(store, "grid\x1b[2J\x07", runs=2, done=1)
    return path


def test_one_line_per_experiment_in_plain_columns(several, capsys):
    code, out, err = run(capsys, "list", "--store", str(several))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [re.split(r"\s{2,}", line.strip())[:4] for line in lines] == [
        ["ID", "NAME", "STATUS", "RUNS"],
        ["1", "seed-grid", "failed", "1/3"],
        ["2", "lr sweep", "failed", "2/4"],
        ["3", '=HYPERLINK("http://x")', "failed", "0/1"],
        ["4", "grid\\x1b[2J\\x07", "failed", "1/2"],
    ]
    # columns line up: every status starts, and every run count ends, where its header does
    status_at, runs_end = lines[0].index("STATUS"), lines[0].index("RUNS") + 4
    assert all(line[status_at:].startswith("failed") for line in lines[1:])
    assert all(line[:runs_end].endswith(("1/3", "2/4", "0/1", "1/2")) for line in lines[1:])
    assert "\x1b" not in out and "\x07" not in out
    assert not set(out) & set("│┃━─┏┗╭"), "no box drawing"
    assert max(map(len, lines)) < 80


def test_forty_experiments_of_a_hundred_runs_are_forty_one_lines(tmp_path, capsys):
    path = tmp_path / "big.sqlite"
    with Store(path) as store:
        for k in range(40):
            store.create_experiment(f"e{k}", {}, [(10, "learned", s) for s in range(100)])
    code, out, _ = run(capsys, "list", "--store", str(path))
    assert code == 0
    assert len(out.splitlines()) == 41
    assert out.splitlines()[-1].split()[:4] == ["40", "e39", "queued", "0/100"]


def test_list_id_shows_one_experiments_runs(several, capsys):
    code, out, err = run(capsys, "list", "2", "--store", str(several))
    assert (code, err) == (0, "")
    head, columns, *rows = out.splitlines()
    assert head.startswith("experiment 2: lr sweep  failed  2/4 runs done  created 20")
    assert columns.split() == ["RUN", "SIZE", "ARM", "SEED", "STATUS", "EPOCHS", "VAL_ACC", "ERROR"]
    assert [[c.strip() for c in row.split("  ") if c.strip()] for row in rows] == [
        ["4", "10", "glove", "0", "done", "2", "0.7000"],
        ["5", "50", "learned", "1", "done", "2", "0.7100"],
        ["6", "10", "learned", "2", "failed: NaN", "2", "0.7200", "loss became NaN at epoch 3"],
        ["7", "50", "glove", "3", "queued", "0", "–"],
    ]
    assert run(capsys, "list", "latest", "--store", str(several))[1].startswith(
        "experiment 4: grid\\x1b[2J\\x07  failed"
    )


def test_json_for_scripts(several, capsys):
    code, out, _ = run(capsys, "list", "--json", "--store", str(several))
    assert code == 0
    rows = json.loads(out)
    assert [(r["id"], r["name"], r["status"], r["runs_done"], r["runs_total"]) for r in rows] == [
        (1, "seed-grid", "failed", 1, 3),
        (2, "lr sweep", "failed", 2, 4),
        (3, '=HYPERLINK("http://x")', "failed", 0, 1),
        (4, "grid\x1b[2J\x07", "failed", 1, 2),
    ]
    assert "\x1b" not in out  # JSON escapes it: \u001b
    code, out, _ = run(capsys, "list", "2", "--json", "--store", str(several))
    exp = json.loads(out)
    assert (exp["id"], exp["runs_done"], exp["runs_total"]) == (2, 2, 4)
    assert [(r["id"], r["epochs"], r["val_acc"], r["status"]) for r in exp["runs"]] == [
        (4, 2, 0.7, "done"),
        (5, 2, 0.71, "done"),
        (6, 2, 0.72, "failed"),
        (7, 0, None, "queued"),
    ]
    assert exp["runs"][2]["error"] == "loss became NaN at epoch 3"
    assert exp["runs"][0]["factors"] == {"embeddings": "glove", "head": "flatten"}


def test_csv_for_scripts_escapes_and_never_starts_a_formula(several, capsys):
    code, out, _ = run(capsys, "list", "--csv", "--store", str(several))
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == [
        "id",
        "name",
        "status",
        "runs_done",
        "runs_total",
        "created",
        "finished",
    ]
    assert [r["name"] for r in rows] == [
        "seed-grid",
        "lr sweep",
        '\'=HYPERLINK("http://x")',
        "grid\\x1b[2J\\x07",
    ]
    code, out, _ = run(capsys, "list", "2", "--csv", "--store", str(several))
    runs = list(csv.DictReader(io.StringIO(out)))
    assert [(r["id"], r["epochs"], r["val_acc"], r["error"]) for r in runs] == [
        ("4", "2", "0.7", ""),
        ("5", "2", "0.71", ""),
        ("6", "2", "0.72", "loss became NaN at epoch 3"),
        ("7", "0", "", ""),
    ]


def test_an_empty_store_and_an_unknown_id(tmp_path, capsys):
    path = tmp_path / "empty.sqlite"
    Store(path).close()
    assert run(capsys, "list", "--store", str(path)) == (0, f"no experiments yet in {path}\n", "")
    assert run(capsys, "list", "--json", "--store", str(path))[1] == "[]\n"
    code, out, err = run(capsys, "list", "7", "--store", str(path))
    assert (code, out) == (2, "")
    assert err == f"embtui: error: no experiment with id 7 in {path}\n"
    with pytest.raises(SystemExit) as exited:  # argparse's usage error: one line, 2
        main(["list", "--json", "--csv", "--store", str(path)])
    assert exited.value.code == 2 and capsys.readouterr().err.count("\n") == 1
