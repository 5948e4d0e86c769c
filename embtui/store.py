"""The run store: one SQLite file that every part of embtui reads and writes.

The training engine writes experiments, runs and per-epoch metrics here as they happen; the
console, `embtui list` and the exports only read. Because the file is the single source of
truth, a grid started with `embtui run` inside tmux shows up live in a console opened later
on the same file. WAL mode lets readers poll while a writer commits, and every write is one
short transaction, so a crash leaves at most one run marked `running`, which `recover`
turns into `interrupted` once its process is gone.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import secrets
import socket
import sqlite3
import stat
import threading
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from embtui.errors import StoreError

UTC = timezone.utc  # datetime.UTC from Python 3.11 on

#: Seconds between a running experiment's heartbeats, and the age after which an experiment
#: owned by another host (whose process cannot be checked) counts as dead.
HEARTBEAT_S = 10.0
STALE_AFTER_S = 300.0

RUN_STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
#: Statuses after which a run will not change again unless the experiment is resumed.
FINAL_STATUSES = ("done", "failed", "cancelled", "interrupted")
#: Experiment statuses from which `embtui run --resume` (or `r`) finishes an experiment.
RESUMABLE = ("interrupted", "cancelled", "failed")
#: Experiment statuses that mean "a process is (or was, if it died) training it".
ACTIVE_STATUSES = ("queued", "running")


def experiment_status(run_statuses: Iterable[str]) -> str:
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


_V1_SCHEMA = """
CREATE TABLE experiments (
    id        INTEGER PRIMARY KEY,
    name      TEXT NOT NULL,
    config    TEXT NOT NULL,
    created   TEXT NOT NULL,
    finished  TEXT,
    status    TEXT NOT NULL DEFAULT 'queued',
    pid       INTEGER,
    host      TEXT,
    meta      TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    size          INTEGER NOT NULL,
    embedding     TEXT NOT NULL,
    head          TEXT NOT NULL,
    seed          INTEGER NOT NULL,
    status        TEXT NOT NULL DEFAULT 'queued',
    error         TEXT,
    device        TEXT,
    params        INTEGER,
    coverage      REAL,
    started       TEXT,
    finished      TEXT
);
CREATE INDEX runs_by_experiment ON runs(experiment_id, position);
CREATE TABLE epochs (
    run_id   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch    INTEGER NOT NULL,
    loss     REAL NOT NULL,
    acc      REAL NOT NULL,
    val_loss REAL NOT NULL,
    val_acc  REAL NOT NULL,
    seconds  REAL NOT NULL,
    PRIMARY KEY (run_id, epoch)
);
"""


def _record_factors(db: sqlite3.Connection) -> None:
    """v5: each run's factor values, from its experiment's configuration (scalars then)
    and the run's own embedding and head. A user's recorded fit has just those two.

    Frozen as shipped: the factor keys and the callback's source are written out here, not
    imported, so that a factor added later never changes what this step does to an old
    store."""
    FACTOR_KEYS = (
        *("embeddings", "head", "optimizer", "learning_rate", "embedding_dim"),
        *("batch_size", "epochs", "maxlen", "vocab_size"),
    )
    CALLBACK_SOURCE = "keras-callback"

    db.execute("ALTER TABLE runs ADD COLUMN factors TEXT")
    configs: dict[int, dict[str, Any]] = {}
    for exp_id, text in db.execute("SELECT id, config FROM experiments").fetchall():
        try:
            config = json.loads(text)
        except ValueError:
            config = {}
        configs[exp_id] = config if isinstance(config, dict) else {}
    runs = db.execute("SELECT id, experiment_id, embedding, head FROM runs").fetchall()
    for run_id, exp_id, embedding, head in runs:
        config = configs.get(exp_id, {})
        factors: dict[str, Any] = {}
        if config.get("source") != CALLBACK_SOURCE:
            for key in FACTOR_KEYS:
                value = config.get(key)
                if isinstance(value, list):
                    value = value[0] if value else None
                if value is not None:
                    factors[key] = value
        factors.update(embeddings=embedding, head=head)
        db.execute("UPDATE runs SET factors = ? WHERE id = ?", (json.dumps(factors), run_id))


def _ids_never_reused(db: sqlite3.Connection) -> None:
    """v6: experiment and run ids are never given out twice. SQLite's `INTEGER PRIMARY KEY`
    takes the largest id plus one, so deleting the newest experiment handed its id (and its
    runs' ids, which name checkpoints) to the next one, and an export or a note saying "9"
    pointed at another experiment. A table keeps the highest id each has had; inserts take
    the next one from it and triggers keep it up to date. (AUTOINCREMENT would need the
    tables rebuilt, which foreign keys turn into a cascade of deletes.) Ids deleted before
    this step cannot be known; the highest present is the start."""
    db.execute("CREATE TABLE id_high_water (tbl TEXT PRIMARY KEY, value INTEGER NOT NULL)")
    for table in ("experiments", "runs"):
        db.execute(
            f"INSERT INTO id_high_water (tbl, value) "
            f"SELECT '{table}', coalesce(max(id), 0) FROM {table}"
        )
        db.execute(
            f"CREATE TRIGGER {table}_high_water AFTER INSERT ON {table} BEGIN "
            f"UPDATE id_high_water SET value = max(value, NEW.id) WHERE tbl = '{table}'; END"
        )


#: The id an insert into `table` takes (schema v6 on): never one an experiment or run had.
def _next_id(table: str) -> str:
    return f"(SELECT value + 1 FROM id_high_water WHERE tbl = '{table}')"


#: The store's schema as an ordered list of named steps (SQL, or a function for a step that
#: computes values); a store at version k runs the steps after k. Append new steps; never
#: edit one that has shipped.
MIGRATIONS: tuple[tuple[str, str | Callable[[sqlite3.Connection], None]], ...] = (
    ("v1: experiments, runs and their epochs", _V1_SCHEMA),
    (
        # Tells a live owner from a dead one when it runs on another host.
        "v2: a heartbeat per experiment",
        "ALTER TABLE experiments ADD COLUMN heartbeat TEXT",
    ),
    (
        # Which Store connection (process) may write an experiment's runs: claimed in one
        # transaction, so two resumes can never both train it.
        "v3: an owner token per experiment",
        "ALTER TABLE experiments ADD COLUMN owner TEXT",
    ),
    (
        # What a run cost and how busy the box was (embtui.sysmetrics).
        "v4: system samples and each run's cost",
        """
        CREATE TABLE samples (
            experiment_id INTEGER NOT NULL REFERENCES experiments(id) ON DELETE CASCADE,
            t         REAL NOT NULL,
            device    TEXT NOT NULL,
            name      TEXT NOT NULL,
            util      REAL,
            mem_used  REAL,
            mem_total REAL,
            temp      REAL,
            power     REAL,
            rss       REAL
        );
        CREATE INDEX samples_by_device ON samples(experiment_id, device, t);
        ALTER TABLE runs ADD COLUMN wall_s REAL;
        ALTER TABLE runs ADD COLUMN peak_rss REAL;
        ALTER TABLE runs ADD COLUMN peak_gpu_mem REAL;
        ALTER TABLE runs ADD COLUMN mean_gpu_util REAL
        """,
    ),
    ("v5: every factor value of each run, for sweeps over any setting", _record_factors),
    ("v6: ids never given out twice", _ids_never_reused),
)
SCHEMA_VERSION = len(MIGRATIONS)


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


#: System samples kept per experiment and device: past this every second row of the older
#: half is dropped (see `Store.add_samples`).
KEEP_PER_DEVICE = 2000


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
    status: str
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
    status: str
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
    status: str
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


_RUN_FIELDS = frozenset(f.name for f in fields(RunRow))


def _run(row: sqlite3.Row, parsed: dict[str, Any] | None = None) -> RunRow:
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


class NotOwner(StoreError):
    """This process tried to write an experiment that another process now owns."""


class OwnedElsewhere(StoreError):
    """A claim was refused: another live process trains the experiment."""


class AlreadyDone(StoreError):
    """A resume was asked of an experiment whose every run is done."""


@dataclass(frozen=True)
class Claim:
    """Ownership of an experiment taken by `Store.claim`; `Store.release` gives it back
    (with the experiment's earlier status) when preparing its runs failed."""

    experiment_id: int
    previous: dict[str, Any]


def default_store_path() -> Path:
    """`$EMBTUI_STORE`, else `$XDG_DATA_HOME/embtui/embtui.sqlite` (~/.local/share/...)."""
    if os.environ.get("EMBTUI_STORE"):
        return Path(os.environ["EMBTUI_STORE"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "embtui" / "embtui.sqlite"


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_owner_token() -> str:
    """A token naming one writer: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(6)}"


#: The highest experiment id a user can type (SQLite integers are 64-bit).
MAX_ID = 2**63 - 1
_ID = re.compile(r"[0-9]+")
_SQLITE_MAGIC = b"SQLite format 3\x00"


class Store:
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

    _db: sqlite3.Connection

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        owner: str | None = None,
        migrate: bool = True,
    ) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.owner = owner or new_owner_token()
        self.read_only = False
        #: An older schema this connection reads as it is, upgraded before its first write.
        self._upgrade_pending = False
        self.closed = False
        self._lock = threading.RLock()
        try:
            is_dir, exists = self.path.is_dir(), self.path.exists()
        except OSError as exc:  # a folder on the way this user may not enter
            raise StoreError(
                f"{self.path}: cannot open the run store ({exc.strerror or exc})"
            ) from None
        if is_dir:
            raise StoreError(
                f"{self.path}: a folder, not a run store; give a file, "
                f"e.g. {self.path / 'embtui.sqlite'}"
            )
        if not create and not exists:
            raise StoreError(f"{self.path}: no run store here (run an experiment first)")
        if exists:
            self._check_regular(self.path)
        # SQLite would open a file it may not write read-only and fail later, mid-run; the
        # WAL's -shm and -wal files also need a writable folder, even just to read.
        for target in (self.path, self.path.parent):
            if target.exists() and not _writable(target):
                if not create:
                    self.read_only = True
                    break
                raise StoreError(
                    f"{self.path}: the run store is not writable ({target} is read-only "
                    "for this user); give --store a path you can write"
                )
        if create:
            self._check_siblings()
        try:
            if self.read_only:
                self._db = self._connect_read_only()
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    self.path, timeout=30, isolation_level=None, check_same_thread=False
                )
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA busy_timeout = 30000")
            if self.read_only:
                self._check_readable()
                return
            if not migrate and 0 < self.schema_version() < SCHEMA_VERSION:
                self._check_readable()
                self._upgrade_pending = True
                return
            self._migrate()
            self._set_up_for_writing()
        except sqlite3.DatabaseError as exc:
            self._abandon()
            raise StoreError(f"{self.path}: not a usable run store ({exc})") from None
        except OSError as exc:
            self._abandon()
            raise StoreError(f"{self.path}: cannot open the run store ({exc})") from None
        except StoreError:
            self._abandon()
            raise

    def _set_up_for_writing(self) -> None:
        # Called after the schema is checked (and created): journal_mode is stored in the
        # file, so setting it first would convert a foreign SQLite file that is then refused.
        self._db.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL still never corrupts the file; it only skips the fsync per
        # commit, which would otherwise cost more than a small run's epoch.
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._db.execute("PRAGMA foreign_keys = ON")

    def schema_version(self) -> int:
        """The schema the file is at now (another connection may have upgraded it)."""
        with self._lock:
            return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _check_regular(self, path: Path) -> None:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode):
            from embtui.files import describe_kind

            raise StoreError(f"{path}: {describe_kind(mode)}, not a run store")

    def _check_siblings(self) -> None:
        problem = sibling_problem(self.path)
        if problem:
            raise StoreError(f"{self.path}: {problem}; give --store another name")

    def _connect_read_only(self) -> sqlite3.Connection:
        """Open for reading only. A WAL store normally needs its -shm file, which this user
        cannot create in a read-only folder; then the file is read as immutable."""
        uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}"
        db = sqlite3.connect(
            f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError:
            db.close()
        return sqlite3.connect(
            f"{uri}?immutable=1", uri=True, isolation_level=None, check_same_thread=False
        )

    def _check_readable(self) -> None:
        version = self.schema_version()
        if version == 0 or version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: not an embtui run store this version can read (schema v{version})"
            )

    @property
    def log_path(self) -> Path:
        """The log beside the store: tracebacks of failed runs, TensorFlow's native log."""
        return log_path_of(self.path)

    @property
    def checkpoint_folder(self) -> Path:
        """The runs' checkpoints (see embtui.engine.checkpoint)."""
        return checkpoint_folder_of(self.path)

    def _abandon(self) -> None:
        """Close a connection that failed to open, so it leaves no -wal/-shm files behind."""
        db = getattr(self, "_db", None)
        if db is not None:
            db.close()

    # -- plumbing ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()
            self.closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self, begin: str = "BEGIN IMMEDIATE") -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front.

        A connection that reads an older schema as it is upgrades it first (refused, in
        one line, while a live process trains in it)."""
        with self._lock:
            if self._upgrade_pending:
                self._upgrade()
            try:
                self._db.execute(begin)
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                # Disk full, a read-only file or filesystem, a lock held past the busy
                # timeout: what is committed stays readable, but nothing more can be stored.
                raise StoreError(f"cannot write to the run store {self.path}: {exc}") from exc

    def _read(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def _upgrade(self) -> None:
        """Upgrade the older schema this connection has read so far, then write as usual."""
        self._upgrade_pending = False
        try:
            self._migrate()
            self._set_up_for_writing()
        except BaseException:
            self._upgrade_pending = self.schema_version() < SCHEMA_VERSION
            raise

    def _migrate(self) -> None:
        version = self.schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: store schema v{version} is newer than this embtui "
                f"(v{SCHEMA_VERSION}); upgrade embtui"
            )
        tables = self._db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        if version == 0 and tables:
            raise StoreError(f"{self.path}: an SQLite file, but not an embtui run store")
        # EXCLUSIVE: no other connection writes while the schema changes. The version and
        # the owners are read again inside it: another process may have upgraded the store,
        # or claimed an experiment, since the check above.
        with self._write("BEGIN EXCLUSIVE") as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            self._refuse_while_owned(db, version)
            for _, step in MIGRATIONS[version:]:
                if callable(step):
                    step(db)
                    continue
                for statement in step.split(";"):
                    if statement.strip():
                        db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _refuse_while_owned(self, db: sqlite3.Connection, version: int) -> None:
        """Inside the migration: refuse while a live process (of any embtui version) owns
        an experiment here. It reads and writes the schema it opened, and an upgrade
        underneath it (a column it does not know in `SELECT *`) would kill its grid."""
        if version == 0:
            return
        for row in db.execute(
            "SELECT * FROM experiments WHERE status IN ('queued', 'running') ORDER BY id"
        ).fetchall():
            heartbeat = dict(row).get("heartbeat")  # v1 had none
            if not _owner_dead(row["pid"], row["host"], heartbeat):
                raise OwnedElsewhere(
                    f"{self.path}: store schema v{version} needs upgrading to "
                    f"v{SCHEMA_VERSION}, but experiment {row['id']} is being trained in it "
                    f"by pid {row['pid']} on {row['host']} (perhaps an older embtui); "
                    "try again when it has finished"
                )

    def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap "anything new?" poll."""
        with self._lock:
            return self._db.execute("PRAGMA data_version").fetchone()[0]

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

    def _require_run_owner(self, db: sqlite3.Connection, run_id: int) -> str:
        """Inside a write: the run's status, after checking that this connection owns it."""
        row = db.execute(
            "SELECT experiment_id, status FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no run with id {run_id} in {self.path}")
        self._require_owner(db, row["experiment_id"])
        return str(row["status"])

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
                    if not _owner_dead(row["pid"], row["host"], row["heartbeat"]):
                        raise OwnedElsewhere(
                            f"experiment {exp_id} is being trained by pid {row['pid']} on "
                            f"{row['host']}; wait for it, or stop it there"
                        )
                    _mark_interrupted(db, exp_id)
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

    def set_experiment_status(self, exp_id: int, status: str) -> None:
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
            meta = {**_json_object(row["meta"], self.path, exp_id, "meta"), **values}
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

    def finish_run(self, run_id: int, status: str, error: str | None = None) -> None:
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

    def cancel_queued(self, exp_id: int, status: str = "cancelled") -> None:
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
            if _owner_dead(r["pid"], r["host"], r["heartbeat"])
        ]
        recovered = []
        for exp_id in stale:
            with self._write() as db:
                # Checked again inside the write: it may have been resumed meanwhile.
                row = db.execute(
                    "SELECT status, pid, host, heartbeat FROM experiments WHERE id = ?",
                    (exp_id,),
                ).fetchone()
                if row["status"] in ACTIVE_STATUSES and _owner_dead(
                    row["pid"], row["host"], row["heartbeat"]
                ):
                    _mark_interrupted(db, exp_id)
                    recovered.append(exp_id)
        return recovered

    # -- reads -------------------------------------------------------------------------

    def experiments(self) -> list[ExperimentRow]:
        return [
            _experiment(r, self.path) for r in self._read("SELECT * FROM experiments ORDER BY id")
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
        return _experiment(rows[0], self.path)

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
        return [_run(r, parsed) for r in rows]

    def run(self, run_id: int) -> RunRow:
        rows = self._read("SELECT * FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"no run with id {run_id} in {self.path}")
        return _run(rows[0])

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

    # -- managing experiments (embtui rm, embtui rename, the console's d and F2) ---------

    def delete_experiment(self, exp_id: int) -> ExperimentRow:
        """Delete an experiment with its runs, their epochs and checkpoints; returns the row
        as it was. Refused (OwnedElsewhere) while a live process trains it."""
        with self._write() as db:
            row = db.execute("SELECT * FROM experiments WHERE id = ?", (exp_id,)).fetchone()
            if row is None:
                raise StoreError(f"no experiment with id {exp_id} in {self.path}")
            if row["status"] in ACTIVE_STATUSES and not _owner_dead(
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
        for run_id in runs:  # checkpoints named as engine/checkpoint.py names them
            with contextlib.suppress(OSError):
                (self.checkpoint_folder / f"run-{run_id}.npz").unlink(missing_ok=True)
        # What the runs kept for `embtui inspect` (named as embtui.inspect.kept names them).
        learned = learned_folder_of(self.path)
        for path in [learned / f"run-{run_id}.npz" for run_id in runs] + list(
            learned.glob(f"experiment-{exp_id}-*.npz")
        ):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
        return _experiment(row, self.path)

    def rename_experiment(self, exp_id: int, name: str) -> None:
        """Give an experiment another name (its recorded configuration keeps the name it
        was started with, which names its TensorBoard folder). The caller checks `name`
        (`embtui.config.check_name`)."""
        with self._write() as db:
            cur = db.execute("UPDATE experiments SET name = ? WHERE id = ?", (name, exp_id))
            if cur.rowcount == 0:
                raise StoreError(f"no experiment with id {exp_id} in {self.path}")

    def namesakes(self, exp_id: int) -> list[int]:
        """The other experiments with this one's name (names need not be unique: ids are)."""
        rows = self._read(
            "SELECT b.id FROM experiments a JOIN experiments b ON a.name = b.name "
            "WHERE a.id = ? AND b.id != a.id ORDER BY b.id",
            (exp_id,),
        )
        return [int(r["id"]) for r in rows]


_EXPERIMENT_FIELDS = frozenset(f.name for f in fields(ExperimentRow))


def _experiment(row: sqlite3.Row, path: Path) -> ExperimentRow:
    d = {k: v for k, v in dict(row).items() if k in _EXPERIMENT_FIELDS}
    d["config"] = _json_object(d["config"], path, d["id"], "config")
    d["meta"] = _json_object(d["meta"], path, d["id"], "meta")
    return ExperimentRow(**d)


def _json_object(text: Any, path: Path, exp_id: int, column: str) -> dict[str, Any]:
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


def log_path_of(store: Path) -> Path:
    """`<store>.log`: the store's whole name plus a suffix, so two stores with one stem
    (`a.sqlite`, `a.db`) never share it, and a store named `x.log` is not its own log."""
    return store.with_name(store.name + ".log")


def learned_folder_of(store: Path) -> Path:
    """`<store>.learned/`: what the store's runs kept for `embtui inspect`."""
    return store.with_name(store.name + ".learned")


def checkpoint_folder_of(store: Path) -> Path:
    """`<store>.checkpoints/`: where the store's runs keep their checkpoints."""
    return store.with_name(store.name + ".checkpoints")


def sibling_problem(store: Path) -> str | None:
    """What is in the way of the log or checkpoint folder beside a store, or None.

    Another store, or a folder, where the log goes would be appended to (or break every
    failed run's report); a file where the checkpoints go would silently disable them.
    """
    log, folder = log_path_of(store), checkpoint_folder_of(store)
    try:
        if log.exists() and (not log.is_file() or _is_sqlite(log)):
            what = "another run store" if log.is_file() else "not a plain file"
            return f"{log} (where this store's log goes) is {what}"
        if folder.exists() and not folder.is_dir():
            return f"{folder} (where this store's checkpoints go) is a file, not a folder"
    except OSError as exc:
        return f"cannot check {exc.filename} ({exc.strerror})"
    return None


def _mark_interrupted(db: sqlite3.Connection, exp_id: int) -> None:
    """Inside a write: an experiment whose owner died, and its unfinished runs."""
    db.execute(
        "UPDATE runs SET status = 'interrupted', finished = ? "
        "WHERE experiment_id = ? AND status IN ('queued', 'running')",
        (now(), exp_id),
    )
    db.execute(
        "UPDATE experiments SET status = 'interrupted', finished = ?, owner = NULL WHERE id = ?",
        (now(), exp_id),
    )


def _owner_dead(pid: int | None, host: str | None, heartbeat: str | None) -> bool:
    """Whether an experiment's owning process has died, by the one rule `recover`,
    `claim` and the console share: on this host its pid; elsewhere its heartbeat's age."""
    if host == socket.gethostname():
        return pid is not None and not _alive(pid, heartbeat)
    return heartbeat is not None and _age_s(heartbeat) > STALE_AFTER_S


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just added."""
    if cursor.lastrowid is None:  # pragma: no cover - an INSERT always sets it
        raise StoreError("the run store did not return the new row's id")
    return int(cursor.lastrowid)


def _is_sqlite(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def _writable(path: Path) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def _age_s(stamp: str) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")


def _alive(pid: int, heartbeat: str | None = None) -> bool:
    """Whether the process that owns an experiment still runs.

    A killed process whose parent has not reaped it yet (PID 1 in many containers never
    does) is a zombie: it still answers kill(pid, 0) but will never write again. And a pid
    may have been reused: a process that started after the owner's last heartbeat cannot
    be the owner.
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = _proc_stat(pid)
    if proc is None:
        return True  # no /proc here: kill(pid, 0) is all there is to go on
    state, started = proc
    if state in ("Z", "X"):
        return False
    if heartbeat is not None and started is not None:
        try:
            beat = datetime.fromisoformat(heartbeat).timestamp()
        except ValueError:
            return True
        return started <= beat + 5.0  # both clocks are read to the second; allow for it
    return True


def _proc_stat(pid: int) -> tuple[str, float | None] | None:
    """(state, start time as a Unix timestamp) of a process, from Linux's /proc."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        with open("/proc/stat", encoding="ascii") as handle:
            boot = next(float(line.split()[1]) for line in handle if line.startswith("btime"))
        return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, StopIteration):
        return None
