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


def unfiltered_stderr() -> int:
    """The descriptor of this process's real stderr, behind the filter if one runs: for a
    process that must write there after this one is gone (the filter goes with it)."""
    return _unfiltered[-1] if _unfiltered else 2


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

    def pump() -> None:
        with os.fdopen(read_end, "rb") as lines:
            for line in lines:
                if not is_noise(line, driver=driver):
                    os.write(saved, line)

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
