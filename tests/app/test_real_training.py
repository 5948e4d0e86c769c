"""One experiment trained for real (TensorFlow) through the console, on tiny data."""

from __future__ import annotations

import csv
import random

from embtui.app.app import EmbtuiApp
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.runs_table import RunsTable
from embtui.config import ExperimentConfig
from embtui.store import Store
from tests.app.conftest import settle

GOOD = ["great", "wonderful", "superb", "moving", "brilliant", "fun"]
BAD = ["awful", "boring", "dull", "terrible", "waste", "bad"]


def tiny_csv(path):
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(60):
            words = GOOD if i % 2 else BAD
            writer.writerow([" ".join(rng.choice(words) for _ in range(8)) + " film", i % 2])
    return path


async def test_ctrl_s_trains_for_real_and_the_table_shows_the_stored_values(tmp_path):
    config = ExperimentConfig(
        name="tiny",
        dataset=str(tiny_csv(tmp_path / "tiny.csv")),
        sizes=(10,),
        embeddings=("learned",),
        epochs=2,
        seeds=1,
        val_size=20,
        maxlen=12,
        vocab_size=50,
        embedding_dim=4,
        batch_size=8,
    )
    store_path = tmp_path / "real.sqlite"
    app = EmbtuiApp(store_path, config, tmp_path, poll_interval=0.2)  # the real engine
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        store = Store(store_path)
        (exp,) = store.experiments()
        (run,) = store.runs(exp.id)
        assert (exp.status, run.status) == ("done", "done")
        epochs = store.run_epochs(run.id)
        assert [e.epoch for e in epochs] == [1, 2]
        row = app.screen.query_one(RunsTable).cells(str(run.id))
        assert row[4:6] == ["done", "2/2"]
        assert row[9] == f"{epochs[-1].val_acc:.4f}"
        assert app.screen.query_one(EpochTable).row_keys == ["1", "2"]
