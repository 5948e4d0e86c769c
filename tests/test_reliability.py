"""Races and paths that would silently corrupt results, each against the real CLI.

Every test starts `embtui` in real subprocesses on a small generated review set and checks
the store afterwards: who trained what, that nothing was trained twice or on other data,
that no process outlives its grid, and that the histories equal an uninterrupted run's.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from embtui.store import Store, checkpoint_path_of
from tests.helpers import (
    SMALL_EPOCHS,
    SMALL_GRID,
    SMALL_RUNS,
    command_line,
    embtui,
    epoch_count,
    flags,
    histories,
    live_processes,
    stat_fields,
    wait_until,
    write_reviews,
)

#: Starts embtui processes that import TensorFlow: not in the quick loop (`-m "not slow"`).
pytestmark = pytest.mark.slow

EPOCHS = SMALL_EPOCHS
KEYS = {**SMALL_GRID, "name": "races"}
RUNS = SMALL_RUNS


def grid(**overrides: str) -> list[str]:
    """The grid's flags, with `overrides` replacing some."""
    return flags(**{**KEYS, **overrides})


def start(store: Path, *extra: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "embtui", "run", "--plain", "--store", str(store), *extra],
        **{"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kw},
        text=True,
        start_new_session=True,  # a process group of its own, like a job in a shell
    )


def wait_for_epochs(store: Path, proc: subprocess.Popen, n: int) -> int:
    """Until `proc` has committed `n` epochs; returns how many the store then holds."""
    return wait_until(
        lambda: (seen := epoch_count(store)) >= n and seen, 120, f"{n} epochs", process=proc
    )


def statuses(store: Path) -> tuple[str, list[str]]:
    with Store(store, create=False) as s:
        exp = s.experiment(s.resolve("latest"))
        return exp.status, [r.status for r in s.runs(exp.id)]


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`."""
    return [child for child, fields in live_processes().items() if int(fields[1]) == pid]


def workers_of(pid: int) -> list[int]:
    """The training worker processes of an `embtui run` (not multiprocessing's tracker)."""
    return [child for child in children(pid) if b"spawn_main" in (command_line(child) or b"")]


def loading_tensorflow(pid: int) -> bool:
    """Whether a worker has got as far as mapping TensorFlow's library (set-up under way)."""
    try:
        with open(f"/proc/{pid}/maps") as handle:
            return "tensorflow" in handle.read()
    except OSError:
        return False


def in_session(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid` (a job started with start_new_session)."""
    return [pid for pid, fields in live_processes().items() if int(fields[3]) == sid]


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def resume(store: Path, **kw) -> subprocess.CompletedProcess:
    return embtui("run", "--resume", "latest", "--plain", "--store", str(store), **kw)


# -- 1. two resumes at once -----------------------------------------------------------------


def test_two_resumes_started_together_train_every_run_exactly_once(reviews, reference, tmp_path):
    store = tmp_path / "s.sqlite"
    proc = start(store, f"--dataset={reviews}", *grid())
    wait_for_epochs(store, proc, 3)
    proc.kill()
    proc.communicate(timeout=60)

    both = [
        subprocess.Popen(
            [sys.executable, "-m", "embtui", "run", "--resume", "latest", "--store", str(store)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=240), *p.communicate()) for p in both]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 2], results
    refused = next(err for rc, _, err in results if rc == 2)
    assert refused.count("\n") == 1 and "Traceback" not in refused
    assert refused.startswith("embtui: error: experiment 1 is being trained by pid ")
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert histories(store) == reference  # every run once, every epoch exactly as uninterrupted


# -- 2. relative paths, at run and at resume -----------------------------------------------


def test_relative_paths_follow_the_experiment_file_and_resume_refuses_changed_data(
    reviews, reference, tmp_path
):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    (d1 / "data.csv").write_bytes(reviews.read_bytes())
    write_reviews(d2 / "data.csv", n=700)  # another data.csv, where the resume is typed
    keys = {**KEYS, "sizes": "[150, 300]", "name": '"races"', "embeddings": '["learned"]'}
    (d1 / "exp.toml").write_text(
        "".join(f"{k} = {v}\n" for k, v in keys.items()) + 'dataset = "data.csv"\n',
        encoding="utf-8",
    )
    store = tmp_path / "s.sqlite"
    # Started from d2: the file's relative dataset is d1/data.csv, not d2's.
    proc = start(store, str(d1 / "exp.toml"), cwd=d2)
    wait_for_epochs(store, proc, 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    with Store(store, create=False) as s:
        exp = s.experiment(1)
        assert exp.config["dataset"] == str(d1 / "data.csv")  # recorded absolute
        assert set(exp.meta["fingerprint"]) >= {"train", "val", "file"}

    # Resumed from d2 as well: still d1's reviews, and exactly the uninterrupted histories.
    again = resume(store, cwd=d2)
    assert again.returncode == 0, again.stderr
    assert histories(store) == reference

    # Now d1's file really changes under a cancelled experiment: refused, store untouched.
    with Store(store, create=False) as s:
        s.claim(1)
        s.reopen_runs(1)
        s.cancel_queued(1)
        s.set_experiment_status(1, "cancelled")
    write_reviews(d1 / "data.csv", n=650)
    before = dump(store)
    refused = resume(store, cwd=d2)
    assert refused.returncode == 2
    assert refused.stderr == (
        f"loading data: {d1 / 'data.csv'}\n"  # the progress, on stderr too
        "embtui: error: experiment 1 cannot resume: the training reviews and the validation "
        "reviews changed (the file's size or modification time differs) since it started "
        f"(dataset {d1 / 'data.csv'}); resume needs the same data\n"
    )
    assert dump(store) == before


def test_the_bundled_quick_experiment_runs_from_any_folder(tmp_path):
    """assets/csv-quick.toml names its data relative to itself: it works from anywhere."""
    toml = Path(__file__).resolve().parents[1] / "assets" / "csv-quick.toml"
    result = embtui(
        "run", str(toml), "--plain", "--store", str(tmp_path / "s.sqlite"), cwd="/", timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "experiment 1 done" in result.stderr  # progress, on stderr


# -- 3. workers die with their parent; Ctrl-C stops them cleanly ----------------------------


def test_a_killed_parent_takes_its_workers_with_it(reviews, tmp_path):
    """Long runs (80 epochs), so that orphaned workers would have plenty left to train."""
    store = tmp_path / "s.sqlite"
    proc = start(
        store, f"--dataset={reviews}", *grid(workers="2", epochs="80", engine="tensorflow")
    )
    wait_for_epochs(store, proc, 2)
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.communicate(timeout=60)
    at_kill = epoch_count(store)
    wait_until(lambda: not any(alive(w) for w in workers), 5, "the workers to die with it")
    # Nobody trains any more: no process of the job (its session) is left at all...
    wait_until(lambda: not in_session(proc.pid), 5, "every process of the job to end")
    # ...and at most the epochs the two workers were committing as the parent died are new.
    assert epoch_count(store) <= at_kill + 2 < 4 * 80

    listing = embtui("list", "--store", str(store))
    assert listing.stdout.splitlines()[1].split()[2] == "interrupted"
    again = resume(store)
    assert again.returncode == 0, again.stderr
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert epoch_count(store) == 4 * 80


def test_ctrl_c_to_the_process_group_stops_the_workers_after_their_epoch(
    reviews, tf_reference, tmp_path
):
    """A terminal sends Ctrl-C to every process of the job: workers must not die of it."""
    reference = tf_reference
    store = tmp_path / "s.sqlite"
    proc = start(store, f"--dataset={reviews}", *grid(workers="2", engine="tensorflow"))
    wait_for_epochs(store, proc, 3)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    status, runs = statuses(store)
    assert status == "cancelled"
    assert "cancelled" in runs and set(runs) <= {"done", "cancelled"}  # nothing failed
    # Every run stopped after an epoch kept a checkpoint and continues from it; a run the
    # Ctrl-C caught before its first epoch (it can fall between one run and the next: a
    # run's 8 epochs take a few milliseconds, the store learns of them a little later)
    # starts over.
    with Store(store, create=False) as s:
        exp = s.resolve("latest")
        stopped = [r.id for r in s.runs(exp) if r.status == "cancelled" and s.run_epochs(r.id)]
    assert all(checkpoint_path_of(store, run).is_file() for run in stopped)
    again = resume(store)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("continuing from the checkpoint after epoch") == len(stopped)
    assert histories(store) == reference


def test_ctrl_c_stops_a_fused_grids_training_threads_after_their_epoch(reviews, tmp_path):
    """`workers = 2` with the fused engine trains in two threads of the one process: Ctrl-C
    stops both after their epoch, each saving its checkpoint, and a resume finishes the grid.
    (Many epochs: a fused epoch of this grid takes about a millisecond.)"""
    store = tmp_path / "s.sqlite"
    many = grid(workers="2", engine="fused", epochs="1500", checkpoint_every="1")
    proc = start(store, f"--dataset={reviews}", *many)
    wait_for_epochs(store, proc, 3)
    assert workers_of(proc.pid) == []  # threads, not processes
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "training 2 runs at once in threads" in err
    status, runs = statuses(store)
    assert status == "cancelled"
    assert "cancelled" in runs and set(runs) <= {"done", "cancelled"}  # nothing failed
    again = resume(store)
    assert again.returncode == 0, again.stderr
    assert "continuing from the checkpoint after epoch" in again.stderr
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert epoch_count(store) == 4 * 1500


# -- 4. a grid whose workers all die is not done ---------------------------------------------


def test_a_grid_whose_workers_all_die_is_interrupted_and_resumable(reviews, tf_reference, tmp_path):
    reference = tf_reference
    store = tmp_path / "s.sqlite"
    proc = start(store, f"--dataset={reviews}", *grid(workers="2", engine="tensorflow"))
    # Killed while they load TensorFlow, before either trains a run.
    workers = wait_until(
        lambda: (
            len(found := [w for w in workers_of(proc.pid) if loading_tensorflow(w)]) >= 2 and found
        ),
        60,
        "two workers loading TensorFlow",
        process=proc,
        interval=0.005,
    )
    for worker in workers:
        os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    status, runs = statuses(store)
    assert status == "interrupted"
    assert "done" not in runs and set(runs) <= {"interrupted", "failed"}
    assert "experiment 1 interrupted" in err

    again = resume(store)
    assert again.returncode == 0, again.stderr
    assert "already done" not in again.stdout + again.stderr
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert histories(store) == reference


# -- output that goes away ------------------------------------------------------------------


def test_a_closed_output_cancels_the_grid_with_a_non_zero_exit(reviews, reference, tmp_path):
    """`embtui run ... 2>&1 | head -4`: the reader of the progress leaves; the grid stops,
    resumable, and no line written after it blocks or fails."""
    store = tmp_path / "s.sqlite"
    proc = start(store, f"--dataset={reviews}", *grid(), stderr=subprocess.STDOUT)
    lines = [proc.stdout.readline() for _ in range(4)]
    assert any(line.startswith("experiment 1: races") for line in lines), lines
    proc.stdout.close()
    proc.wait(timeout=120)
    assert proc.returncode == 128 + signal.SIGPIPE
    status, runs = statuses(store)
    assert status == "cancelled" and "cancelled" in runs
    again = resume(store)
    assert again.returncode == 0, again.stderr
    assert histories(store) == reference


def dump(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()
