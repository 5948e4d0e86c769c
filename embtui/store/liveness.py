"""Whether a process still runs: the one check embtui uses wherever a pid was recorded.

An experiment's owner (`embtui.store.ownership`) and the writer of a temporary file
(`embtui.files`) are both known by a pid. Two things make `kill(pid, 0)` alone wrong:

* A killed process whose parent has not reaped it yet (PID 1 in many containers never does)
  is a zombie: it still answers `kill(pid, 0)` but will never write again. A zombie is dead.
* A pid may have been reused: a process that started after the moment the one we mean was
  last seen alive (an owner's heartbeat, a temporary file's last write) is another process.

Both are read from Linux's `/proc`; where there is none, `kill(pid, 0)` is all there is.
"""

from __future__ import annotations

import os

#: Start times and the moments they are compared with are both read to the second.
_CLOCK_SLACK_S = 5.0


def process_alive(pid: int, *, seen_at: float | None = None) -> bool:
    """Whether process `pid` runs (this process always does).

    `seen_at`: a Unix time at which the process we mean was known to be alive; a process
    with this pid that started later is not it. A process of another user counts as alive
    (it exists; only its owner could tell more)."""
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
    if seen_at is not None and started is not None:
        return started <= seen_at + _CLOCK_SLACK_S
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
