"""System metrics: the real machine's CPU and RAM, NVML's real answer on this box, and the
formatting and storage of recorded samples."""

from __future__ import annotations

import sys
import time

import numpy as np
import psutil
import pytest

from embtui.store import Store
from embtui.sysmetrics import (
    KEEP_PER_DEVICE,
    DeviceSample,
    Probe,
    RunCost,
    Sampler,
    describe,
    format_bytes,
    visible_gpu,
)


def test_the_cpu_row_reads_this_machine():
    probe = Probe()
    time.sleep(0.2)
    cpu = next(s for s in probe.sample() if s.device == "cpu")
    assert cpu.name == f"CPU ({psutil.cpu_count()} cores)"
    assert 0.0 <= cpu.util <= 100.0
    total = psutil.virtual_memory().total
    assert cpu.mem_total == total and 0 < cpu.mem_used < total
    assert 10e6 < cpu.rss < total  # this pytest process


def test_rss_grows_when_an_array_is_allocated():
    probe = Probe()
    before = probe.rss()
    block = np.ones(300 * 2**20 // 8)  # 300 MB, every page touched
    after = probe.rss()
    assert after - before > 250e6
    del block


def test_without_an_nvidia_driver_gpu_metrics_are_off_with_a_reason():
    """This box has no NVIDIA driver: NVML's own error becomes one line, no GPU rows."""
    pytest.importorskip("pynvml")
    probe = Probe()
    if probe.gpu_count:
        pytest.skip("this box has NVIDIA GPUs")
    assert probe.gpu_problem == "no NVIDIA driver: GPU metrics off"
    assert [s.device for s in probe.sample()] == ["cpu"]


def test_without_nvidia_ml_py_gpu_metrics_are_off_with_a_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # as if it were not installed
    probe = Probe()
    assert probe.gpu_problem == "nvidia-ml-py is not installed: GPU metrics off"
    assert probe.gpu_count == 0


def test_a_device_reads_in_friendly_units():
    gpu = DeviceSample("gpu0", "GPU 0 NVIDIA H200", 87.0, 61.2e9, 139e9, 64.0, 412.4)
    assert describe(gpu) == "GPU 0 NVIDIA H200 87% · 61.2/139 GB · 64°C · 412 W"
    cpu = DeviceSample("cpu", "CPU (16 cores)", 43.0, 21.3e9, 128e9, rss=874e6)
    assert describe(cpu) == "CPU (16 cores) 43% · RAM 21.3/128 GB"
    small = DeviceSample("cpu", "CPU (2 cores)", 5.0, 800e6, 25.3e9)
    assert describe(small) == "CPU (2 cores) 5% · RAM 800 MB/25.3 GB"
    assert [format_bytes(v) for v in (None, 512, 1.5e6, 874e6, 61.2e9)] == [
        "–",
        "512 B",
        "1.5 MB",
        "874 MB",
        "61.2 GB",
    ]


def test_the_gpu_a_run_trains_on_follows_cuda_visible_devices():
    assert visible_gpu({}) == "gpu0"
    assert visible_gpu({"CUDA_VISIBLE_DEVICES": "3,1"}) == "gpu3"
    assert visible_gpu({"CUDA_VISIBLE_DEVICES": "-1"}) is None


def _experiment(store: Store) -> int:
    return store.create_experiment("m", {}, [(10, "learned", 0)], head="flatten")


def test_recorded_samples_come_back_in_order_and_are_thinned_past_the_cap(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = _experiment(store)
        samples = [
            (1000.0 + i, DeviceSample("gpu0", "GPU 0 X", float(i % 100), i * 1e6, 80e9, 50.0))
            for i in range(30)
        ]
        store.add_samples(exp_id, samples[:10])
        back = store.samples(exp_id)
        assert back == samples[:10]
        assert store.samples(exp_id, since=1004.5) == samples[5:10]
        # Past the cap, every second row of the older half goes; the newest stay whole.
        store.add_samples(exp_id, samples[10:], keep=20)
        kept = [t for t, _ in store.samples(exp_id)]
        assert len(kept) == 30 - 7  # 30 > 20: the oldest 15 lose every second one
        assert kept[-15:] == [1000.0 + i for i in range(15, 30)]
        assert kept[:8] == [1000.0 + i for i in range(0, 15, 2)]
    assert KEEP_PER_DEVICE >= 1000


def test_the_sampler_meters_a_run_and_records_the_box(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = _experiment(store)
        run_id = store.runs(exp_id)[0].id
        sampler = Sampler(store, exp_id, every_s=60)
        sampler.start_run(run_id)
        block = np.ones(200 * 2**20 // 8)  # the run's peak: 200 MB more
        sampler.tick()
        del block
        time.sleep(0.05)
        cost = sampler.finish_run(run_id)
        sampler.stop()
        assert isinstance(cost, RunCost)
        assert cost.wall_s >= 0.05
        assert cost.peak_rss > Probe().rss() + 150e6  # the peak, not the current RSS
        assert cost.mean_gpu_util is None and cost.peak_gpu_mem is None  # no GPU here
        assert sampler.finish_run(run_id) is None  # finished once
        recorded = store.samples(exp_id)
        assert [s.device for _, s in recorded] == ["cpu"]
        assert recorded[0][1].rss > 200e6
