"""Keep TensorFlow's start-up chatter out of embtui's terminal output.

TensorFlow's native code writes several lines straight to file descriptor 2 when it loads:
the absl "log messages before InitializeLog" notice, the oneDNN and CPU-instruction notices,
and, from the CUDA build on a box without a GPU, "could not find cuda drivers". They say
nothing about the user's experiment and bury embtui's own one-line messages. While the CLI
trains, descriptor 2 goes through a filter that drops exactly those notices and passes
every other line through unchanged, so real errors still show.
"""

from __future__ import annotations

import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

NOISE = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|I\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\]"
    rb"|I\d{4} [\d:. ]+\d+ cudart_stub\.cc:\d+\] Could not find cuda drivers"
    rb"|To enable the following instructions: .*rebuild TensorFlow)"
)
#: The CUDA build of TensorFlow on a box without an NVIDIA driver reports that it cannot
#: initialise CUDA. With no driver that is expected (training runs on the CPU, and each run
#: line says so); on a box that has a driver the same line is a real problem and stays.
NO_DRIVER_NOISE = re.compile(rb"^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit")
NVIDIA_DRIVER = "/proc/driver/nvidia/version"


def is_noise(line: bytes, *, driver: bool) -> bool:
    """Whether a line of TensorFlow's native output is start-up chatter to drop."""
    return bool(NOISE.match(line) or (not driver and NO_DRIVER_NOISE.match(line)))


#: While the filter runs: the descriptor of the stderr it writes to (the terminal's).
_unfiltered: list[int] = []
#: Set when the reader of the real stderr went away (`embtui run 2>&1 | head`): the filter
#: then drains and drops what is written, so a writer never blocks on a full pipe.
_reader_gone = threading.Event()


def stderr_reader_gone() -> bool:
    """Whether whoever read this process's stderr (progress) stopped reading."""
    return _reader_gone.is_set()


def unfiltered_stderr() -> int:
    """The descriptor of this process's real stderr, behind the filter if one runs: for a
    process that must write there after this one is gone (the filter goes with it)."""
    return _unfiltered[-1] if _unfiltered else 2


def progress_stream() -> TextIO:
    """A text stream on this process's real stderr, in front of the filter if one runs:
    where the CLI's progress goes. The filter passes whole lines only, and a live display
    redraws within a line; the terminal test (`isatty`) is the real stderr's too. Every
    write is flushed (line buffered; the live display flushes its own)."""
    fd = unfiltered_stderr()
    try:
        on_fd_2 = sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):  # a stream in memory (a test, an embedder)
        on_fd_2 = False
    if fd == 2 or not on_fd_2:
        return sys.stderr
    return open(  # lives as long as the filter; closefd=False: the filter owns the fd
        fd,
        "w",
        encoding=sys.stderr.encoding or "utf-8",
        errors="backslashreplace",
        buffering=1,
        closefd=False,
    )


@contextmanager
def tensorflow_notices_filtered() -> Iterator[None]:
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to filter
        yield
        return
    _unfiltered.append(saved)
    read_end, write_end = os.pipe()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)

    driver = os.path.exists(NVIDIA_DRIVER)
    _reader_gone.clear()

    def pump() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if is_noise(line, driver=driver) or _reader_gone.is_set():
                    continue
                try:
                    os.write(saved, line)
                except OSError:  # EPIPE: nobody reads stderr any more
                    _reader_gone.set()

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the pump reads to the end
        thread.join(timeout=2)
        _unfiltered.remove(saved)
        os.close(saved)
