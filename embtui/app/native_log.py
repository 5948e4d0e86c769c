"""Keep TensorFlow's native log lines off the console's screen.

TensorFlow and absl log from C++ straight to file descriptor 2 ("oneDNN custom operations
are on", "All log messages before absl::InitializeLog()..."), beneath Python, and Textual
draws on the terminal through `sys.__stderr__`, which is that same descriptor: the lines
land in the middle of the tables. While the console runs, Textual gets a private duplicate
of the terminal and descriptor 2 points at a log file instead.

After a hangup the terminal is gone and every write to it fails; `Terminal.detach` points
the terminal's descriptors at /dev/null, so the console can stop training cleanly and
close without tripping over its own output.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class Terminal:
    """The descriptors that reach the user's terminal while the console runs."""

    def __init__(self, fds: tuple[int, ...]) -> None:
        self.fds = fds

    def detach(self) -> None:
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd)
        os.close(devnull)


@contextmanager
def native_stderr_to(log_path: Path) -> Iterator[Terminal]:
    try:
        if not os.isatty(2):
            yield Terminal((0, 1))
            return
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield Terminal((0, 1, 2))  # no log file possible: the console works, just noisier
        return
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    os.dup2(log, 2)
    os.close(log)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    saved = sys.__stderr__, sys.stderr
    sys.stderr = terminal
    setattr(sys, "__stderr__", terminal)  # noqa: B010 - typeshed calls it Final; Textual reads it
    try:
        yield Terminal((0, 1, terminal_fd))
    finally:
        with contextlib.suppress(OSError):
            terminal.flush()
        os.dup2(terminal_fd, 2)
        setattr(sys, "__stderr__", saved[0])  # noqa: B010
        sys.stderr = saved[1]
        with contextlib.suppress(OSError):
            terminal.close()
