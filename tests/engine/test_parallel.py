"""`workers = 2`: runs train in two processes and give exactly what one process gives."""

from __future__ import annotations

import dataclasses

import pytest

from embtui.engine import runner
from embtui.engine.events import EpochMetrics, RunFinished, RunStarted
from embtui.store import Store
from tests.helpers import histories_by_cell

#: Starts embtui processes that import TensorFlow: not in the quick loop (`-m "not slow"`).
pytestmark = pytest.mark.slow


def test_two_workers_give_the_same_histories_as_one_process(three_seed_experiment, tmp_path):
    three = three_seed_experiment
    cfg = three.prepared.config.replace(sizes=(10,), seeds=2, workers=2)
    prepared = dataclasses.replace(three.prepared, config=cfg)
    events = []
    with Store(tmp_path / "parallel.sqlite") as store:
        exp_id = runner.create(store, prepared)
        assert runner.run(store, exp_id, prepared, sink=events.append) == "done"
        parallel = histories_by_cell(store, exp_id)
        runs = store.runs(exp_id)
    with Store(three.store, create=False) as store:
        single = histories_by_cell(store, three.experiment_id)

    assert sorted(parallel) == [(10, arm, seed) for arm in ("glove", "learned") for seed in (0, 1)]
    for cell, history in parallel.items():
        assert (len(history),) == cfg.epochs
        assert history == single[cell], cell
    assert all(r.status == "done" and r.device for r in runs)
    # The parent heard every worker's events: each run started, every epoch, each finish.
    assert sorted(e.run_id for e in events if isinstance(e, RunStarted)) == [r.id for r in runs]
    assert sum(isinstance(e, EpochMetrics) for e in events) == 4 * cfg.epochs[0]
    assert sorted(e.run_id for e in events if isinstance(e, RunFinished)) == [r.id for r in runs]
