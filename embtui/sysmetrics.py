"""Is the hardware busy, and what did a run cost: system samples beside the curves.

A `Probe` reads the box once: CPU utilisation and RAM through psutil, and per NVIDIA GPU its
utilisation, memory, temperature and power through NVIDIA's own NVML bindings
(`nvidia-ml-py`, in the `gpu` extra). Where there is no driver or no NVML it says so in one
line (`gpu_problem`) and samples the CPU alone; it never raises.

A `Sampler` is one background thread per training process. About once a second it takes a
probe sample; in the process that owns the experiment it also buffers them and writes them
to the store every few seconds (one short transaction), so a console on another terminal,
or later, shows them too. It also meters the run being trained: its peak resident memory
and its GPU's mean utilisation. No TensorFlow call happens at the sample rate: a run's peak
GPU memory comes from TensorFlow once at the run's start (a reset) and once at its end.

Samples are kept small: per experiment and device at most `KEEP_PER_DEVICE` rows; beyond
that every second row of the older half is dropped, so recent minutes stay at full
resolution and the whole run survives at a coarser one.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from embtui.store import KEEP_PER_DEVICE, DeviceSample, RunCost, Store

__all__ = [
    "KEEP_PER_DEVICE",
    "DeviceSample",
    "Probe",
    "RunCost",
    "Sampler",
    "describe",
    "format_bytes",
    "gpu_memory_peak",
    "gpu_memory_reset",
    "visible_gpu",
]

#: Seconds between samples, and between the sampler's writes to the store.
SAMPLE_EVERY_S = 1.0
FLUSH_EVERY_S = 5.0

MIB = 1024 * 1024


class Probe:
    """Reads CPU, RAM and NVIDIA GPUs; `gpu_problem` says why GPUs are not read."""

    def __init__(self) -> None:
        self.gpu_problem: str | None = None
        self.cpu_problem: str | None = None
        self._nvml: Any = None
        self._handles: list[tuple[int, Any, str]] = []
        self._psutil: Any = None
        self._process: Any = None
        try:
            import psutil

            self._psutil = psutil
            self._process = psutil.Process()
            psutil.cpu_percent(None)  # the first reading primes the counters
        except ImportError:
            self.cpu_problem = "psutil is not installed: CPU and RAM metrics off"
        self._open_nvml()

    def _open_nvml(self) -> None:
        try:
            import pynvml
        except ImportError:
            self.gpu_problem = "nvidia-ml-py is not installed: GPU metrics off"
            return
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            for index in range(count):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                name = pynvml.nvmlDeviceGetName(handle)
                if isinstance(name, bytes):
                    name = name.decode("utf-8", "replace")
                self._handles.append((index, handle, str(name)))
        except pynvml.NVMLError as exc:
            self.gpu_problem = f"{_nvml_words(exc)}: GPU metrics off"
            return
        self._nvml = pynvml
        if not self._handles:
            self.gpu_problem = "the NVIDIA driver lists no GPU: GPU metrics off"

    @property
    def gpu_count(self) -> int:
        return len(self._handles)

    def rss(self) -> float | None:
        """This process's resident memory, bytes."""
        if self._process is None:
            return None
        try:
            return float(self._process.memory_info().rss)
        except Exception:
            return None

    def sample(self) -> list[DeviceSample]:
        """The CPU row (utilisation since the last call, RAM, this process's RSS), then
        one row per GPU. A device that fails to answer is left out of this sample."""
        out: list[DeviceSample] = []
        if self._psutil is not None:
            try:
                memory = self._psutil.virtual_memory()
                out.append(
                    DeviceSample(
                        "cpu",
                        f"CPU ({self._psutil.cpu_count() or '?'} cores)",
                        util=float(self._psutil.cpu_percent(None)),
                        mem_used=float(memory.total - memory.available),
                        mem_total=float(memory.total),
                        rss=self.rss(),
                    )
                )
            except Exception:
                pass
        for index, handle, name in self._handles:
            try:
                out.append(self._gpu_sample(index, handle, name))
            except Exception:
                continue
        return out

    def _gpu_sample(self, index: int, handle: Any, name: str) -> DeviceSample:
        nvml = self._nvml
        util = nvml.nvmlDeviceGetUtilizationRates(handle)
        memory = nvml.nvmlDeviceGetMemoryInfo(handle)
        temp = power = None
        with contextlib.suppress(nvml.NVMLError):
            temp = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
        with contextlib.suppress(nvml.NVMLError):
            power = nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts
        return DeviceSample(
            f"gpu{index}",
            f"GPU {index} {name}",
            util=float(util.gpu),
            mem_used=float(memory.used),
            mem_total=float(memory.total),
            temp=temp,
            power=power,
        )

    def close(self) -> None:
        if self._nvml is not None:
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
            self._nvml = None


def _nvml_words(exc: Exception) -> str:
    """NVML's error in a user's words: a box without a driver is the common case."""
    text = str(exc)
    if "Library Not Found" in text or "Driver Not Loaded" in text:
        return "no NVIDIA driver"
    if "Insufficient Permissions" in text or "No Permission" in text:
        return "NVML refused this user"
    return f"NVML: {text}"


@dataclass
class _Meter:
    """The running figures of the run being trained."""

    started: float
    gpu: str | None
    peak_rss: float = 0.0
    utils: list[float] = field(default_factory=list)


class Sampler:
    """One background thread: samples the box, meters the current run, and (given a store
    and an experiment this process owns) records the samples.

    Used as a context manager around training; `start_run(run_id, gpu)` and
    `finish_run(run_id)` bracket each run (on any thread).
    """

    def __init__(
        self,
        store: Store | None = None,
        experiment_id: int | None = None,
        *,
        every_s: float = SAMPLE_EVERY_S,
        probe: Probe | None = None,
    ) -> None:
        self.probe = probe or Probe()
        self._store = store
        self._experiment_id = experiment_id
        self._every = every_s
        self._lock = threading.Lock()
        self._meters: dict[int, _Meter] = {}
        self._buffer: list[tuple[float, DeviceSample]] = []
        self._last_flush = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="embtui-sampler", daemon=True)
        self.error: str | None = None

    def start(self) -> Sampler:
        """Start sampling in the background."""
        self._thread.start()
        return self

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop sampling and write what is buffered."""
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._flush()
        self.probe.close()

    # -- runs ----------------------------------------------------------------------------

    def start_run(self, run_id: int, gpu: str | None = None) -> None:
        """Begin metering a run; `gpu` is the device name ("gpu0") it trains on, if any."""
        meter = _Meter(time.monotonic(), gpu)
        rss = self.probe.rss()
        if rss is not None:
            meter.peak_rss = rss
        with self._lock:
            self._meters[run_id] = meter

    def finish_run(self, run_id: int, peak_gpu_mem: float | None = None) -> RunCost | None:
        """End metering a run and return what it cost (None if it was never started)."""
        with self._lock:
            meter = self._meters.pop(run_id, None)
        if meter is None:
            return None
        rss = self.probe.rss()
        peak = max(meter.peak_rss, rss or 0.0) or None
        mean = sum(meter.utils) / len(meter.utils) if meter.utils else None
        return RunCost(time.monotonic() - meter.started, peak, peak_gpu_mem, mean)

    # -- the thread ----------------------------------------------------------------------

    def _loop(self) -> None:
        # A sample at once, so even a grid of a few seconds leaves one, then one a second.
        self.tick()
        while not self._done.wait(self._every):
            self.tick()

    def tick(self) -> list[DeviceSample]:
        """Take one sample now: meter the runs, buffer for the store, flush when due."""
        samples = self.probe.sample()
        now = time.time()
        by_device = {s.device: s for s in samples}
        with self._lock:
            for meter in self._meters.values():
                cpu = by_device.get("cpu")
                if cpu is not None and cpu.rss is not None:
                    meter.peak_rss = max(meter.peak_rss, cpu.rss)
                gpu = by_device.get(meter.gpu) if meter.gpu else None
                if gpu is not None and gpu.util is not None:
                    meter.utils.append(gpu.util)
            if self._store is not None:
                self._buffer.extend((now, s) for s in samples)
        if time.monotonic() - self._last_flush >= FLUSH_EVERY_S:
            self._flush()
        return samples

    def _flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        self._last_flush = time.monotonic()
        if not batch or self._store is None or self._experiment_id is None:
            return
        from embtui.errors import StoreError

        try:
            self._store.add_samples(self._experiment_id, batch)
        except StoreError as exc:  # the training thread meets the same error and says so
            self.error = str(exc)


def gpu_memory_reset(device: str) -> None:
    """Start a run's GPU peak-memory count afresh (TensorFlow keeps one per device); a
    TensorFlow call once per run, never at the sample rate. `device` is the run's device
    as embtui describes it ("CPU", "GPU:0 ...")."""
    if device.startswith("GPU"):
        import tensorflow as tf

        with contextlib.suppress(Exception):  # figures only: never fail a run for them
            tf.config.experimental.reset_memory_stats("GPU:0")


def gpu_memory_peak(device: str) -> float | None:
    """The most GPU memory TensorFlow held since the run began, bytes (None on a CPU)."""
    if not device.startswith("GPU"):
        return None
    import tensorflow as tf

    try:
        return float(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except Exception:
        return None


def visible_gpus() -> list[str]:
    """GPU ids this machine shows, from CUDA_VISIBLE_DEVICES or nvidia's device nodes: what
    the worker pool hands out, and what tells `engine = "auto"` a GPU may train here."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    return (
        sorted(
            name[len("nvidia") :]
            for name in os.listdir("/dev")
            if name.startswith("nvidia") and name[len("nvidia") :].isdigit()
        )
        if os.path.isdir("/dev")
        else []
    )


def visible_gpu(env: dict[str, str] | None = None) -> str | None:
    """The NVML device ("gpu<N>") the first GPU TensorFlow sees here is, or None.

    TensorFlow counts the GPUs CUDA_VISIBLE_DEVICES lets it see; NVML counts them all.
    """
    env = dict(os.environ) if env is None else env
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return "gpu0"
    first = visible.split(",")[0].strip()
    return f"gpu{first}" if first.isdigit() else None


def format_bytes(value: float | None) -> str:
    """`61.2 GB`, `874 MB`: memory in a user's units (decimal, as nvidia-smi's GB)."""
    if value is None:
        return "–"
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= size:
            shown = value / size
            return f"{shown:.1f} {unit}" if shown < 100 else f"{shown:.0f} {unit}"
    return f"{value:.0f} B"


def describe(sample: DeviceSample) -> str:
    """One device in a line: "GPU 0 H200 87% · 61.2/139 GB · 64°C · 412 W",
    "CPU (16 cores) 43% · RAM 21.3/128 GB"."""
    parts = [sample.name]
    if sample.util is not None:
        parts[0] += f" {sample.util:.0f}%"
    if sample.mem_used is not None and sample.mem_total:
        used, total = format_bytes(sample.mem_used).split(), format_bytes(sample.mem_total).split()
        label = "RAM " if sample.device == "cpu" else ""
        if used[1] == total[1]:
            parts.append(f"{label}{used[0]}/{total[0]} {total[1]}")
        else:
            parts.append(f"{label}{' '.join(used)}/{' '.join(total)}")
    if sample.temp is not None:
        parts.append(f"{sample.temp:.0f}°C")
    if sample.power is not None:
        parts.append(f"{sample.power:.0f} W")
    return " · ".join(parts)
