"""The system pane and the runs' costs: what the console says about the hardware.

The pane draws a recorded machine here (`RecordedProbe`), or samples recorded in the store
by a training process; one test reads this box through the real probe (no NVIDIA driver
here: the probe's own line says so).
"""

from __future__ import annotations

import time

import pytest

from embtui.app.widgets.chart_pane import ChartPane
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.system_pane import BARS, SystemPane, bars, histories
from embtui.engine.events import ignore
from embtui.store import DeviceSample
from embtui.sysmetrics import Probe, describe
from tests.app.conftest import SMALL, record, screen_lines, settle, stored, until
from tests.app.fake import NO_DRIVER, FakeEngine, RecordedProbe, recorded_samples, scripted_cost


def pane_lines(app) -> list[str]:
    return app.main.query_one(SystemPane).text.plain.splitlines()


async def drawn(pilot, probe: RecordedProbe) -> None:
    await until(pilot, lambda: probe.done)
    await settle(pilot)


def test_bars_draw_on_a_fixed_scale_newest_at_the_right():
    assert bars([0, 50, 100], 5) == "  ▁▅█"
    assert bars([3.0, None, 99.9], 3) == "▁ █"
    # More values than columns: the highest of each group.
    assert bars([10, 90, 20, 20, 100, 0], 3) == "█▂█"
    assert bars([5.0] * 4, 4, top=10.0) == "▅▅▅▅"


def test_histories_keep_each_devices_last_minutes_in_order():
    cpu = [
        (float(t), DeviceSample("cpu", "CPU", util=t, mem_used=1.0, mem_total=4.0))
        for t in range(400)
    ]
    gpu = [(399.0, DeviceSample("gpu0", "GPU 0 H200", util=87, mem_used=61.2e9, mem_total=139e9))]
    cpu_h, gpu_h = histories(cpu + gpu)
    assert cpu_h.utils == tuple(float(t) for t in range(99, 400))  # 300 s before the newest
    assert set(cpu_h.mems) == {25.0}
    assert describe(gpu_h.latest) == "GPU 0 H200 87% · 61.2/139 GB"
    assert gpu_h.mems == (61.2e9 / 139e9 * 100,)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_the_pane_hides_at_80x24_shows_at_120x40_and_m_toggles_it(make_app, store_path, size):
    record(store_path)
    probe = RecordedProbe()
    app = make_app(probe=lambda: probe, sample_every_s=0.05)
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        pane = app.main.query_one(SystemPane)
        charts = app.main.query_one(ChartPane)
        wide = size[0] >= 120
        assert pane.display is wide
        assert charts.display is True
        if not wide:
            await pilot.pause(0.1)
            assert (
                app.main.query_one(SystemPane).probe is None
            )  # hidden: this machine is not even read
        await pilot.press("m")
        assert pane.display is not wide
        # At 80 columns the pane takes the charts' place; at 120 it is beside them.
        assert charts.display is (wide or not pane.display)
        if pane.display:
            await drawn(pilot, probe)
            assert pane_lines(app)[0].startswith("CPU (2 cores)")
            assert pane.region.right == size[0]  # the charts' room is the pane's
            assert pane.region.width > 32
        await pilot.press("m")
        assert pane.display is wide
        assert charts.display is True


async def test_the_pane_shows_the_recorded_machine_in_friendly_units(make_app, store_path):
    record(store_path)
    recording = recorded_samples()
    probe = RecordedProbe(recording)
    app = make_app(probe=lambda: probe, sample_every_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await drawn(pilot, probe)
        pane = app.main.query_one(SystemPane)
        assert pane.border_title == "system · this machine"
        last = recording[-1][0]
        lines = pane_lines(app)
        width = pane.content_size.width - 4
        assert describe(last) == "CPU (2 cores) 10% · RAM 11.8/16.0 GB"
        text = pane.text.plain
        assert text.startswith("CPU (2 cores) 10% · RAM")
        use = next(line for line in lines if line.startswith("use "))
        mem = next(line for line in lines if line.startswith("mem "))
        utils = [s[0].util for s in recording]
        assert use[4:] == bars(utils, width)
        assert use.rstrip().endswith("▁") and BARS[-1] in use  # calm now, busy a while ago
        assert len(use[4:].strip()) == len(recording)  # one column per sample
        assert mem[4:].strip()[0] == "▄" and mem[4:].strip()[-1] == "▆"  # 6.0 → 11.75 of 16 GB
        # The probe's own reason, once, as it words it.
        assert NO_DRIVER in text.replace("\n", " ")
        assert text.count("GPU metrics off") == 1


async def test_with_a_gpu_the_pane_draws_it_too(make_app, store_path):
    record(store_path)
    gpu = DeviceSample(
        "gpu0", "GPU 0 H200", util=87.0, mem_used=61.2e9, mem_total=139e9, temp=64.0, power=412.0
    )
    cpu = DeviceSample("cpu", "CPU (16 cores)", util=43.0, mem_used=21.3e9, mem_total=128e9)
    probe = RecordedProbe([[cpu, gpu]] * 3, gpu_problem=None)
    app = make_app(probe=lambda: probe, sample_every_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await drawn(pilot, probe)
        text = app.main.query_one(SystemPane).text.plain
        assert "GPU 0 H200 87% · 61.2/139 GB" in text.replace("\n", " ")
        assert "GPU metrics off" not in text
        assert text.count("use ") == 2 and text.count("mem ") == 2


async def test_this_box_without_a_driver_says_so_in_the_probes_words(make_app, store_path):
    """The real probe on this machine (no NVIDIA driver or no nvidia-ml-py here)."""
    real = Probe()
    reason = real.gpu_problem
    real.close()
    if reason is None:
        pytest.skip("this machine has an NVIDIA GPU that NVML reads")
    record(store_path)
    app = make_app(sample_every_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "CPU (" in app.main.query_one(SystemPane).text.plain)
        text = app.main.query_one(SystemPane).text.plain.replace("\n", " ")
        assert reason in text
        assert " · RAM " in text
        await settle(pilot)


async def test_while_an_experiment_trains_the_pane_shows_its_recorded_samples(make_app, store_path):
    """As a console on another terminal sees `embtui run`: the samples its sampler wrote."""
    store = stored(store_path)
    exp_id = FakeEngine().new_session(store, SMALL, ignore).experiment_id
    store.claim(exp_id)  # training, by this (live) process
    t0 = time.time() - 60

    def gpu(i: int, util: float) -> tuple[float, DeviceSample]:
        return (t0 + i, DeviceSample("gpu0", "GPU 0 H200", util, 61.2e9 + i * 1e8, 139e9))

    store.add_samples(exp_id, [gpu(i, 50.0 + i) for i in range(10)])
    probe = RecordedProbe()
    app = make_app(probe=lambda: probe, sample_every_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        pane = app.main.query_one(SystemPane)
        assert pane.border_title == f"system · #{exp_id} training"
        text = pane.text.plain.replace("\n", " ")
        assert "GPU 0 H200 59% · 62.1/139 GB" in text
        assert (
            app.main.query_one(SystemPane).probe is None
        )  # the store's samples, not this machine's
        store.add_samples(exp_id, [gpu(10, 97.0)])  # the sampler's next flush
        await until(pilot, lambda: "GPU 0 H200 97%" in pane.text.plain)
        use = next(line for line in pane_lines(app) if line.startswith("use "))
        assert use.rstrip().endswith("█")
        assert len(use[4:].strip()) == 11


async def test_dollar_shows_what_each_run_cost(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.main.query_one(RunsTable)
        await pilot.press("dollar_sign")
        runs = stored(store_path).runs(exp_id)
        assert [c.value for c in table.columns] == [
            "mark",
            "size",
            "arm",
            "seed",
            "status",
            "wall_s",
            "peak_rss",
            "peak_gpu_mem",
            "mean_gpu_util",
        ]
        first, last = runs[0], runs[-1]
        assert scripted_cost(10, 0, 3).wall_s == 4.5
        assert table.cells(str(first.id))[5:] == ["4.5 s", "620 MB", "1.6 GB", "60%"]
        assert scripted_cost(50, 1, 3).wall_s == 13.5
        assert table.cells(str(last.id))[5:] == ["13.5 s", "700 MB", "2.0 GB", "65%"]
        assert "costs ($: metrics)" in table.border_title
        assert any("peak RSS" in line for line in screen_lines(app))
        await pilot.press("g")
        await settle(pilot)
        # A cell: mean time, highest peaks, mean utilisation of its seeds.
        assert table.cells("50/glove")[4:] == ["13.5 s", "700 MB", "2.0 GB", "62%"]
        await pilot.press("g", "dollar_sign")
        await settle(pilot)
        assert "val_acc" in [c.value for c in table.columns]
        assert "costs" not in table.border_title
