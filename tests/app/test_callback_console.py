"""The console watching a fit it did not start: a user's own Keras model with EmbtuiCallback."""

from __future__ import annotations

import asyncio
import threading

import pytest

from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.runs_table import RunsTable
from embtui.store import Store
from tests.app.conftest import settle, until
from tests.helpers import STEPS, fit, tiny_model

pytestmark = pytest.mark.tensorflow  # a real Keras fit in the test process (so slow)


async def test_the_console_follows_a_callback_fit_and_shows_its_epochs(make_app, store_path):
    import keras

    from embtui.callbacks import EmbtuiCallback

    gate = threading.Event()

    def hold(epoch, logs):  # keep the fit inside its second epoch until the test has looked
        if epoch == 1:
            gate.wait(timeout=60)

    recorder = EmbtuiCallback(store=store_path, experiment="mine")
    callbacks = [recorder, keras.callbacks.LambdaCallback(on_epoch_begin=hold)]
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        training = asyncio.ensure_future(asyncio.to_thread(fit, tiny_model(), callbacks))
        try:
            await until(pilot, lambda: len(table.row_keys) == 1, 30, "the fit's run listed")
            key = table.row_keys[0]
            await until(pilot, lambda: table.cells(key)[5] == "1/3", 30, "the first epoch shown")
            # While the user's fit runs, its run is the live row: marked, running, epoch 1 of 3.
            assert table.cells(key)[:6] == ["▶", str(STEPS), "tiny", "0", "running", "1/3"]
        finally:
            gate.set()
        history = await training
        await until(pilot, lambda: table.cells(key)[4] == "done", 30, "the run done")
        await settle(pilot)

        with Store(store_path) as store:
            [run] = store.runs(recorder.experiment_id)
        assert key == str(run.id)
        assert app.screen.query_one(ExperimentList).row_keys == [str(recorder.experiment_id)]
        last = {name: values[-1] for name, values in history.items()}
        assert table.cells(key) == [
            "",
            str(STEPS),
            "tiny",
            "0",
            "done",
            "3/3",
            f"{last['loss']:.4f}",
            f"{last['accuracy']:.4f}",
            f"{last['val_loss']:.4f}",
            f"{last['val_accuracy']:.4f}",
            f"{max(history['val_accuracy']):.4f}",
        ]

        table.focus()
        table.move_cursor(row=0)
        await pilot.press("enter")
        await settle(pilot)
        epochs = app.screen.query_one(EpochTable)
        assert epochs.run_id == run.id
        assert epochs.row_keys == ["1", "2", "3"]
        for i, key in enumerate(epochs.row_keys):
            assert epochs.cells(key)[:5] == [
                key,
                *(
                    f"{history[name][i]:.4f}"
                    for name in ("loss", "accuracy", "val_loss", "val_accuracy")
                ),
            ]
