"""What the store holds, as the rest of embtui sees it: statuses and rows.

Plain frozen dataclasses, so the engine, the console and the exports share them without
knowing SQL; the functions at the end turn an SQLite row into one.
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, get_args

from embtui.errors import StoreError

#: What a run is doing or how it ended. An experiment takes the same statuses: `running`
#: while a process trains it, then the one `experiment_status` derives from its runs.
RunStatus = Literal["queued", "running", "done", "failed", "cancelled", "interrupted"]
ExperimentStatus = RunStatus

RUN_STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
#: Statuses after which a run will not change again unless the experiment is resumed.
FINAL_STATUSES: tuple[RunStatus, ...] = ("done", "failed", "cancelled", "interrupted")
#: Experiment statuses from which `embtui run --resume` (or `r`) finishes an experiment.
RESUMABLE: tuple[ExperimentStatus, ...] = ("interrupted", "cancelled", "failed")
#: Experiment statuses that mean "a process is (or was, if it died) training it".
ACTIVE_STATUSES: tuple[ExperimentStatus, ...] = ("queued", "running")


def experiment_status(run_statuses: Iterable[RunStatus]) -> ExperimentStatus:
    """The status of an experiment that nobody trains any more, from its runs' statuses.

    The one rule every writer uses. A run left `queued` or `running` was never finished by
    anyone, so the experiment is `interrupted` (and resumable), never `done`; then a stop
    asked for (`cancelled`), then a run that `failed`; `done` only when every run is done.
    """
    statuses = set(run_statuses)
    if statuses & {"queued", "running", "interrupted"}:
        return "interrupted"
    if "cancelled" in statuses:
        return "cancelled"
    if "failed" in statuses:
        return "failed"
    return "done"


@dataclass(frozen=True)
class EpochMetrics:
    """One finished epoch of one run, as the engine reports it (epoch is 1-based)."""

    run_id: int
    epoch: int
    loss: float
    acc: float
    val_loss: float
    val_acc: float
    seconds: float

    def divergence(self) -> str | None:
        """Why these metrics cannot be stored (a NaN or infinite value), or None.

        A run that diverges (a learning rate far too large) reports NaN; SQLite would keep
        it as NULL, so the run ends `failed` with this text instead.
        """
        for name in ("loss", "val_loss", "acc", "val_acc"):
            value = getattr(self, name)
            if not math.isfinite(value):
                what = "NaN" if math.isnan(value) else "infinite"
                return f"{name} became {what} at epoch {self.epoch}"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "loss": self.loss,
            "acc": self.acc,
            "val_loss": self.val_loss,
            "val_acc": self.val_acc,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class DeviceSample:
    """One device at one moment. `device` is "cpu" or "gpu<N>" (NVML's index)."""

    device: str
    name: str
    util: float | None = None  # percent busy
    mem_used: float | None = None  # bytes (RAM for the CPU row)
    mem_total: float | None = None  # bytes
    temp: float | None = None  # degrees Celsius
    power: float | None = None  # watts
    rss: float | None = None  # the sampling process's resident memory, bytes (CPU row)


@dataclass(frozen=True)
class RunCost:
    """What one run cost: its wall time, its process's peak resident memory, its GPU's
    peak memory (from TensorFlow) and mean utilisation while it trained."""

    wall_s: float
    peak_rss: float | None = None  # bytes
    peak_gpu_mem: float | None = None  # bytes
    mean_gpu_util: float | None = None  # percent


@dataclass(frozen=True)
class ExperimentRow:
    id: int
    name: str
    config: dict[str, Any]
    created: str
    finished: str | None
    status: ExperimentStatus
    pid: int | None
    host: str | None
    meta: dict[str, Any]
    heartbeat: str | None = None
    owner: str | None = None


@dataclass(frozen=True)
class RunRow:
    id: int
    experiment_id: int
    position: int
    size: int
    embedding: str
    head: str
    seed: int
    status: RunStatus
    error: str | None
    device: str | None
    params: int | None
    coverage: float | None
    started: str | None
    finished: str | None
    factors: dict[str, Any] = field(default_factory=dict)  # every factor value of the run
    wall_s: float | None = None  # what the run cost (embtui.sysmetrics.RunCost)
    peak_rss: float | None = None  # bytes
    peak_gpu_mem: float | None = None  # bytes
    mean_gpu_util: float | None = None  # percent


@dataclass(frozen=True)
class ExperimentSummary:
    """One experiment as `embtui list` shows it: read with its run counts in one query."""

    id: int
    name: str
    status: ExperimentStatus
    created: str
    finished: str | None
    runs_total: int
    runs_done: int
    runs_failed: int = 0


@dataclass(frozen=True)
class RunProgress:
    """How far a run got: its stored epochs and the last one's val_acc (None before one)."""

    epochs: int
    val_acc: float | None


# -- from SQLite rows ----------------------------------------------------------------------

_RUN_FIELDS = frozenset(f.name for f in fields(RunRow))
_EXPERIMENT_FIELDS = frozenset(f.name for f in fields(ExperimentRow))


def run_from_row(row: sqlite3.Row, parsed: dict[str, Any] | None = None) -> RunRow:
    """A run from its row; `parsed` caches factor texts already read (each run gets its
    own copy of the dict)."""
    values = {k: v for k, v in dict(row).items() if k in _RUN_FIELDS}
    raw = values.get("factors")
    try:
        if parsed is not None and isinstance(raw, str) and raw in parsed:
            factors = dict(parsed[raw])
        else:
            factors = json.loads(raw) if raw else {}
            if parsed is not None and isinstance(raw, str) and isinstance(factors, dict):
                parsed[raw] = dict(factors)
    except ValueError:
        factors = {}
    values["factors"] = (
        factors
        if isinstance(factors, dict) and factors
        else {"embeddings": values["embedding"], "head": values["head"]}
    )
    return RunRow(**values)


def experiment_from_row(row: sqlite3.Row, path: Path) -> ExperimentRow:
    """An experiment from its row in the store at `path` (named in a broken column's error)."""
    d = {k: v for k, v in dict(row).items() if k in _EXPERIMENT_FIELDS}
    d["config"] = json_object(d["config"], path, d["id"], "config")
    d["meta"] = json_object(d["meta"], path, d["id"], "meta")
    return ExperimentRow(**d)


def json_object(text: Any, path: Path, exp_id: int, column: str) -> dict[str, Any]:
    """A JSON column of an experiment; a hand-edited, broken one is a one-line error."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{path}: experiment {exp_id}'s {column} is not valid JSON ({exc}); "
            "the store was edited by hand"
        ) from None
    if not isinstance(value, dict):
        raise StoreError(
            f"{path}: experiment {exp_id}'s {column} is not a JSON object; "
            "the store was edited by hand"
        )
    return value
