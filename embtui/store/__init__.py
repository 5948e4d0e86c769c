"""The run store: one SQLite file that every part of embtui reads and writes.

The training engine writes experiments, runs and per-epoch metrics here as they happen; the
console, `embtui list` and the exports only read. Because the file is the single source of
truth, a grid started with `embtui run` inside tmux shows up live in a console opened later
on the same file. WAL mode lets readers poll while a writer commits, and every write is one
short transaction, so a crash leaves at most one run marked `running`, which `recover`
turns into `interrupted` once its process is gone.

The package, read top-down:

* `migrations`: the schema, as frozen, named steps.
* `rows`: statuses and the rows other modules see (`RunRow`, `EpochMetrics`, ...).
* `liveness` and `ownership`: whether a process runs; who trains an experiment.
* `paths`: where the store lives and the files beside it (log, checkpoints, kept arrays).
* `connection`, `reads`, `writes`: `Store`, opening and transactions, then its reads and
  its writes.

Everything other modules use is imported from `embtui.store` itself.
"""

from __future__ import annotations

from embtui.errors import StoreError
from embtui.store.migrations import MIGRATIONS, SCHEMA_VERSION
from embtui.store.ownership import (
    HEARTBEAT_S,
    STALE_AFTER_S,
    UTC,
    AlreadyDone,
    Claim,
    NotOwner,
    OwnedElsewhere,
    new_owner_token,
    now,
)
from embtui.store.paths import (
    checkpoint_folder_of,
    checkpoint_path_of,
    default_store_path,
    learned_files_of,
    learned_folder_of,
    learned_run_path,
    learned_shape_path,
    log_path_of,
    sibling_problem,
)
from embtui.store.reads import MAX_ID
from embtui.store.rows import (
    ACTIVE_STATUSES,
    FINAL_STATUSES,
    RESUMABLE,
    RUN_STATUSES,
    DeviceSample,
    EpochMetrics,
    ExperimentRow,
    ExperimentStatus,
    ExperimentSummary,
    RunCost,
    RunProgress,
    RunRow,
    RunStatus,
    experiment_status,
)
from embtui.store.writes import KEEP_PER_DEVICE, Store

__all__ = [
    "ACTIVE_STATUSES",
    "FINAL_STATUSES",
    "HEARTBEAT_S",
    "KEEP_PER_DEVICE",
    "MAX_ID",
    "MIGRATIONS",
    "RESUMABLE",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "STALE_AFTER_S",
    "UTC",
    "AlreadyDone",
    "Claim",
    "DeviceSample",
    "EpochMetrics",
    "ExperimentRow",
    "ExperimentStatus",
    "ExperimentSummary",
    "NotOwner",
    "OwnedElsewhere",
    "RunCost",
    "RunProgress",
    "RunRow",
    "RunStatus",
    "Store",
    "StoreError",
    "checkpoint_folder_of",
    "checkpoint_path_of",
    "default_store_path",
    "experiment_status",
    "learned_files_of",
    "learned_folder_of",
    "learned_run_path",
    "learned_shape_path",
    "log_path_of",
    "new_owner_token",
    "now",
    "sibling_problem",
]
