"""The run store: `Store`, a connection that reads (`reads.py`) and writes (here).

Every write is one short transaction on a connection that owns what it writes: an
experiment is claimed in one transaction (`claim`), and each write checks the claim still
holds, so a process that lost its experiment to a resume stops without writing.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from embtui.errors import StoreError
from embtui.store.migrations import SCHEMA_VERSION
from embtui.store.ownership import (
    AlreadyDone,
    Claim,
    NotOwner,
    OwnedElsewhere,
    mark_interrupted,
    now,
    owner_dead,
)
from embtui.store.paths import learned_files_of
from embtui.store.reads import Reads
from embtui.store.rows import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    RUN_STATUSES,
    DeviceSample,
    EpochMetrics,
    ExperimentRow,
    ExperimentStatus,
    RunCost,
    RunRow,
    RunStatus,
    experiment_from_row,
    json_object,
)

#: System samples kept per experiment and device: past this every second row of the older
#: half is dropped (see `Store.add_samples`).
KEEP_PER_DEVICE = 2000


class Store(Reads):
    """A connection to the run store, safe to share between the UI and a training thread.

    `owner`: the token this connection writes as. Each Store gets a fresh one; the worker
    processes of a parallel grid pass their parent's, since they write its experiment.
    A store opened with `create=False` that this user may not write opens read-only, so
    `embtui list` and `export` still read it.

    `migrate`: whether opening upgrades a store of an older schema. Reading commands
    (`embtui list`, `export`, the console's browsing) pass False: an older embtui may be
    training in that store, and pulling the schema out from under it would kill it. They
    read the store as it is; `recover` leaves it alone; the first write through such a
    connection (a rename in the console) upgrades it then, or is refused.
    """

    # -- ownership ---------------------------------------------------------------------

    def _require_owner(self, db: sqlite3.Connection, exp_id: int) -> None:
        """Inside a write: refuse unless this connection owns the experiment."""
        row = db.execute(
            "SELECT owner, pid, host FROM experiments WHERE id = ?", (exp_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no experiment with id {exp_id} in {self.path}")
        if row["owner"] != self.owner:
            holder = (
                f"pid {row['pid']} on {row['host']}" if row["owner"] else "nobody (interrupted)"
            )
            raise NotOwner(
                f"experiment {exp_id} is no longer this process's to train (now: {holder}); "
                "stopped without writing"
            )

    def _require_run_owner(self, db: sqlite3.Connection, run_id: int) -> RunStatus:
        """Inside a write: the run's status, after checking that this connection owns it."""
        row = db.execute(
            "SELECT experiment_id, status FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no run with id {run_id} in {self.path}")
        self._require_owner(db, row["experiment_id"])
        status: RunStatus = row["status"]
        return status

    def claim(self, exp_id: int, *, resume: bool = False) -> Claim:
        """Take an experiment for this connection, atomically: check and take in one write.

        Refused (StoreError) while another live process owns it; an owner that died is
        taken over (its unfinished runs become `interrupted` first). With `resume`, an
        experiment whose runs are all done is refused with `AlreadyDone`. Claiming an
        experiment this connection owns already just renews it.
        """
        with self._write() as db:
            row = db.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            if row is None:
                raise StoreError(f"no experiment with id {exp_id} in {self.path}")
            previous = {
                k: row[k] for k in ("status", "finished", "pid", "host", "heartbeat", "owner")
            }
            if row["owner"] != self.owner:
                if row["status"] in ACTIVE_STATUSES:
                    if not owner_dead(row["pid"], row["host"], row["heartbeat"]):
                        raise OwnedElsewhere(
                            f"experiment {exp_id} is being trained by pid {row['pid']} on "
                            f"{row['host']}; wait for it, or stop it there"
                        )
                    mark_interrupted(db, exp_id)
                    previous["status"] = "interrupted"
                if resume and previous["status"] == "done":
                    raise AlreadyDone(f"experiment {exp_id} is already done")
            db.execute(
                "UPDATE experiments SET status = 'running', finished = NULL, owner = ?, "
                "pid = ?, host = ?, heartbeat = ? WHERE id = ?",
                (self.owner, os.getpid(), socket.gethostname(), now(), exp_id),
            )
        return Claim(exp_id, previous)

    def release(self, claim: Claim) -> None:
        """Give back a claim taken for nothing (its inputs were bad): the experiment's row
        returns to exactly what it was, if this connection still owns it."""
        prev = claim.previous
        with self._write() as db:
            db.execute(
                "UPDATE experiments SET status = ?, finished = ?, pid = ?, host = ?, "
                "heartbeat = ?, owner = ? WHERE id = ? AND owner = ?",
                (
                    prev["status"],
                    prev["finished"],
                    prev["pid"],
                    prev["host"],
                    prev["heartbeat"],
                    prev["owner"],
                    claim.experiment_id,
                    self.owner,
                ),
            )

    # -- writes ------------------------------------------------------------------------

    def create_experiment(
        self,
        name: str,
        config: dict[str, Any],
        cells: Iterable[tuple[int, Mapping[str, Any] | str, int]],
        *,
        head: str = "flatten",
        meta: dict[str, Any] | None = None,
        check: Callable[[int], None] | None = None,
    ) -> int:
        """Record an experiment and its queued runs in one transaction; this connection
        owns it. Each cell is (size, the run's factor values, seed), or (size, embedding,
        seed) for runs whose only factors are their embedding and `head`. `check(id)` runs
        before the commit: if it raises, nothing is recorded (a TensorBoard folder that
        cannot be written, say)."""
        with self._write() as db:
            cur = db.execute(
                "INSERT INTO experiments (id, name, config, created, status, pid, host, meta, "
                f"heartbeat, owner) VALUES ({_next_id('experiments')}, ?, ?, ?, 'queued', ?, ?, "
                "?, ?, ?)",
                (
                    name,
                    json.dumps(config),
                    now(),
                    os.getpid(),
                    socket.gethostname(),
                    json.dumps(meta or {}),
                    now(),
                    self.owner,
                ),
            )
            exp_id = _row_id(cur)
            rows = []
            for i, (size, arm, seed) in enumerate(cells):
                factors = (
                    dict(arm) if not isinstance(arm, str) else {"embeddings": arm, "head": head}
                )
                rows.append(
                    (
                        exp_id,
                        i,
                        size,
                        str(factors["embeddings"]),
                        str(factors.get("head", head)),
                        seed,
                        json.dumps(factors),
                    )
                )
            db.executemany(
                "INSERT INTO runs (id, experiment_id, position, size, embedding, head, seed, "
                f"factors) VALUES ({_next_id('runs')}, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if check is not None:
                check(exp_id)
        return exp_id

    def set_experiment_status(self, exp_id: int, status: ExperimentStatus) -> None:
        """Set the status of an experiment this connection owns (see `claim`)."""
        finished = now() if status in FINAL_STATUSES else None
        with self._write() as db:
            self._require_owner(db, exp_id)
            db.execute(
                "UPDATE experiments SET status = ?, finished = ?, heartbeat = ? WHERE id = ?",
                (status, finished, now(), exp_id),
            )

    def beat(self, exp_id: int) -> None:
        """Record that the process training this experiment is still alive."""
        with self._write() as db:
            self._require_owner(db, exp_id)
            db.execute("UPDATE experiments SET heartbeat = ? WHERE id = ?", (now(), exp_id))

    def add_run(self, exp_id: int, *, size: int, embedding: str, head: str, seed: int) -> int:
        """Append one queued run to an experiment (for runs recorded from outside the grid)."""
        with self._write() as db:
            self._require_owner(db, exp_id)
            row = db.execute(
                "SELECT coalesce(max(position) + 1, 0) AS p FROM runs WHERE experiment_id = ?",
                (exp_id,),
            ).fetchone()
            cur = db.execute(
                "INSERT INTO runs (id, experiment_id, position, size, embedding, head, seed, "
                f"factors) VALUES ({_next_id('runs')}, ?, ?, ?, ?, ?, ?, ?)",
                (
                    exp_id,
                    row["p"],
                    size,
                    embedding,
                    head,
                    seed,
                    json.dumps({"embeddings": embedding, "head": head}),
                ),
            )
        return _row_id(cur)

    def update_meta(self, exp_id: int, **values: Any) -> None:
        with self._write() as db:
            self._require_owner(db, exp_id)
            row = db.execute("SELECT meta FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            meta = {**json_object(row["meta"], self.path, exp_id, "meta"), **values}
            db.execute("UPDATE experiments SET meta = ? WHERE id = ?", (json.dumps(meta), exp_id))

    def start_run(
        self,
        run_id: int,
        *,
        device: str,
        params: int | None,
        coverage: float | None,
        keep_epochs: int = 0,
    ) -> None:
        """Mark a run running; drops the epochs an earlier, unfinished attempt left after
        `keep_epochs` (the epoch its checkpoint continues from; 0 = start afresh).

        Only the owner of the run's experiment may start it, and a `done` run is never
        started again (its epochs are a finished result)."""
        with self._write() as db:
            status = self._require_run_owner(db, run_id)
            if status == "done":
                raise StoreError(f"run {run_id} is done already; it is not trained again")
            db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch > ?", (run_id, keep_epochs))
            db.execute(
                "UPDATE runs SET status = 'running', error = NULL, device = ?, params = ?, "
                "coverage = ?, started = ?, finished = NULL WHERE id = ?",
                (device, params, coverage, now(), run_id),
            )

    def add_epoch(self, m: EpochMetrics) -> None:
        with self._write() as db:
            self._require_run_owner(db, m.run_id)
            db.execute(
                "INSERT OR REPLACE INTO epochs (run_id, epoch, loss, acc, val_loss, val_acc, "
                "seconds) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (m.run_id, m.epoch, m.loss, m.acc, m.val_loss, m.val_acc, m.seconds),
            )

    def finish_run(self, run_id: int, status: RunStatus, error: str | None = None) -> None:
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self._write() as db:
            self._require_run_owner(db, run_id)
            db.execute(
                "UPDATE runs SET status = ?, error = ?, finished = ? WHERE id = ?",
                (status, error, now(), run_id),
            )

    def set_run_cost(self, run_id: int, cost: RunCost) -> None:
        """Record what a run cost (wall time, peak memory, GPU use)."""
        with self._write() as db:
            self._require_run_owner(db, run_id)
            db.execute(
                "UPDATE runs SET wall_s = ?, peak_rss = ?, peak_gpu_mem = ?, mean_gpu_util = ? "
                "WHERE id = ?",
                (cost.wall_s, cost.peak_rss, cost.peak_gpu_mem, cost.mean_gpu_util, run_id),
            )

    def add_samples(
        self, exp_id: int, samples: Iterable[tuple[float, DeviceSample]], *, keep: int = 0
    ) -> None:
        """Record system samples `(unix time, DeviceSample)` of an experiment this
        connection owns, then thin each device's rows to about `keep` (default
        KEEP_PER_DEVICE): every second row of the older half goes."""
        keep = keep or KEEP_PER_DEVICE
        rows = [
            (exp_id, t, s.device, s.name, s.util, s.mem_used, s.mem_total, s.temp, s.power, s.rss)
            for t, s in samples
        ]
        with self._write() as db:
            self._require_owner(db, exp_id)
            db.executemany(
                "INSERT INTO samples (experiment_id, t, device, name, util, mem_used, "
                "mem_total, temp, power, rss) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            for device in {r[2] for r in rows}:
                (count,) = db.execute(
                    "SELECT count(*) FROM samples WHERE experiment_id = ? AND device = ?",
                    (exp_id, device),
                ).fetchone()
                if count > keep:
                    db.execute(
                        "DELETE FROM samples WHERE rowid IN (SELECT rowid FROM ("
                        "SELECT rowid, row_number() OVER (ORDER BY t) AS k FROM samples "
                        "WHERE experiment_id = ? AND device = ? ORDER BY t LIMIT ?) "
                        "WHERE k % 2 = 0)",
                        (exp_id, device, count // 2),
                    )

    def cancel_queued(self, exp_id: int, status: RunStatus = "cancelled") -> None:
        """Close the runs a stopped experiment never reached (and the one it was in)."""
        with self._write() as db:
            self._require_owner(db, exp_id)
            db.execute(
                "UPDATE runs SET status = ?, finished = ? "
                "WHERE experiment_id = ? AND status IN ('queued', 'running')",
                (status, now(), exp_id),
            )

    def reopen_runs(self, exp_id: int) -> list[RunRow]:
        """Queue again every run of an experiment that did not finish (for resume).

        Their epochs stay until each run starts again: `start_run` keeps those its
        checkpoint continues from and drops the rest.
        """
        with self._write() as db:
            self._require_owner(db, exp_id)
            db.execute(
                "UPDATE runs SET status = 'queued', error = NULL, finished = NULL "
                "WHERE experiment_id = ? AND status != 'done'",
                (exp_id,),
            )
        return [r for r in self.runs(exp_id) if r.status == "queued"]

    def recover(self) -> list[int]:
        """Mark experiments whose training process died as `interrupted`.

        On this host the owner's pid is checked directly. For an owner on another host
        (a store on a shared filesystem) only its heartbeat can tell: an experiment whose
        heartbeat is older than `STALE_AFTER_S` is taken for dead. A read-only store is
        left as it is, and so is a store of an older schema: it belongs to the embtui that
        wrote it until a writing command upgrades it.
        """
        if self.read_only or self.schema_version() != SCHEMA_VERSION:
            return []
        stale = [
            r["id"]
            for r in self._read(
                "SELECT id, pid, host, heartbeat FROM experiments "
                "WHERE status IN ('running', 'queued')"
            )
            if owner_dead(r["pid"], r["host"], r["heartbeat"])
        ]
        recovered = []
        for exp_id in stale:
            with self._write() as db:
                # Checked again inside the write: it may have been resumed meanwhile.
                row = db.execute(
                    "SELECT status, pid, host, heartbeat FROM experiments WHERE id = ?",
                    (exp_id,),
                ).fetchone()
                if row["status"] in ACTIVE_STATUSES and owner_dead(
                    row["pid"], row["host"], row["heartbeat"]
                ):
                    mark_interrupted(db, exp_id)
                    recovered.append(exp_id)
        return recovered

    # -- managing experiments (embtui rm, embtui rename, the console's d and F2) ---------

    def delete_experiment(self, exp_id: int) -> ExperimentRow:
        """Delete an experiment with its runs, their epochs and checkpoints; returns the row
        as it was. Refused (OwnedElsewhere) while a live process trains it."""
        with self._write() as db:
            row = db.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            if row is None:
                raise StoreError(f"no experiment with id {exp_id} in {self.path}")
            if row["status"] in ACTIVE_STATUSES and not owner_dead(
                row["pid"], row["host"], row["heartbeat"]
            ):
                raise OwnedElsewhere(
                    f"experiment {exp_id} is being trained by pid {row['pid']} on "
                    f"{row['host']}; stop it before deleting it"
                )
            runs = [
                r["id"]
                for r in db.execute("SELECT id FROM runs WHERE experiment_id = ?", (exp_id,))
            ]
            db.execute(
                "DELETE FROM epochs WHERE run_id IN (SELECT id FROM runs WHERE experiment_id = ?)",
                (exp_id,),
            )
            db.execute("DELETE FROM runs WHERE experiment_id = ?", (exp_id,))
            db.execute("DELETE FROM samples WHERE experiment_id = ?", (exp_id,))
            db.execute("DELETE FROM experiments WHERE id = ?", (exp_id,))
        for run_id in runs:
            with contextlib.suppress(OSError):
                self.checkpoint_path(run_id).unlink(missing_ok=True)
        for path in learned_files_of(self.path, exp_id, runs):  # what inspect reads
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return experiment_from_row(row, self.path)

    def rename_experiment(self, exp_id: int, name: str) -> None:
        """Give an experiment another name (its recorded configuration keeps the name it
        was started with, which names its TensorBoard folder). The caller checks `name`
        (`embtui.config.check_name`)."""
        with self._write() as db:
            cur = db.execute("UPDATE experiments SET name = ? WHERE id = ?", (name, exp_id))
            if cur.rowcount == 0:
                raise StoreError(f"no experiment with id {exp_id} in {self.path}")


#: The id an insert into `table` takes (schema v6 on): never one an experiment or run had.
def _next_id(table: str) -> str:
    return f"(SELECT value + 1 FROM id_high_water WHERE tbl = '{table}')"


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added."""
    if cursor.lastrowid is None:  # pragma: no cover - an INSERT always sets it
        raise StoreError("the run store did not return the new row's id")
    return int(cursor.lastrowid)
