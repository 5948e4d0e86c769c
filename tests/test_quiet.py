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
]

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
