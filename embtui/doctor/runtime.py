"""The software rows: embtui and Python, then TensorFlow and Keras, imported as a run would.

Importing TensorFlow is the slow part of the doctor (seconds), and on a CPU without AVX it
kills Python outright, so that case is looked for before the import.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embtui import __version__
from embtui.doctor.check import FAIL, OK, Check
from embtui.doctor.gpu import gpu_install_hint
from embtui.versions import distribution_version


def check_embtui() -> Check:
    v = sys.version_info
    return Check(
        "embtui",
        OK,
        f"embtui {__version__}, Python {v.major}.{v.minor}.{v.micro} ({sys.executable})",
    )


def cpu_lacks_avx(cpuinfo: Path = Path("/proc/cpuinfo"), machine: str | None = None) -> bool:
    """True on an x86-64 CPU without AVX, where importing TensorFlow's wheels kills Python.

    Such a crash (illegal instruction) cannot be caught, so it is looked for before the import.
    """
    if (machine or platform.machine()).lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "avx" not in line.partition(":")[2].split()
    except OSError:
        pass
    return False  # unknown: let the import decide


def load_tensorflow(
    importer: Callable[[str], Any] = importlib.import_module,
    *,
    cpuinfo: Path = Path("/proc/cpuinfo"),
) -> tuple[Check, Any]:
    """Import TensorFlow and Keras; the row that says how it went, and the module or None."""
    name = "tensorflow"
    if cpu_lacks_avx(cpuinfo):
        return Check(
            name,
            FAIL,
            "this CPU has no AVX instructions; TensorFlow's pip wheels need them and crash on "
            "import",
            "use a machine with an AVX-capable CPU (any x86-64 CPU since about 2011)",
        ), None
    started = time.perf_counter()
    try:
        tf = importer("tensorflow")
    except ImportError as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow is not installed ({exc})",
            f"pip install tensorflow (on an NVIDIA GPU box: {gpu_install_hint()})",
        ), None
    except Exception as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow fails to import: {type(exc).__name__}: {exc}",
            "pip install --force-reinstall tensorflow (a broken or mixed install)",
        ), None
    seconds = time.perf_counter() - started
    try:
        keras = importer("keras")
        keras_version = str(getattr(keras, "__version__", "unknown"))
    except Exception as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow {tf.__version__} loads, Keras does not: {type(exc).__name__}: {exc}",
            "pip install 'keras>=3.3'",
        ), tf
    if not keras_version[:1].isdigit() or int(keras_version.split(".")[0]) < 3:
        return Check(
            name,
            FAIL,
            f"Keras {keras_version}: embtui needs Keras 3",
            "pip install 'keras>=3.3'",
        ), tf
    wheel = "tensorflow-cpu wheel" if distribution_version("tensorflow-cpu") else "tensorflow"
    return Check(
        name,
        OK,
        f"TensorFlow {tf.__version__} ({wheel}), Keras {keras_version}; imported in "
        f"{seconds:.1f} s",
    ), tf
