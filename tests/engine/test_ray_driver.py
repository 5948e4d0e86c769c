"""The Ray executor's driver, in this process without a cluster: what it makes of the items
a run's task sends through the board (`embtui.engine.executors.ray`), against a real store
and real checkpoint files. The cluster itself is `tests/test_ray.py`'s."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embtui.config import ExperimentConfig
from embtui.engine.checkpoint import RunCheckpoints
from embtui.engine.events import Event, RunFinished
from embtui.engine.executors.ray import MAX_RETRIES, RayCluster, _Driver
from embtui.store import EpochMetrics, Store


def started(run_id: int, keep_epochs: int = 0) -> tuple:
    """What `BoardLedger.start_run` posts."""
    kwargs = {"device": "CPU on box (Ray node 3f2a91)", "params": 10, "coverage": None}
    return ("store", "start_run", (run_id,), {**kwargs, "keep_epochs": keep_epochs})


def epoch(run_id: int, k: int) -> tuple:
    """What `BoardLedger.add_epoch` posts, for epoch `k`."""
    return ("store", "add_epoch", (EpochMetrics(run_id, k, 0.6, 0.7, 0.65, 0.68, 0.1),), {})


def test_a_run_its_task_never_finished_fails_and_keeps_its_checkpoint(tmp_path: Path):
    """A run whose worker died more often than Ray retries a task: the driver records it
    `failed` with Ray's reason and says so to whoever watches; its checkpoint stays on disk
    for `embtui run --resume` to continue from. A run that ended `done` removed its own,
    and a task that ended after recording its run's end changes nothing."""
    heard: list[Event] = []
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = store.create_experiment("lost", {}, [(10, "learned", 0), (20, "learned", 0)])
        experiment = store.experiment(exp_id)
        rows = {r.id: r for r in store.runs(exp_id)}
        lost, done = rows
        on_disk = {r: RunCheckpoints(store, experiment, row, 0.0) for r, row in rows.items()}
        config = ExperimentConfig(epochs=3)
        driver = _Driver(store, experiment, config, on_disk, heard.append, rows)
        driver.apply(
            [
                started(lost),
                started(done),
                epoch(lost, 1),
                ("checkpoint", lost, 1, [np.arange(3.0)]),
                epoch(done, 1),
                ("checkpoint", done, 1, [np.arange(3.0)]),
                epoch(done, 2),
                epoch(done, 3),
                ("store", "finish_run", (done, "done", None), {}),
                ("event", RunFinished(exp_id, done, "done")),
            ]
        )
        assert not on_disk[done].path.exists()
        assert on_disk[lost].path.is_file()

        driver.ended(rows[done], "WorkerCrashedError: the worker died")  # recorded its end
        driver.ended(rows[lost], "WorkerCrashedError: the worker died")
        driver.close()

        reason = f"lost on the Ray cluster after {MAX_RETRIES} retries: WorkerCrashedError"
        assert [(r.id, r.status, r.error) for r in store.runs(exp_id)] == [
            (lost, "failed", f"{reason}: the worker died"),
            (done, "done", None),
        ]
        assert [e.epoch for e in store.run_epochs(lost)] == [1]
        assert [e.epoch for e in store.run_epochs(done)] == [1, 2, 3]
        assert heard == [
            RunFinished(exp_id, done, "done"),
            RunFinished(exp_id, lost, "failed", f"{reason}: the worker died"),
        ]
        kept = on_disk[lost].load()
        assert kept is not None and kept.epoch == 1
        assert kept.state[0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    ("cpus_per_run", "gpus", "resources", "room"),
    [
        (1.0, 0.0, {"CPU": 2.0}, 2),  # this box, a run per CPU
        (1.0, 0.0, {"CPU": 2.0, "GPU": 0.0}, 2),
        (0.5, 0.0, {"CPU": 3.0}, 6),
        (2.0, 0.0, {"CPU": 3.0}, 1),  # what is left over holds no run
        (4.0, 0.0, {"CPU": 2.0}, 1),  # a run larger than the cluster: one at a time
        (1.0, 1.0, {"CPU": 16.0, "GPU": 2.0}, 2),  # the GPUs are the limit
        (1.0, 0.25, {"CPU": 16.0, "GPU": 2.0}, 8),  # four small runs to a GPU
        (0.1, 0.0, {"CPU": 0.3}, 3),  # tenths that floats do not hold exactly
        (1.0, 0.0, {}, 1),  # a cluster that reports no CPUs: one run at a time
    ],
)
def test_room_counts_the_runs_the_clusters_cpus_and_gpus_hold(cpus_per_run, gpus, resources, room):
    """Ray lends a task's CPUs to other tasks while it waits on the board, and started three
    or four runs at once on 2 CPUs with cpus_per_run = 1: the driver submits at most `room`
    tasks at a time, counted here. (That the submitting loop keeps to it is seen only on a
    real cluster, where Ray's lending no longer shows in tests/test_ray.py's grid.)"""
    config = ExperimentConfig(cluster="ray", cpus_per_run=cpus_per_run)
    assert RayCluster(config).room(resources, gpus) == room
