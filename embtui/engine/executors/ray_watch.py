"""Saying so when the Ray node under a grid dies and takes this process with it.

A Ray driver (the process that runs `embtui run --ray`) is attached to the raylet of its own
machine. When that raylet dies (the head's processes on a one-machine cluster, or this
machine's node), Ray's C++ core ends the driver at once with `_Exit(1)`: no Python runs, no
`finally`, no message; the store is left `running` until a reader sees its owner is dead.

So while a grid trains on Ray, a small watcher process waits on a pipe from the driver. The
driver writes `done` before it leaves by any ordinary path (finished, stopped, an
exception). If the pipe closes without it, the driver ended abruptly; when the raylet it was
attached to no longer answers either, the watcher marks the experiment `interrupted` (the
store's own recovery: its owner is dead) and prints one line saying what happened and how to
finish it. A driver killed by a user (`kill -9`) while its raylet lives gets no message.

The watcher runs in its own session, so a Ctrl-C or hangup of the terminal reaches only the
driver, which handles it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from embtui.quiet import unfiltered_stderr
from embtui.store import Store


class NodeWatch:
    """The driver's end of the watcher (see the module docstring)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, ray: Any, store: Store, experiment_id: int) -> NodeWatch | None:
        """Start a watcher for the raylet this driver is attached to; None where Ray does
        not say which (the grid then trains unwatched, as before)."""
        raylet = raylet_socket(ray)
        if raylet is None:
            return None
        root = str(Path(__file__).resolve().parents[3])  # this embtui, wherever it lives
        path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", __name__, raylet, str(store.path), str(experiment_id)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=unfiltered_stderr(),  # the filter of this one's stderr dies with it
            env={**os.environ, "PYTHONPATH": path},
            start_new_session=True,
        )
        return cls(proc)

    def close(self) -> None:
        """The driver leaves in an orderly way: the watcher has nothing to say."""
        stdin: IO[bytes] | None = self.proc.stdin
        if stdin is not None:
            with contextlib.suppress(OSError):
                stdin.write(b"done\n")
                stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def answers(raylet_socket: str) -> bool:
    """Whether a raylet listens on this Unix socket."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(2)
    try:
        probe.connect(raylet_socket)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def watch(raylet_socket: str, store_path: str, experiment_id: int) -> int:
    """The watcher: wait for the driver's word or its end; speak only for a dead node."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    said = sys.stdin.buffer.read()
    if said.startswith(b"done") or answers(raylet_socket):
        return 0
    status: str  # what the store says, or why it could not be read
    try:
        with Store(store_path, create=False) as store:
            store.recover()  # the driver is dead: its experiment is `interrupted`
            status = store.experiment(experiment_id).status
    except Exception as exc:  # the message below matters more than the store's state
        status = f"not readable ({' '.join(str(exc).split())[:100]})"
    with contextlib.suppress(OSError):
        sys.stderr.write(f"embtui: error: {node_died(experiment_id, status)}\n")
        sys.stderr.flush()
    return 0


def node_died(experiment_id: int, status: str = "interrupted") -> str:
    """The line that says this machine's Ray node died under a grid, and what to do."""
    n = experiment_id
    return (
        "the Ray node on this machine died (its raylet stopped; Ray ends the processes "
        f"attached to it): experiment {n} is {status}; finish it here with "
        f"`embtui resume {n} --cluster local`, or on a running cluster with "
        f"`embtui resume {n} --ray ADDRESS`"
    )


def raylet_socket(ray: Any) -> str | None:
    """The Unix socket of the raylet this driver is attached to; None where Ray does not
    say (or it is not a Unix socket)."""
    try:
        path = str(ray._private.worker.global_worker.node.raylet_socket_name)
    except Exception:
        return None
    return path if path.startswith("/") else None


if __name__ == "__main__":  # the watcher process
    raise SystemExit(watch(sys.argv[1], sys.argv[2], int(sys.argv[3])))
