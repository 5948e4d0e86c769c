"""A connection to the run store: opening it safely, transactions, and upgrading its schema.

`Connection` is the base of `Store` (`reads.py` adds the reads, `writes.py` the writes): it
refuses what is not a run store in one line, opens a store this user may not write
read-only, and upgrades an older schema (`embtui.store.migrations`) only when it may.
"""

from __future__ import annotations

import math
import os
import sqlite3
import stat
import threading
import urllib.parse
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from embtui.errors import StoreError
from embtui.escape import terminal
from embtui.store.migrations import SCHEMA_VERSION, upgrade
from embtui.store.ownership import OwnedElsewhere, new_owner_token, owner_dead
from embtui.store.paths import (
    checkpoint_folder_of,
    checkpoint_path_of,
    default_store_path,
    log_path_of,
    sibling_problem,
    writable,
)

_Self = TypeVar("_Self", bound="Connection")

#: How long a write waits for another process's lock before it gives up, in seconds.
BUSY_TIMEOUT_S = 30.0


def busy_timeout_s() -> float:
    """`$EMBTUI_BUSY_TIMEOUT` seconds (more than 0, at most an hour), else 30.

    A store on a slow network file system may need longer; a grid that must fail fast
    rather than wait on another process's lock, shorter. A bad value is one line, exit 2.
    """
    raw = os.environ.get("EMBTUI_BUSY_TIMEOUT", "").strip()
    if not raw:
        return BUSY_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:  # NaN fails too
        raise StoreError(
            f"EMBTUI_BUSY_TIMEOUT='{terminal(raw)}': give the seconds a write waits for "
            "another process's lock, more than 0 and at most 3600 (default 30)"
        )
    return value


class Connection:
    """Opening, closing and transactions of a `Store` (see its docstring for the arguments)."""

    _db: sqlite3.Connection

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        create: bool = True,
        owner: str | None = None,
        migrate: bool = True,
    ) -> None:
        wait_s = busy_timeout_s()
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
            if target.exists() and not writable(target):
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
                self._db = self._connect_read_only(wait_s)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(
                    self.path, timeout=wait_s, isolation_level=None, check_same_thread=False
                )
            self._db.row_factory = sqlite3.Row
            self._db.execute(f"PRAGMA busy_timeout = {max(1, round(wait_s * 1000))}")
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

    def _connect_read_only(self, wait_s: float) -> sqlite3.Connection:
        """Open for reading only. A WAL store normally needs its -shm file, which this user
        cannot create in a read-only folder; then the file is read as immutable."""
        uri = f"file:{urllib.parse.quote(str(self.path.resolve()))}"
        db = sqlite3.connect(
            f"{uri}?mode=ro",
            uri=True,
            timeout=wait_s,
            isolation_level=None,
            check_same_thread=False,
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

    def checkpoint_path(self, run_id: int) -> Path:
        """The checkpoint file of one run of this store."""
        return checkpoint_path_of(self.path, run_id)

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

    def __enter__(self: _Self) -> _Self:
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
            upgrade(db, version)

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
            if not owner_dead(row["pid"], row["host"], heartbeat):
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
