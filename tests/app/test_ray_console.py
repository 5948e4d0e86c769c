"""The console watching a grid that trains on a Ray cluster (`embtui run --ray` in another
shell): the same live view as a local grid, the epochs streaming in as the driver records
them, and each run's Ray node in the experiment's information."""

from __future__ import annotations

import subprocess
import sys

import pytest

from embtui.app.screens.info import InfoTable
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.runs_table import RunsTable
from tests.app.conftest import settle, until
from tests.helpers import epoch_count, write_reviews

pytest.importorskip("ray", reason="Ray is not installed (pip install 'embtui[ray]')")

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RUN = [sys.executable, "-m", "embtui", "run", "--plain", "--ray"]
FLAGS = [
    "--name=watched",
    "--sizes=150,300",
    "--embeddings=learned",
    "--epochs=200",
    "--seeds=1",
    "--val-size=200",
    "--maxlen=80",
    "--vocab-size=400",
    "--embedding-dim=16",
    "--batch-size=16",
]


async def test_the_console_watches_a_ray_grid_live(make_app, store_path, tmp_path):
    reviews = write_reviews(tmp_path / "reviews.csv")
    log = (tmp_path / "grid.log").open("w")  # a pipe nobody reads fills up and stops the grid
    grid = subprocess.Popen(
        [*RUN, "--store", str(store_path), f"--dataset={reviews}", *FLAGS],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        app = make_app(poll_interval=0.5)
        async with app.run_test(size=(120, 40)) as pilot:
            # The grid records its first epochs (Ray starts in a few seconds).
            await until(pilot, lambda: epoch_count(store_path) >= 2, 120)
            app.main.refresh_data()
            await settle(pilot)
            experiments = app.screen.query_one(ExperimentList)
            runs = app.screen.query_one(RunsTable)
            epochs = app.screen.query_one(EpochTable)
            await until(pilot, lambda: experiments.cells("1")[1] == "▶ running", 10)
            assert any(runs.cells(k)[4] == "running" for k in runs.row_keys)
            # Live: the epoch table shows each run's epochs as they arrive, not at its end.
            seen: dict[int | None, set[int]] = {}
            while experiments.cells("1")[1] != "done":
                seen.setdefault(epochs.run_id, set()).add(epochs.row_count)
                assert grid.poll() in (None, 0), (tmp_path / "grid.log").read_text()
                await pilot.pause(0.05)
            partial = {run: {n for n in counts if 0 < n < 200} for run, counts in seen.items()}
            assert any(len(counts) >= 2 for counts in partial.values()), seen
            await settle(pilot)
            assert [runs.cells(k)[4] for k in runs.row_keys] == ["done", "done"]
            experiments.focus()
            await pilot.press("enter")  # the experiment's information: where each run trained
            await until(pilot, lambda: type(app.screen).__name__ == "ExperimentInfoScreen")
            await pilot.pause()
            info = app.screen.query_one(InfoTable)  # the runs' devices come last
            text = "\n".join(" ".join(info.cells(k)) for k in info.row_keys)
            assert "(Ray node " in text, text
        assert grid.wait(timeout=60) == 0, (tmp_path / "grid.log").read_text()
    finally:
        if grid.poll() is None:
            grid.kill()
            grid.wait()
        log.close()
