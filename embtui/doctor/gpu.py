"""The GPU row: which GPUs TensorFlow trains on, or why it sees none.

The NVIDIA driver is asked on its own (nvidia-smi and the kernel module's version file), so
the row can tell a box without a GPU from a driver that TensorFlow cannot use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embtui.doctor.check import OK, WARN, Check
from embtui.versions import distribution_version


def gpu_install_hint() -> str:
    """The pip command that gives TensorFlow its CUDA libraries on an NVIDIA box."""
    try:
        from importlib.metadata import metadata

        extras = metadata("embtui").get_all("Provides-Extra") or []
    except Exception:
        extras = []
    command = (
        "pip install 'embtui[gpu]'" if "gpu" in extras else "pip install 'tensorflow[and-cuda]'"
    )
    # tensorflow-cpu and tensorflow install the same package folder: installing one over the
    # other leaves a mix, so the CPU wheel goes first.
    if distribution_version("tensorflow-cpu"):
        command = f"pip uninstall tensorflow-cpu && {command}"
    return command


@dataclass(frozen=True)
class DriverGpu:
    name: str
    memory: str  # as nvidia-smi says it, e.g. "143771 MiB"


@dataclass(frozen=True)
class Driver:
    """What the NVIDIA driver says about this box, without TensorFlow."""

    present: bool
    version: str = ""
    gpus: tuple[DriverGpu, ...] = ()
    error: str = ""  # nvidia-smi exists but fails: a driver that is installed but not working


def probe_driver(
    *,
    which: Callable[[str], str | None] = shutil.which,
    proc_version: Path = Path("/proc/driver/nvidia/version"),
    timeout: float = 10.0,
) -> Driver:
    """Look for an NVIDIA driver: `nvidia-smi` on PATH and the kernel module's version file."""
    kernel_module = False
    version = ""
    try:
        text = proc_version.read_text(encoding="utf-8", errors="replace")
        kernel_module = True
        for word in text.split():
            if word[:1].isdigit() and "." in word:
                version = word
                break
    except OSError:
        pass
    smi = which("nvidia-smi")
    if smi is None:
        return Driver(present=kernel_module, version=version)
    try:
        proc = subprocess.run(
            [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Driver(True, version, (), f"nvidia-smi: {exc}")
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).strip().splitlines()
        error = said[0] if said else f"exit status {proc.returncode}"
        return Driver(True, version, (), f"nvidia-smi: {error}")
    gpus = []
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0]:
            gpus.append(DriverGpu(parts[0], parts[1]))
            if len(parts) >= 3 and parts[2] and not version:
                version = parts[2]
    return Driver(True, version, tuple(gpus))


def _memory(text: str) -> str:
    """ "143771 MiB" -> "140 GiB"; anything else as it came."""
    number, _, unit = text.partition(" ")
    try:
        mib = float(number)
    except ValueError:
        return text
    return f"{mib / 1024:.0f} GiB" if unit == "MiB" and mib >= 1024 else text


def _driver_summary(driver: Driver) -> str:
    gpus = ", ".join(f"{g.name} ({_memory(g.memory)})" for g in driver.gpus) or "no GPU listed"
    return f"NVIDIA driver {driver.version or '(version unknown)'}: {gpus}"


def check_gpu(tf: Any, driver: Driver, env: Mapping[str, str] | None = None) -> Check:
    """Which GPUs TensorFlow trains on, or why it sees none. No GPU is a warning only."""
    env = os.environ if env is None else env
    name = "gpu"
    if tf is None:
        seen = _driver_summary(driver) if driver.present else "no NVIDIA driver"
        return Check(name, WARN, f"not checked: TensorFlow did not load ({seen})")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        shown = []
        for i, gpu in enumerate(gpus):
            try:
                details = tf.config.experimental.get_device_details(gpu) or {}
            except Exception:  # details are cosmetic
                details = {}
            label = str(details.get("device_name") or f"GPU:{i}")
            facts = []
            memory = _memory_of(label, i, len(gpus), driver)
            if memory:
                facts.append(memory)
            if details.get("compute_capability"):
                facts.append("compute " + ".".join(map(str, details["compute_capability"])))
            shown.append(f"GPU:{i} {label}" + (f" ({', '.join(facts)})" if facts else ""))
        return Check(name, OK, f"TensorFlow trains on {'; '.join(shown)}")

    cpu = "training runs on the CPU (it works, only slower)"
    hidden = env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1", "none", "NoDevFiles"):
        return Check(
            name,
            WARN,
            f"CUDA_VISIBLE_DEVICES={hidden!r} hides every GPU from TensorFlow; {cpu}",
            "unset CUDA_VISIBLE_DEVICES (or set it to the GPU's index, e.g. 0)",
        )
    if not driver.present:
        return Check(
            name,
            WARN,
            f"none: no NVIDIA driver on this box (no nvidia-smi, no /proc/driver/nvidia/version); "
            f"{cpu}",
        )
    if driver.error:
        return Check(
            name,
            WARN,
            f"an NVIDIA driver is installed but not working ({driver.error}); {cpu}",
            "reinstall the NVIDIA driver, or reboot after a driver upgrade (the kernel module "
            "and the driver libraries must be the same version)",
        )
    if not tf.test.is_built_with_cuda():
        return Check(
            name,
            WARN,
            f"TensorFlow {tf.__version__} is a CPU-only build, though the "
            f"{_driver_summary(driver)}; {cpu}",
            gpu_install_hint(),
        )
    try:
        build = tf.sysconfig.get_build_info()
        wanted = f"CUDA {build.get('cuda_version', '?')} / cuDNN {build.get('cudnn_version', '?')}"
    except Exception:
        wanted = "CUDA"
    return Check(
        name,
        WARN,
        f"TensorFlow is built for {wanted} but sees no GPU, though the {_driver_summary(driver)}: "
        f"a driver/CUDA mismatch or missing CUDA libraries; {cpu}",
        f"{gpu_install_hint()} (CUDA libraries that match TensorFlow), and a driver new enough "
        "for that CUDA; TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's own reason",
    )


def _memory_of(label: str, index: int, count: int, driver: Driver) -> str:
    """The memory nvidia-smi reports for TensorFlow's GPU number `index`."""
    if len(driver.gpus) == count and driver.gpus[index].name in label:
        return _memory(driver.gpus[index].memory)
    same_name = [g for g in driver.gpus if g.name and (g.name in label or label in g.name)]
    if same_name and len({g.memory for g in same_name}) == 1:
        return _memory(same_name[0].memory)
    return ""
