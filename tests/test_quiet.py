"""The CLI's stderr filter drops TensorFlow's start-up notices and nothing else."""

from __future__ import annotations

import subprocess
import sys

NOTICES = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1795878393.843081   22355 port.cc:153] oneDNN custom operations are on.",
    b"I0000 00:00:1795878393.904336   22355 cpu_feature_guard.cc:227] This TensorFlow binary",
    b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow"
    b" with the appropriate compiler flags.",
    b"I0000 00:00:1795883721.037320   26847 cudart_stub.cc:31] Could not find cuda drivers on"
    b" your machine, GPU will not be used.",
]
CUINIT = (
    b"E0000 00:00:1795883723.471987   26847 cuda_platform.cc:52] failed call to cuInit:"
    b" INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)"
)

SCRIPT = f"""
import os, sys
from embtui.quiet import tensorflow_notices_filtered
with tensorflow_notices_filtered():
    for line in {NOTICES!r}:
        os.write(2, line + b"\\n")
    os.write(2, b"E0000 real native error from a kernel\\n")
    sys.stderr.write("a Python warning\\n")
sys.stderr.write("after the filter\\n")
"""


def test_notices_are_dropped_and_everything_else_passes_in_order():
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "E0000 real native error from a kernel",
        "a Python warning",
        "after the filter",
    ]


def test_a_failed_cuinit_is_chatter_only_on_a_box_without_an_nvidia_driver():
    from embtui.quiet import is_noise

    assert is_noise(CUINIT, driver=False)
    assert not is_noise(CUINIT, driver=True)  # with a driver it is a real problem: shown
    assert all(is_noise(line, driver=True) for line in NOTICES)
    assert not is_noise(b"E0000 00:00:1795883723.471987 1 some_kernel.cc:52] boom", driver=False)
