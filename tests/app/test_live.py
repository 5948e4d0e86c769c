"""Watching a grid as it trains: the cursor stays where the user put it, a killed owner
shows `interrupted` within two seconds, and the status line never says something stale."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading

from textual.widgets import Input, Static

from embtui.app.screens.configure import ConfigureScreen
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.status_line import StatusLine
from embtui.engine.events import Stage
from embtui.store import Store
from tests.app.conftest import SMALL, record, screen_lines, settle, stored, until
from tests.app.fake import FakeEngine


async def _parked(pilot, engine: FakeEngine) -> None:
    assert await asyncio.to_thread(engine.held.wait, 10)
    await pilot.pause(0.3)  # two refreshes: the table shows what the engine wrote
    pilot.app.main.refresh_data()
    await pilot.pause()


async def _start_parked(pilot, engine: FakeEngine) -> None:
    assert isinstance(pilot.app.screen, ConfigureScreen)
    await pilot.press("ctrl+s")
    await _parked(pilot, engine)


def _running_key(table: RunsTable) -> str:
    return next(k for k in table.row_keys if table.cells(k)[4] == "running")


async def test_the_cursor_follows_the_live_run_until_the_user_moves_it(make_app, store_path):
    engine = FakeEngine(hold_after=4)  # run 1 done (3 epochs), run 2 after its first epoch
    app = make_app(SMALL, engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await _start_parked(pilot, engine)
        table = app.screen.query_one(RunsTable)
        status = app.screen.query_one(StatusLine)
        runs = stored(store_path).runs(1)
        # Nobody has moved the cursor: it is on the run that trains, and says so.
        assert table.current_key == str(runs[1].id) == _running_key(table)
        assert app.main.follow and "following ▶" in status.flags
        engine.advance(7)  # run 2 ends, run 3 starts: the cursor goes with it
        await _parked(pilot, engine)
        assert table.current_key == str(runs[2].id) == _running_key(table)

        # The user browses the finished runs: k twice, to run 1.
        await pilot.press("k", "k")
        assert table.cursor_row == 0 and table.current_key == str(runs[0].id)
        assert not app.main.follow and "f follows ▶" in status.flags
        engine.advance(7 + 2 + 3 + 1)  # run 3 ends, run 4 starts and ends, run 5 starts
        await _parked(pilot, engine)
        assert _running_key(table) == str(runs[4].id)
        # The cursor has not moved, and space marks the run the user is looking at.
        assert table.cursor_row == 0 and table.current_key == str(runs[0].id)
        assert app.screen.query_one(EpochTable).run_id == runs[0].id
        await pilot.press("space")
        assert app.main.marked == {runs[0].id}

        # f: follow again, at once.
        await pilot.press("f")
        await pilot.pause()
        assert app.main.follow and table.current_key == str(runs[4].id)
        engine.release()
        await settle(pilot)


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped): what kill -9 leaves."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


async def test_an_owner_killed_elsewhere_shows_interrupted_on_the_consoles_own_poll(
    make_app, store_path
):
    """The liveness rule of `embtui list` (a dead pid) applied on the console's own poll,
    at the console's real poll interval of one second: no key pressed, the row changes."""
    exp_id = record(store_path, stop_after=3)
    with Store(store_path) as other:  # as `embtui run` in another shell: running, alive
        other.claim(exp_id, resume=True)
        run = other.reopen_runs(exp_id)[0]
        other.start_run(run.id, device="CPU", params=1, coverage=None, keep_epochs=3)
    app = make_app(poll_interval=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        experiments = app.screen.query_one(ExperimentList)
        table = app.screen.query_one(RunsTable)
        assert experiments.cells(str(exp_id))[1] == "▶ running"
        await pilot.pause(1.5)  # a poll or two: still running (its owner, this pid, lives)
        assert experiments.cells(str(exp_id))[1] == "▶ running"

        # kill -9: the row is as the process left it, the process is gone.
        with Store(store_path) as s, s._write() as db:
            db.execute("UPDATE experiments SET pid = ? WHERE id = ?", (_dead_pid(), exp_id))
        await until(
            pilot,
            lambda: experiments.cells(str(exp_id))[1] == "interrupted",
            10,
            "the console's poll to find the owner dead",
        )
        assert table.cells(str(run.id))[4] == "interrupted"
        assert "r resumes" in app.screen.query_one(StatusLine).text
        assert any(f"experiment {exp_id}: its training" in e.text for e in app.messages)


async def test_the_status_line_never_shows_stale_news(make_app, store_path):
    first = record(store_path, stop_after=3)  # cancelled mid-way: resumable
    record(store_path, SMALL.replace(name="other", sizes="10", seeds=1))
    engine = FakeEngine(hold_after=0)  # parks before the first epoch it would train
    app = make_app(engine=engine)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        status = app.screen.query_one(StatusLine)
        experiments = app.screen.query_one(ExperimentList)
        experiments.focus()
        await pilot.press("k")
        await settle(pilot)
        assert app.main.experiment_id == first
        await pilot.press("r")  # resume: run 2 continues after its checkpoint
        await _parked(pilot, engine)
        assert "continuing from the checkpoint after epoch 1" in status.text
        engine.advance(1)  # one more epoch: that stage is over
        await _parked(pilot, engine)
        assert "continuing from the checkpoint" not in status.text
        assert "epoch 2/3" in status.text
        engine.release()
        await settle(pilot)
        assert status.text == f"experiment {first} done"
        # Another experiment on screen: its own state, not the first one's news.
        await pilot.press("j")
        await settle(pilot)
        assert app.main.experiment_id != first
        assert f"experiment {first}" not in status.text
        assert status.text.startswith(f"#{app.main.experiment_id} other · done")


async def test_with_runs_in_flight_at_once_the_status_line_names_the_run_of_each_epoch(
    make_app, store_path
):
    """Worker processes and Ray train several runs at once, and their events interleave:
    the status line pairs each epoch with its own run and that run's epoch count (a sweep
    over epochs: 3 and 7), and says how many others train meanwhile."""
    from embtui.app.messages import EngineEvent
    from embtui.engine.events import RunFinished, RunStarted
    from embtui.store import EpochMetrics

    exp_id = record(
        store_path, SMALL.replace(sizes=(10,), embeddings=("learned",), seeds=1, epochs=(3, 7))
    )
    short, long = stored(store_path).runs(exp_id)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        status = app.screen.query_one(StatusLine)

        async def send(event) -> str:
            app.post_message(EngineEvent(event))
            await pilot.pause()
            return status.text

        def started(run, position: int) -> RunStarted:
            epochs = run.factors["epochs"]
            return RunStarted(exp_id, run.id, position, 2, 10, "learned", 0, "CPU", epochs=epochs)

        def epoch(run, n: int) -> EpochMetrics:
            return EpochMetrics(run.id, n, 0.5, 0.7, 0.6, 0.6 + n / 100, 0.1)

        await send(started(short, 0))
        await send(started(long, 1))
        text = await send(epoch(short, 2))
        assert text == (
            "run 1/2 (+1 more running): epoch 2/3 val_acc 0.6200  ·  "
            "size 10, learned, seed 0 on CPU"
        )
        text = await send(epoch(long, 5))
        assert text.startswith("run 2/2 (+1 more running): epoch 5/7 val_acc 0.6500  ·  size 10")
        await send(epoch(short, 3))
        await send(RunFinished(exp_id, short.id, "done"))
        text = await send(epoch(long, 6))
        assert text == "run 2/2: epoch 6/7 val_acc 0.6600  ·  size 10, learned, seed 0 on CPU"


async def test_keys_typed_while_an_experiment_starts_do_not_edit_the_submitted_form(
    make_app, store_path
):
    """Starting can take seconds (loading data, starting Ray). Meanwhile the form's fields
    are locked: x, pressed to cancel, once went into the focused name field, and the form's
    status fell back to 'ctrl+s starts' while the grid was starting."""
    gate = threading.Event()

    class SlowStart(FakeEngine):
        def prepare(self, config, sink):
            sink(Stage(None, "starting Ray here"))
            assert gate.wait(10)
            return super().prepare(config, sink)

    app = make_app(SMALL, SlowStart())
    async with app.run_test(size=(100, 40)) as pilot:
        form = app.screen
        assert isinstance(form, ConfigureScreen)
        name = form.query_one("#f-name", Input)
        name.focus()
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("x", "y")
        await pilot.pause()
        assert name.value == "small" and name.disabled
        status = str(form.query_one("#form-status", Static).render())
        assert status.startswith("starting")
        gate.set()
        await settle(pilot)
        assert stored(store_path).experiments()[0].name == "small"


async def test_once_cancelled_the_status_line_says_stopping_first(make_app, store_path):
    """At 110 columns the line 'run ... · epoch ... · cancelling: stopping after the current
    epoch…' was cut to 'cancelling: sto…': what the user just asked for must not be the
    part that is cut."""
    from embtui.app.messages import EngineEvent
    from embtui.engine.events import RunStarted
    from embtui.store import EpochMetrics

    exp_id = record(store_path, SMALL.replace(sizes=(10,), embeddings=("learned",), seeds=1))
    (run,) = stored(store_path).runs(exp_id)
    app = make_app()
    async with app.run_test(size=(110, 32)) as pilot:
        await settle(pilot)
        status = app.screen.query_one(StatusLine)
        started = RunStarted(exp_id, run.id, 0, 1, 10, "learned", 0, "CPU", epochs=3)
        app.post_message(EngineEvent(started))
        app.stop_event.set()
        app.post_message(EngineEvent(EpochMetrics(run.id, 2, 0.5, 0.7, 0.6, 0.62, 0.1)))
        await pilot.pause()
        assert status.text.startswith(
            "stopping after the current epoch…  ·  run 1/1: epoch 2/3 val_acc 0.6200  ·  size 10"
        )


async def test_at_80_columns_the_status_line_keeps_each_runs_progress(make_app, store_path):
    """At 80 x 24 the line 'run 2/2: size 10, learned, seed 1 on CPU (+1 more running)  ·
    epoch 2/3 val_acc 0.6500' lost its end: the accuracy here, the whole epoch with a size
    of 1,000 or a sweep's longer label. Progress now comes right after the run's number;
    what the run trains comes last."""
    from embtui.app.messages import EngineEvent
    from embtui.engine.events import RunStarted
    from embtui.store import EpochMetrics

    exp_id = record(store_path, SMALL.replace(sizes=(10,), embeddings=("learned",), seeds=2))
    first, second = stored(store_path).runs(exp_id)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for position, run in enumerate((first, second)):
            started = RunStarted(
                exp_id, run.id, position, 2, 10, "learned", run.seed, "CPU", epochs=3
            )
            app.post_message(EngineEvent(started))
        app.post_message(EngineEvent(EpochMetrics(second.id, 2, 0.5, 0.7, 0.6, 0.65, 0.1)))
        await pilot.pause()
        line = next(text for text in screen_lines(app) if "run 2/2" in text)
        assert "run 2/2 (+1 more running): epoch 2/3 val_acc 0.6500  ·  size 10" in line
