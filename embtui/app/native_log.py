"""Keep TensorFlow's native log lines off the console's screen.

TensorFlow and absl log from C++ straight to file descriptor 2 ("oneDNN custom operations
are on", "All log messages before absl::InitializeLog()..."), beneath Python, and Textual
draws on the terminal through `sys.__stderr__`, which is that same descriptor: the lines
land in the middle of the tables. While the console runs, Textual gets a private duplicate
of the terminal and descriptor 2 points at a log file instead.

After a hangup the terminal is gone and every write to it fails; `Terminal.detach` points
the terminal's descriptors at /dev/null, so the console can stop training cleanly and
close without tripping over its own output. It does so on SIGHUP, and at the first write
that fails (`Output`): when an SSH connection drops, the terminal is gone before the console
has handled the signal, and a failed write would end Textual's writer thread, after which
the console blocks on its next frames and never closes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO


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


class Output:
    """The terminal as the console draws on it (Textual writes through `sys.__stderr__`):
    a write or flush that fails means the terminal is gone, so its descriptors are detached
    and the text is dropped, instead of the error ending Textual's writer thread."""

    def __init__(self, file: TextIO, terminal: Terminal) -> None:
        self._file = file
        self._terminal = terminal

    def write(self, text: str) -> int:
        try:
            return self._file.write(text)
        except OSError:
            self._terminal.detach()
            return len(text)

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError:
            self._terminal.detach()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._file, name)


@contextmanager
def _drawing_to(file: TextIO, terminal: Terminal) -> Iterator[None]:
    """`sys.stderr` and `sys.__stderr__` (which Textual draws on) as `Output(file)`."""
    saved = sys.__stderr__, sys.stderr
    output: Any = Output(file, terminal)
    sys.stderr = output
    setattr(sys, "__stderr__", output)  # noqa: B010 - typeshed calls it Final; Textual reads it
    try:
        yield
    finally:
        setattr(sys, "__stderr__", saved[0])  # noqa: B010
        sys.stderr = saved[1]


@contextmanager
def native_stderr_to(log_path: Path) -> Iterator[Terminal]:
    try:
        if not os.isatty(2):
            yield Terminal((0, 1))
            return
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        # No log file possible: the console works, just noisier.
        terminal = Terminal((0, 1, 2))
        with _drawing_to(sys.__stderr__ or sys.stderr, terminal):
            yield terminal
        return
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    os.dup2(log, 2)
    os.close(log)
    file = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    terminal = Terminal((0, 1, terminal_fd))
    try:
        with _drawing_to(file, terminal):
            yield terminal
    finally:
        with contextlib.suppress(OSError):
            file.flush()
        os.dup2(terminal_fd, 2)
        with contextlib.suppress(OSError):
            file.close()
