"""The store's reads: experiments, runs, epochs and system samples, for every view.

Reads never write, never migrate and never wait for a writer (WAL): `embtui list`, the
exports and the console's polls read the store as it is, whatever its schema version.
"""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from embtui.errors import StoreError
from embtui.store.connection import Connection
from embtui.store.rows import (
    DeviceSample,
    EpochMetrics,
    ExperimentRow,
    ExperimentSummary,
    RunProgress,
    RunRow,
    experiment_from_row,
    run_from_row,
)

#: The highest experiment id a user can type (SQLite integers are 64-bit).
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]+")


class Reads(Connection):
    """The reads of a `Store`."""

    def experiments(self) -> list[ExperimentRow]:
        return [
            experiment_from_row(r, self.path)
            for r in self._read("SELECT * FROM experiments ORDER BY id")
        ]

    def experiment_summaries(self) -> list[ExperimentSummary]:
        """Every experiment, oldest first, with how many runs it has and how many are done:
        one query, whatever the number of runs (any schema version reads the same)."""
        rows = self._read(
            "SELECT e.id, e.name, e.status, e.created, e.finished, "
            "count(r.id) AS runs_total, coalesce(sum(r.status = 'done'), 0) AS runs_done, "
            "coalesce(sum(r.status = 'failed'), 0) AS runs_failed "
            "FROM experiments e LEFT JOIN runs r ON r.experiment_id = e.id "
            "GROUP BY e.id ORDER BY e.id"
        )
        return [ExperimentSummary(**dict(r)) for r in rows]

    def run_progress(self, exp_id: int) -> dict[int, RunProgress]:
        """Each run of an experiment that has epochs: how many, and the last one's val_acc.

        One aggregate query: SQLite takes a bare column (val_acc) from the row where max()
        found its value, so no epoch is read into Python."""
        rows = self._read(
            "SELECT e.run_id, count(*) AS n, max(e.epoch), e.val_acc FROM epochs e "
            "JOIN runs r ON r.id = e.run_id WHERE r.experiment_id = ? GROUP BY e.run_id",
            (exp_id,),
        )
        return {r[0]: RunProgress(r[1], r[3]) for r in rows}

    def experiment(self, exp_id: int) -> ExperimentRow:
        rows = self._read("SELECT * FROM experiments WHERE id = ?", (exp_id,))
        if not rows:
            raise StoreError(f"no experiment with id {exp_id} in {self.path}")
        return experiment_from_row(rows[0], self.path)

    def resolve(self, ref: str | int) -> int:
        """An experiment id from what a user typed: a number or `latest`."""
        if isinstance(ref, int):
            return self.experiment(ref).id
        text = str(ref).strip()
        if text == "latest":
            rows = self._read("SELECT max(id) AS id FROM experiments")
            if rows[0]["id"] is None:
                raise StoreError(f"no experiments yet in {self.path}")
            return int(rows[0]["id"])
        if not _ID.fullmatch(text):
            raise StoreError(
                f"experiment {text!r}: expected an experiment id (digits 0-9) or 'latest'"
            )
        number = int(text)
        if number > MAX_ID:
            raise StoreError(f"experiment {text}: no such experiment id (ids are at most {MAX_ID})")
        return self.experiment(number).id

    def runs(self, exp_id: int) -> list[RunRow]:
        rows = self._read("SELECT * FROM runs WHERE experiment_id = ? ORDER BY position", (exp_id,))
        parsed: dict[str, Any] = {}  # the runs of a grid share a few factor texts
        return [run_from_row(r, parsed) for r in rows]

    def run(self, run_id: int) -> RunRow:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run with id {run_id} in {self.path}")
        return run_from_row(rows[0])

    def samples(self, exp_id: int, since: float = 0.0) -> list[tuple[float, DeviceSample]]:
        """An experiment's system samples after `since` (unix time), oldest first."""
        try:
            rows = self._read(
                "SELECT t, device, name, util, mem_used, mem_total, temp, power, rss "
                "FROM samples WHERE experiment_id = ? AND t > ? ORDER BY t, device",
                (exp_id, since),
            )
        except sqlite3.OperationalError:  # a read-only store from before v4: none recorded
            return []
        return [(r["t"], DeviceSample(*tuple(r)[1:])) for r in rows]

    def finished_epoch_counts(self, exp_id: int) -> list[tuple[int, int]]:
        """(run id, epochs stored) of an experiment's `done` runs, in grid order: what its
        statistics rest on, in one aggregate instead of every epoch (the compare screen
        asks on each store change)."""
        rows = self._read(
            "SELECT r.id, (SELECT count(*) FROM epochs e WHERE e.run_id = r.id) FROM runs r "
            "WHERE r.experiment_id = ? AND r.status = 'done' ORDER BY r.position",
            (exp_id,),
        )
        return [(row[0], row[1]) for row in rows]

    def epochs(self, exp_id: int) -> dict[int, list[EpochMetrics]]:
        """Every epoch of an experiment, grouped by run id and ordered by epoch."""
        with self._lock:
            cursor = self._db.cursor()
            cursor.row_factory = None  # plain tuples, in EpochMetrics' field order
            rows = cursor.execute(
                "SELECT e.run_id, e.epoch, e.loss, e.acc, e.val_loss, e.val_acc, e.seconds "
                "FROM epochs e JOIN runs r ON r.id = e.run_id "
                "WHERE r.experiment_id = ? ORDER BY e.run_id, e.epoch",
                (exp_id,),
            ).fetchall()
        out: dict[int, list[EpochMetrics]] = {}
        for r in rows:
            out.setdefault(r[0], []).append(EpochMetrics(*r))
        return out

    def run_epochs(self, run_id: int) -> list[EpochMetrics]:
        rows = self._read("SELECT * FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,))
        return [EpochMetrics(**dict(r)) for r in rows]

    def namesakes(self, exp_id: int) -> list[int]:
        """The other experiments with this one's name (names need not be unique: ids are)."""
        rows = self._read(
            "SELECT b.id FROM experiments a JOIN experiments b ON a.name = b.name "
            "WHERE a.id = ? AND b.id != a.id ORDER BY b.id",
            (exp_id,),
        )
        return [int(r["id"]) for r in rows]
