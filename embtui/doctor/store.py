"""The store row: where the run store is and whether a run can record into it."""

from __future__ import annotations

import os
import sqlite3
import stat
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from embtui.doctor.check import FAIL, OK, Check, size_text

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_store(path: str | None, env: Mapping[str, str] | None = None) -> Check:
    """Whether `embtui run` can record into the store; the store itself is never changed."""
    from embtui.store import (
        SCHEMA_VERSION,
        Store,
        StoreError,
        default_store_path,
        sibling_problem,
    )

    env = os.environ if env is None else env
    if path:
        store, source = Path(path).expanduser(), "--store"
    elif env.get("EMBTUI_STORE"):
        store, source = Path(env["EMBTUI_STORE"]).expanduser(), "$EMBTUI_STORE"
    else:
        store, source = default_store_path(), "default"
    label = f"{store} ({source})"
    other = "--store PATH to another file, or set EMBTUI_STORE"

    if store.is_dir():
        return Check(
            "store",
            FAIL,
            f"{label} is a folder, not a store file",
            f"--store {store / 'embtui.sqlite'}",
        )
    if not store.exists():
        ancestor = store.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return Check("store", FAIL, f"{label}: {ancestor} is a file, not a folder", other)
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return Check(
                "store", FAIL, f"{label}: cannot create it ({ancestor} is read-only)", other
            )
        return Check("store", OK, f"{label}: not created yet; the first run creates it")

    mode = store.stat().st_mode
    if not stat.S_ISREG(mode):
        from embtui.files import describe_kind

        return Check("store", FAIL, f"{label}: {describe_kind(mode)}, not a store file", other)
    if problem := sibling_problem(store):
        return Check("store", FAIL, f"{label}: {problem}", other)
    size = store.stat().st_size
    if not (os.access(store, os.W_OK) and os.access(store.parent, os.W_OK | os.X_OK)):
        what = "the file" if not os.access(store, os.W_OK) else f"its folder {store.parent}"
        return Check(
            "store",
            FAIL,
            f"{label}: {what} is not writable",
            f"chmod u+w, or {other}",
        )
    with open(store, "rb") as handle:
        header = handle.read(100)
    if size == 0:
        return Check("store", OK, f"{label}: an empty file; the first run sets up the store in it")
    if not header.startswith(SQLITE_MAGIC):
        return Check(
            "store",
            FAIL,
            f"{label}: not an SQLite file ({size_text(size)}, starts {header[:16]!r})",
            other,
        )
    version = int.from_bytes(header[60:64], "big") if len(header) >= 64 else 0
    if version > SCHEMA_VERSION:
        return Check(
            "store",
            FAIL,
            f"{label}: store schema v{version} is newer than this embtui (v{SCHEMA_VERSION})",
            f"pip install -U embtui, or {other}",
        )
    if version < SCHEMA_VERSION:
        return _check_old_store(store, label, size, version, other)
    try:
        with Store(store, create=False) as opened:
            count = len(opened.experiments())
    except StoreError as exc:
        return Check("store", FAIL, str(exc), other)
    return Check("store", OK, f"{label}: {size_text(size)}, {count} experiment{'s' * (count != 1)}")


def _check_old_store(store: Path, label: str, size: int, version: int, other: str) -> Check:
    """A store of an older schema (or an empty SQLite file): read it without migrating it.

    The connection may write but only reads; unlike a read-only one, it cleans up the -wal
    and -shm files that opening a WAL file makes, as the last connection to close does.
    """
    uri = "file:" + urllib.parse.quote(str(store.resolve())) + "?mode=rw"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            count = (
                db.execute("SELECT COUNT(*) FROM experiments").fetchone()[0]
                if "experiments" in tables
                else 0
            )
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return Check("store", FAIL, f"{label}: not a usable SQLite file ({exc})", other)
    if version == 0 and tables:
        return Check("store", FAIL, f"{label}: an SQLite file, but not an embtui run store", other)
    if version == 0:
        return Check("store", OK, f"{label}: an empty SQLite file; the first run sets it up")
    return Check(
        "store",
        OK,
        f"{label}: {size_text(size)}, {count} experiment{'s' * (count != 1)}, schema v{version} "
        "(the next run upgrades it)",
    )
