"""Who trains an experiment, and whether that process is still alive.

One process owns an experiment at a time: it claims it in one transaction
(`Store.claim`), writes as its owner token, and beats a heartbeat. Whether an owner died is
decided by one rule (`owner_dead`), shared by `recover`, `claim`, a delete and a migration:
on this host its pid (`embtui.store.liveness`), elsewhere its heartbeat's age.
"""

from __future__ import annotations

import os
import secrets
import socket
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from embtui.errors import StoreError
from embtui.store.liveness import process_alive

UTC = timezone.utc  # datetime.UTC from Python 3.11 on

#: Seconds between a running experiment's heartbeats, and the age after which an experiment
#: owned by another host (whose process cannot be checked) counts as dead.
HEARTBEAT_S = 10.0
STALE_AFTER_S = 300.0


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


def now() -> str:
    """The time as the store records it (created, finished, heartbeats): UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def new_owner_token() -> str:
    """A token naming one writer: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(6)}"


def owner_dead(pid: int | None, host: str | None, heartbeat: str | None) -> bool:
    """Whether an experiment's owning process has died: on this host its pid (a zombie is
    dead; a process started after the last heartbeat is another one); elsewhere its
    heartbeat's age."""
    if host == socket.gethostname():
        return pid is not None and not process_alive(pid, seen_at=_timestamp(heartbeat))
    return heartbeat is not None and _age_s(heartbeat) > STALE_AFTER_S


def mark_interrupted(db: sqlite3.Connection, exp_id: int) -> None:
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


def _timestamp(stamp: str | None) -> float | None:
    """A stored time as a Unix timestamp; None when there is none or it cannot be read."""
    if stamp is None:
        return None
    try:
        return datetime.fromisoformat(stamp).timestamp()
    except ValueError:
        return None


def _age_s(stamp: str) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(stamp)).total_seconds()
    except ValueError:
        return float("inf")
