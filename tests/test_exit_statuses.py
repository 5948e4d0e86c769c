"""Exit statuses, as README's table defines them (issue 23, item 10).

0 done; 2 refused before anything was recorded; 1 started and could not finish; 128 + N
stopped by signal N. Each case runs the real `embtui` in a subprocess on small generated
reviews and checks the status, that stderr is one line without a traceback, and what the
store holds afterwards.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import epoch_count, wait_until

KEYS = {
    "name": "exits",
    "sizes": "150,300",
    "embeddings": "learned",
    "epochs": "40",
    "seeds": "2",
    "val_size": "200",
    "maxlen": "80",
    "vocab_size": "400",
    "embedding_dim": "16",
    "batch_size": "16",
}


def start_grid(reviews: Path, store: Path, **env: str) -> subprocess.Popen:
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in KEYS.items()]
    command = ["run", "--plain", "--store", str(store), "--dataset", str(reviews), *flags]
    return subprocess.Popen(
        [sys.executable, "-m", "embtui", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **env},
    )


def wait_for_epochs(proc: subprocess.Popen, store: Path, n: int = 1) -> None:
    """Until the grid has committed `n` epochs (it is mid-grid from then on)."""
    try:
        wait_until(lambda: epoch_count(store) >= n, 120, f"{n} epochs", process=proc)
    except AssertionError:
        proc.kill()
        raise


def statuses(store: Path) -> tuple[str, set[str]]:
    db = sqlite3.connect(store)
    try:
        (exp,) = db.execute("SELECT status FROM experiments").fetchone()
        runs = {r for (r,) in db.execute("SELECT status FROM runs")}
        return exp, runs
    finally:
        db.close()


def one_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace")
    errors = [line for line in text.splitlines() if line.startswith("embtui: error:")]
    assert "Traceback" not in text, text
    assert len(errors) == 1, text
    return errors[0]


@pytest.mark.slow
def test_a_lock_held_past_the_busy_timeout_mid_grid_exits_1_in_one_line(reviews, tmp_path):
    """Another process holds an exclusive lock for 9 s, past the busy timeout (5 s here,
    `$EMBTUI_BUSY_TIMEOUT`; 30 s by default) and less than two of them, while the grid
    trains: its next write (within 4 s of the lock: an epoch takes a fraction of a second)
    gives up, it started and could not finish, so 1, not the 2 of a typo; the lock is gone
    before marking the experiment `interrupted` gives up too, so what was stored stays and
    the experiment is resumable."""
    store = tmp_path / "locked.sqlite"
    proc = start_grid(reviews, store, EMBTUI_BUSY_TIMEOUT="5")
    wait_for_epochs(proc, store)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(9)\n"
            "db.execute('ROLLBACK')\n",
            str(store),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    try:
        _, err = proc.communicate(timeout=180)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 1, err.decode()
    line = one_line(err)
    assert "database is locked" in line and "embtui run --resume 1" in line
    exp, runs = statuses(store)
    assert exp == "interrupted" and "interrupted" in runs
    assert epoch_count(store) >= 1


@pytest.mark.slow
def test_a_full_disk_mid_grid_exits_1_in_one_line(reviews, tmp_path):
    """The grid's files may grow no further once it has stored an epoch (RLIMIT_FSIZE, as
    `prlimit --fsize` sets it): SQLite's "disk I/O error" or "disk is full" mid-grid is 1."""
    store = tmp_path / "full.sqlite"
    proc = start_grid(reviews, store)
    wait_for_epochs(proc, store)
    resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, 1))
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err.decode()
    line = one_line(err)
    assert "cannot write to the run store" in line, line
    assert epoch_count(store) >= 1  # what was stored before stays readable


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_mid_grid_exits_128_plus_its_number(reviews, tmp_path, sig, code):
    store = tmp_path / f"{sig.name}.sqlite"
    proc = start_grid(reviews, store)
    wait_for_epochs(proc, store)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == code, err.decode()
    assert "Traceback" not in err.decode()
    exp, runs = statuses(store)
    assert exp == "cancelled" and "cancelled" in runs


def test_bad_input_exits_2_before_anything_is_recorded(tmp_path):
    store = tmp_path / "none.sqlite"
    result = subprocess.run(
        [sys.executable, "-m", "embtui", "run", "--store", str(store), "--epochs", "ten"],
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert one_line(result.stderr) == "embtui: error: epochs = 'ten': expected a whole number"
    assert not store.exists()
