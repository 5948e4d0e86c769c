"""The metrics row: whether the console can show CPU, RAM and GPU use beside the curves."""

from __future__ import annotations

from embtui.doctor.check import OK, WARN, Check
from embtui.versions import distribution_version


def check_metrics(probe: object | None = None) -> Check:
    """psutil for CPU and RAM, NVIDIA's NVML for GPUs: what the system pane will show.

    A box without an NVIDIA driver is fine (the CPU row still shows); a box whose driver
    lists GPUs but whose Python lacks nvidia-ml-py gets the command that adds it.
    """
    from embtui.sysmetrics import Probe, describe

    probe = probe if isinstance(probe, Probe) else Probe()
    try:
        shown = "; ".join(describe(s) for s in probe.sample())
    finally:
        probe.close()
    if probe.cpu_problem:
        return Check("metrics", WARN, probe.cpu_problem, "pip install psutil")
    gpus = f"{probe.gpu_count} GPU{'s' * (probe.gpu_count != 1)} through NVML"
    if probe.gpu_problem is None:
        return Check("metrics", OK, f"psutil {distribution_version('psutil')}, {gpus}: {shown}")
    if "not installed" in probe.gpu_problem and _nvidia_driver_present():
        return Check(
            "metrics",
            WARN,
            f"{shown}; {probe.gpu_problem}",
            "pip install 'embtui[gpu]' (nvidia-ml-py)",
        )
    return Check("metrics", OK, f"{shown}; {probe.gpu_problem}")


def _nvidia_driver_present() -> bool:
    from pathlib import Path

    return Path("/proc/driver/nvidia/version").exists()
