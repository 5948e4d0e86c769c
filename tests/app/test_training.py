"""Starting, cancelling, resuming and quitting through the keys, with the fake engine."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import pytest
from textual.widgets import Static
from textual.worker import WorkerState

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.status_line import StatusLine
from embtui.store import Store
from tests.app.conftest import REPO, SMALL, record, settle, stored, text_of, until
from tests.app.fake import FakeEngine


async def _start_held(pilot, engine: FakeEngine) -> None:
    """ctrl+s from the form (opened with the TOML's config), then wait for the engine to park."""
    assert isinstance(pilot.app.screen, ConfigureScreen)
    await pilot.press("ctrl+s")
    assert await asyncio.to_thread(engine.held.wait, 10)
    await pilot.pause()
    pilot.app.main.refresh_data()
    await pilot.pause()


async def test_ctrl_s_trains_and_the_table_shows_every_run_done(make_app, store_path):
    app = make_app(SMALL)
    async with app.run_test(size=(120, 40)) as pilot:
        assert isinstance(app.screen, ConfigureScreen)  # a TOML opens the filled-in form
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        store = stored(store_path)
        (exp,) = store.experiments()
        assert exp.status == "done"
        runs = store.runs(exp.id)
        assert [r.status for r in runs] == ["done"] * 8
        table = app.screen.query_one(RunsTable)
        assert [table.cells(str(r.id))[4] for r in runs] == ["done"] * 8
        assert "done" in app.screen.query_one(StatusLine).text


async def test_x_cancels_after_confirmation_and_keeps_the_epochs(make_app, store_path):
    engine = FakeEngine(hold_after=4)  # run 1 done (3 epochs), run 2 after its first epoch
    app = make_app(SMALL, engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await _start_held(pilot, engine)
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # a "no" changes nothing
        assert app.is_training and not app.stop_event.is_set()
        await pilot.press("x", "y")
        await settle(pilot)
        store = stored(store_path)
        (exp,) = store.experiments()
        assert exp.status == "cancelled"
        runs = store.runs(exp.id)
        epochs = store.epochs(exp.id)
        assert [r.status for r in runs] == ["done"] + ["cancelled"] * 7
        assert len(epochs[runs[0].id]) == 3
        assert len(epochs[runs[1].id]) == 2  # the epoch under way when x was confirmed
        table = app.screen.query_one(RunsTable)
        assert table.cells(str(runs[1].id))[4:6] == ["cancelled", "2/3"]

        # r resumes what was cancelled; the finished run is kept as it was.
        engine.release()
        await pilot.press("r")
        await settle(pilot)
        assert store.experiment(exp.id).status == "done"
        assert [r.status for r in store.runs(exp.id)] == ["done"] * 8
        assert all(len(v) == 3 for v in store.epochs(exp.id).values())
        assert table.cells(str(runs[1].id))[4:6] == ["done", "3/3"]


async def test_q_while_training_asks_then_stops_cleanly(make_app, store_path):
    engine = FakeEngine(hold_after=2)
    app = make_app(SMALL, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _start_held(pilot, engine)
        await pilot.press("q")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")
        assert app.is_running and app.is_training
        await pilot.press("q", "y")
        await app.workers.wait_for_complete()
        await pilot.pause()
    assert app.return_code == 0
    store = stored(store_path)
    (exp,) = store.experiments()
    assert exp.status == "cancelled"
    assert not [r for r in store.runs(exp.id) if r.status in ("running", "queued")]
    assert len(store.epochs(exp.id)[store.runs(exp.id)[0].id]) == 3


async def test_q_when_idle_quits_at_once(make_app):
    app = make_app()
    async with app.run_test() as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_while_training_stops_after_the_epoch_and_says_how_to_resume(make_app, store_path):
    engine = FakeEngine(hold_after=4)
    app = make_app(SMALL, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _start_held(pilot, engine)
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("y")
        await until(pilot, lambda: app.return_code is not None)
    (exp,) = stored(store_path).experiments()
    assert exp.status == "cancelled"
    assert app.return_code == 0
    assert app.farewell == (
        f"embtui: experiment {exp.id} (small) cancelled; resume it with: embtui resume {exp.id}"
    )


async def test_r_goes_through_the_claim_and_a_process_that_won_it_keeps_it(make_app, store_path):
    """Another process resumes the same experiment between the console's check and its
    start: the console's claim is refused, it says so, and trains nothing."""
    exp_id = record(store_path, stop_after=3)
    rival = stored(store_path)

    class Raced(FakeEngine):
        def resume_session(self, store, experiment_id, sink):
            rival.claim(experiment_id, resume=True)  # the other process got there first
            return super().resume_session(store, experiment_id, sink)

    app = make_app(engine=Raced())
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            before = _epochs_per_run(rival, exp_id)
            await pilot.press("r")
            await settle(pilot)
            status = app.screen.query_one(StatusLine).text
            assert f"experiment {exp_id} is being trained by pid" in status
            exp = rival.experiment(exp_id)
            assert (exp.status, exp.owner) == ("running", rival.owner)
            assert _epochs_per_run(rival, exp_id) == before  # nothing trained by the console
    finally:
        rival.close()


def _epochs_per_run(store: Store, exp_id: int) -> dict[int, int]:
    epochs = store.epochs(exp_id)
    return {r.id: len(epochs.get(r.id, [])) for r in store.runs(exp_id)}


async def test_a_diverging_run_shows_why_it_failed_in_the_table_and_the_epoch_pane(
    make_app, store_path
):
    config = SMALL.replace(sizes="10", embeddings="learned", seeds=1, optimizer="sgd")
    app = make_app(config.replace(learning_rate=1e6))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await settle(pilot)
        store = stored(store_path)
        (run,) = store.runs(1)
        assert (run.status, run.error) == ("failed", "loss became NaN at epoch 2")
        table = app.screen.query_one(RunsTable)
        row = table.cells(str(run.id))
        # Status with a short reason; the huge loss abbreviated, the column not widened.
        assert row[4:7] == ["failed: NaN", "1/3", "2.94e8"]
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert app.screen.query_one(EpochTable).cells("1")[1] == "2.94e8"
        note = app.screen.query_one("#epoch-note", Static)
        assert text_of(note) == "✗ failed after 1 of 3 epochs: loss became NaN at epoch 2"
        assert note.display
        assert any("loss became NaN at epoch 2" in e.text for e in app.messages)


async def test_a_hangup_stops_after_the_epoch_and_leaves_the_experiment_cancelled(
    make_app, store_path
):
    """SIGHUP (the terminal or the SSH connection closed): as `embtui run` does, training
    stops after the current epoch and the experiment is cancelled, not interrupted."""
    engine = FakeEngine(hold_after=4)
    app = make_app(SMALL, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _start_held(pilot, engine)
        training = app.training
        assert training is not None and training.state == WorkerState.RUNNING
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(training.wait(), 10)  # the epoch under way ends, then training
        await until(pilot, lambda: app.return_code is not None)  # then the console closes
    assert training.state == WorkerState.SUCCESS
    assert app.exit_signal == signal.SIGHUP
    assert app.return_code == 128 + signal.SIGHUP
    store = stored(store_path)
    (exp,) = store.experiments()
    assert exp.status == "cancelled"
    runs = store.runs(exp.id)
    assert [r.status for r in runs] == ["done"] + ["cancelled"] * 7
    assert len(store.run_epochs(runs[1].id)) == 2  # the epoch under way was finished
    assert signal.getsignal(signal.SIGHUP) == signal.SIG_DFL  # handler removed on exit


#: A console session in a fresh process: ctrl+s, x after four epochs, then r to finish.
CONSOLE_RUN = """
import asyncio, sys, tempfile
from pathlib import Path
from embtui.app.app import EmbtuiApp
from embtui.store import Store
from tests.app.conftest import SMALL, fixed_clock, settle
from tests.app.fake import FakeEngine

async def main(folder):
    engine = FakeEngine(hold_after=4)
    app = EmbtuiApp(folder / "runs.sqlite", SMALL, folder, engine=engine, clock=fixed_clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+s")
        assert await asyncio.to_thread(engine.held.wait, 10)
        await pilot.press("x", "y")
        await settle(pilot)
        engine.release()
        await pilot.press("r")
        await settle(pilot)
    with Store(folder / "runs.sqlite") as store:
        runs = store.runs(1)
        assert [r.status for r in runs] == ["done"] * 8, runs
        assert all(len(epochs) == 3 for epochs in store.epochs(1).values())

with tempfile.TemporaryDirectory() as folder:
    asyncio.run(main(Path(folder)))
heavy = {m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "numba"}
assert not heavy, f"imported {sorted(heavy)}"
"""


@pytest.mark.slow  # a console in a new process: a few seconds of imports
def test_training_in_the_console_with_the_fake_engine_never_imports_tensorflow():
    """The fake engine trains through the real runner, executor and listeners, scripted
    only where numbers are computed: none of that may load TensorFlow, Keras or Numba
    (a new session, a stop, a resume from a checkpoint). In the quick loop, each console
    test checks the same in its own process (`quick_tests_stay_light` in tests/conftest.py,
    with the console's `heavy_modules`)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-c", CONSOLE_RUN], check=True, cwd=REPO, env=env, timeout=120)
