"""Fault injection: `embtui run` killed at random points loses nothing and resumes cleanly.

Each case starts the real CLI in a subprocess on a small generated review set, waits until a
randomly chosen number of epochs is in the store, kills it with SIGKILL, SIGINT or SIGHUP
(after a random extra delay, so the signal lands at different points of an epoch), then
checks the store: it passes SQLite's integrity check, every epoch seen before the signal is
still there, each run's epochs are exactly 1..k, the statuses say what happened, and
resuming (from each run's last checkpoint) finishes the experiment with the very histories
of an uninterrupted one.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from embtui.store import Store
from tests.helpers import (
    SMALL_EPOCHS,
    SMALL_GRID,
    SMALL_RUNS,
    embtui,
    epoch_count,
    histories,
    wait_until,
)

#: Starts embtui processes that import TensorFlow: not in the quick loop (`-m "not slow"`).
pytestmark = pytest.mark.slow

EPOCHS = SMALL_EPOCHS
RUNS = SMALL_RUNS
#: The TensorFlow engine: a fused epoch of this grid takes about a millisecond, so a signal
#: sent after epoch k would often land after the whole grid; a TensorFlow epoch is long
#: enough to be hit in flight. (A fused grid stopped by Ctrl-C in its training threads and
#: resumed: tests/test_reliability.py, with many more epochs.)
KEYS = {**SMALL_GRID, "name": "faults", "engine": "tensorflow"}
#: Kill points per signal. Each attempt kills within its own slice of the grid's epochs (a
#: random point in the slice, at a random moment of an epoch). With one attempt per signal
#: (CI, `.ci/run`) the grid is cut in two and the signals take turns (SIGKILL and SIGHUP
#: early, SIGINT late), so an early and a late kill are both still hit; run more to hunt a
#: rare race, e.g. `EMBTUI_FAULT_REPEATS=20 pytest tests/test_faults.py` after touching
#: signals or the store.
REPEATS = int(os.environ.get("EMBTUI_FAULT_REPEATS", "5"))
SLICES = max(REPEATS, 2)
#: Which slice a signal's first attempt takes; its later attempts take the next ones.
FIRST_SLICE = {signal.SIGKILL: 0, signal.SIGHUP: 0, signal.SIGINT: 1}


def run_args(reviews: Path, store: Path) -> list[str]:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in KEYS.items()]
    return ["run", "--plain", "--store", str(store), "--dataset", str(reviews), *flags]


def start_and_signal(
    reviews: Path, store: Path, sig: int, rng: random.Random, attempt: int
) -> tuple[subprocess.Popen, int, int]:
    """Start a grid, signal it after a random number of epochs in one of SLICES slices of
    the grid (the `attempt`-th after the signal's first); returns (proc, seen, target)."""
    last = RUNS * EPOCHS - 4  # at least one more epoch to come after the signal
    part = (FIRST_SLICE[sig] + attempt) % SLICES
    low = 1 + part * last // SLICES
    high = max(low, (part + 1) * last // SLICES)
    target = rng.randint(low, high)
    proc = subprocess.Popen(
        [sys.executable, "-m", "embtui", *run_args(reviews, store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal goes to embtui alone, as from another shell
    )
    wait_until(
        lambda: epoch_count(store) >= target, 120, f"epoch {target} in the store", process=proc
    )
    time.sleep(rng.uniform(0, 0.02))  # not readiness: where in the next epoch the signal lands
    seen = epoch_count(store)
    proc.send_signal(sig)
    return proc, seen, target


def check_store(store_path: Path, seen: int) -> list[tuple[str, int]]:
    """Integrity, nothing lost, epochs 1..k per run; returns (status, epochs) per run."""
    db = sqlite3.connect(store_path)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = db.execute("SELECT count(*) FROM epochs").fetchone()[0]
        assert total >= seen, f"{seen} epochs were committed before the signal, {total} remain"
        out = []
        for run_id, status in db.execute("SELECT id, status FROM runs ORDER BY position"):
            numbers = [
                n
                for (n,) in db.execute(
                    "SELECT epoch FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)
                )
            ]
            assert numbers == list(range(1, len(numbers) + 1)), numbers
            if status == "done":
                assert len(numbers) == EPOCHS
            out.append((status, len(numbers)))
        return out
    finally:
        db.close()


def resume_and_compare(store: Path, reference: dict, runs: list[tuple[str, int]]) -> None:
    """`embtui run --resume latest` finishes it with the uninterrupted histories.

    `runs`: (status, epochs) per run before the resume. A run stopped after two or more
    epochs has a checkpoint (one is written after every epoch here; a kill can at most
    land between an epoch's commit and its checkpoint), so it must continue, not restart.
    """
    result = embtui("run", "--resume", "latest", "--plain", "--store", str(store))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    if any(status != "done" and 2 <= n < EPOCHS for status, n in runs):
        assert "continuing from the checkpoint after epoch" in result.stderr
    with Store(store, create=False) as s:
        exp = s.experiment(s.resolve("latest"))
        assert exp.status == "done"
        assert [r.status for r in s.runs(exp.id)] == ["done"] * RUNS
    assert histories(store) == reference


@pytest.mark.parametrize("attempt", range(REPEATS))
def test_sigkill_mid_grid_leaves_the_finished_epochs_and_resume_completes(
    reviews, tf_reference, tmp_path, attempt
):
    reference = tf_reference
    store = tmp_path / "store.sqlite"
    proc, seen, _ = start_and_signal(
        reviews, store, signal.SIGKILL, random.Random(100 + attempt), attempt
    )
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL

    listing = embtui("list", "--store", str(store))
    assert listing.returncode == 0 and "interrupted" in listing.stdout, listing.stdout
    runs = check_store(store, seen)
    statuses = [s for s, _ in runs]
    assert "interrupted" in statuses
    assert set(statuses) <= {"done", "interrupted"}
    # Done runs come first, in grid order: nothing ran out of turn.
    assert statuses == sorted(statuses, key=lambda s: s != "done")
    resume_and_compare(store, reference, runs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=["SIGINT", "SIGHUP"])
@pytest.mark.parametrize("attempt", range(REPEATS))
def test_sigint_and_sighup_stop_within_an_epoch_cancel_and_resume(
    reviews, tf_reference, tmp_path, sig, attempt
):
    reference = tf_reference
    store = tmp_path / "store.sqlite"
    rng = random.Random(200 + attempt + 10 * int(sig))
    proc, seen, _ = start_and_signal(reviews, store, sig, rng, attempt)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err

    runs = check_store(store, seen)
    # It stopped within one epoch: at most the epoch in flight when the count was read
    # and the one the signal landed in were added after it.
    assert sum(n for _, n in runs) <= seen + 2
    statuses = [s for s, _ in runs]
    assert set(statuses) <= {"done", "cancelled"} and "cancelled" in statuses
    with Store(store, create=False) as s:
        assert s.experiment(s.resolve("latest")).status == "cancelled"
    if sig == signal.SIGINT:
        assert "embtui run --resume" in err
    resume_and_compare(store, reference, runs)


def test_sighup_is_left_alone_under_nohup(reviews, tmp_path):
    """nohup ignores SIGHUP so that a grid outlives the session: embtui keeps it so."""
    store = tmp_path / "store.sqlite"
    proc = subprocess.Popen(
        ["nohup", sys.executable, "-m", "embtui", *run_args(reviews, store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        cwd=tmp_path,
    )
    wait_until(lambda: epoch_count(store) >= 2, 120, "two epochs in the store", process=proc)
    proc.send_signal(signal.SIGHUP)
    proc.communicate(timeout=120)
    assert proc.returncode == 0
    with Store(store, create=False) as s:
        exp_id = s.resolve("latest")
        assert s.experiment(exp_id).status == "done"
        assert sum(len(v) for v in s.epochs(exp_id).values()) == RUNS * EPOCHS


def test_resume_refuses_config_flags(tmp_path):
    result = embtui("run", "--resume", "latest", "--epochs", "3", "--store", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.startswith("embtui: error: --resume finishes an experiment")
    assert result.stderr.count("\n") == 1
    assert not (tmp_path / "s").exists()
