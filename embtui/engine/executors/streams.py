"""Standard streams for code that starts processes (worker pools, Ray)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def stderr_with_fd() -> Iterator[None]:
    """While the block runs, `sys.stderr` has a file descriptor.

    Under the console, sys.stderr is Textual's print capture, whose fileno() is -1, and
    what starts other processes fails on it: multiprocessing's resource tracker ("bad
    value(s) in fds_to_keep") and `ray.init` (faulthandler: "file.fileno() is not a valid
    file descriptor"). Inside the block such a stream is replaced by fd 2 itself, which
    under the console is the store's log file (`embtui.app.native_log`); a usable
    sys.stderr is left alone."""
    try:
        usable = sys.stderr is not None and sys.stderr.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        usable = False
    if usable:
        yield
        return
    saved = sys.stderr
    with open(2, "w", closefd=False) as fd2:
        sys.stderr = fd2
        try:
            yield
        finally:
            sys.stderr = saved
