"""Keep TensorFlow's native log lines off the console's screen.

TensorFlow and absl log from C++ straight to file descriptor 2 ("oneDNN custom operations
are on", "All log messages before absl::InitializeLog()..."), beneath Python, and Textual
draws on the terminal through `sys.__stderr__`, which is that same descriptor: the lines
land in the middle of the tables. While the console runs, Textual gets a private duplicate
of the terminal and descriptor 2 points at a log file instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def native_stderr_to(log_path: Path) -> Iterator[None]:
    try:
        if not os.isatty(2):
            yield
            return
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError:
        yield  # no log file possible: the console still works, just noisier
        return
    sys.stderr.flush()
    terminal_fd = os.dup(2)
    os.dup2(log, 2)
    os.close(log)
    terminal = os.fdopen(terminal_fd, "w", encoding="utf-8", errors="replace")
    saved = sys.__stderr__, sys.stderr
    sys.__stderr__ = sys.stderr = terminal
    try:
        yield
    finally:
        terminal.flush()
        os.dup2(terminal_fd, 2)
        sys.__stderr__, sys.stderr = saved
        terminal.close()
