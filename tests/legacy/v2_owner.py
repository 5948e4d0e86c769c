"""An embtui of store schema v2 training an experiment: its reads and writes, and nothing else.

`python tests/legacy/v2_owner.py STORE RELEASE_FILE` opens STORE as embtui's v2 store code
did (commit e611c39^, `embtui/store.py`), records an experiment of RUNS runs, claims it by
pid and heartbeat, and trains them: each epoch is written, and between writes the process
reads back its experiment and runs the way v2 did (`SELECT *` unpacked into its own
dataclasses, so a column added underneath it is a `TypeError`, as issue 23 saw). After the
first run's first epoch it keeps reading and beating until RELEASE_FILE exists, so a test can
run current commands against the store while it is owned. It exits 0 when every run is done.

A script and not a worktree of that commit with its own virtual environment: the store is
the only thing the two versions share, and v2's part of it is these few statements; a
second environment (TensorFlow included) would cost CI minutes and gigabytes for the same
reads and writes. Nothing here imports embtui: an older install does not see this code.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 2
RUNS = 3
EPOCHS = 3


@dataclass(frozen=True)
class ExperimentRow:  # v2's fields, exactly
    id: int
    name: str
    config: dict[str, Any]
    created: str
    finished: str | None
    status: str
    pid: int | None
    host: str | None
    meta: dict[str, Any]
    heartbeat: str | None


@dataclass(frozen=True)
class RunRow:  # v2's fields, exactly
    id: int
    experiment_id: int
    position: int
    size: int
    embedding: str
    head: str
    seed: int
    status: str
    error: str | None
    device: str | None
    params: int | None
    coverage: float | None
    started: str | None
    finished: str | None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def open_store(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA busy_timeout = 30000")
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        sys.exit(f"embtui: error: {path}: store schema v{version} is newer than this embtui")
    if version != SCHEMA_VERSION:
        sys.exit(f"embtui: error: this script expects a v2 store, not v{version}")
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute("PRAGMA foreign_keys = ON")
    return db


def write(db: sqlite3.Connection, *statements: tuple[str, tuple[Any, ...]]) -> int | None:
    db.execute("BEGIN IMMEDIATE")
    last = None
    for sql, args in statements:
        last = db.execute(sql, args).lastrowid
    db.execute("COMMIT")
    return last


def experiment(db: sqlite3.Connection, exp_id: int) -> ExperimentRow:
    d = dict(db.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone())
    d["config"], d["meta"] = json.loads(d["config"]), json.loads(d["meta"])
    return ExperimentRow(**d)


def runs(db: sqlite3.Connection, exp_id: int) -> list[RunRow]:
    rows = db.execute(
        "SELECT * FROM runs WHERE experiment_id = ? ORDER BY position", (exp_id,)
    ).fetchall()
    return [RunRow(**dict(r)) for r in rows]


def main(store: Path, release: Path) -> int:
    db = open_store(store)
    pid, host = os.getpid(), socket.gethostname()
    exp_id = write(
        db,
        (
            "INSERT INTO experiments (name, config, created, status, pid, host, meta) "
            "VALUES (?, ?, ?, 'queued', ?, ?, ?)",
            ("v2-grid", json.dumps({"sizes": [10]}), now(), pid, host, "{}"),
        ),
    )
    assert exp_id is not None
    db.execute("BEGIN IMMEDIATE")
    db.executemany(
        "INSERT INTO runs (experiment_id, position, size, embedding, head, seed) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [(exp_id, i, 10, "learned", "flatten", i) for i in range(RUNS)],
    )
    db.execute("COMMIT")
    write(
        db,
        (
            "UPDATE experiments SET status = 'running', finished = NULL, pid = ?, host = ?, "
            "heartbeat = ? WHERE id = ?",
            (pid, host, now(), exp_id),
        ),
    )
    waited = False
    for run in runs(db, exp_id):
        write(
            db,
            ("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run.id, 0)),
            (
                "UPDATE runs SET status = 'running', error = NULL, device = 'CPU', params = 10, "
                "coverage = NULL, started = ?, finished = NULL WHERE id = ?",
                (now(), run.id),
            ),
        )
        for n in range(1, EPOCHS + 1):
            write(
                db,
                (
                    "INSERT OR REPLACE INTO epochs (run_id, epoch, loss, acc, val_loss, val_acc, "
                    "seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (run.id, n, 0.7 - n / 100, 0.5 + n / 100, 0.69, 0.5 + run.seed / 100, 0.01),
                ),
            )
            while not waited and not release.exists():
                write(db, ("UPDATE experiments SET heartbeat = ? WHERE id = ?", (now(), exp_id)))
                experiment(db, exp_id)
                runs(db, exp_id)
                time.sleep(0.05)
            waited = True
            assert experiment(db, exp_id).status == "running"
        write(
            db,
            (
                "UPDATE runs SET status = 'done', error = NULL, finished = ? WHERE id = ?",
                (now(), run.id),
            ),
        )
    write(
        db,
        (
            "UPDATE experiments SET status = 'done', finished = ?, pid = ?, host = ?, "
            "heartbeat = ? WHERE id = ?",
            (now(), pid, host, now(), exp_id),
        ),
    )
    assert all(r.status == "done" for r in runs(db, exp_id))
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
