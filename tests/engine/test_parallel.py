"""`workers = 2`: runs train two at once (in two threads with the fused engine, in two
processes with TensorFlow) and give exactly what one at a time gives."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import pytest

from embtui.engine import runner
from embtui.engine.events import EpochMetrics, RunFinished, RunStarted, Stage
from embtui.store import Store
from tests.helpers import TINY_GRID, UNDER_THE_CONSOLE, histories_by_cell

#: Starts embtui processes that import TensorFlow: not in the quick loop (`-m "not slow"`).
pytestmark = pytest.mark.slow


def test_two_workers_give_the_same_histories_as_one_process(three_seed_experiment, tmp_path):
    """Same numbers with one or two threads (the fused engine, which `auto` picks on a
    CPU-only machine) or one or two processes (TensorFlow)."""
    three = three_seed_experiment
    cfg = three.prepared.config.replace(sizes=(10,), seeds=2, workers=2)
    prepared = dataclasses.replace(three.prepared, config=cfg)
    events = []
    with Store(tmp_path / "parallel.sqlite") as store:
        exp_id = runner.create(store, prepared)
        assert runner.run(store, exp_id, prepared, sink=events.append) == "done"
        parallel = histories_by_cell(store, exp_id)
        runs = store.runs(exp_id)
        threads = store.experiment(exp_id).meta["threads_per_op"]
        engine = store.experiment(exp_id).meta["engine"]
    with Store(three.store, create=False) as store:
        single = histories_by_cell(store, three.experiment_id)

    assert sorted(parallel) == [(10, arm, seed) for arm in ("glove", "learned") for seed in (0, 1)]
    for cell, history in parallel.items():
        assert (len(history),) == cfg.epochs
        assert history == single[cell], cell
    assert all(r.status == "done" and r.device for r in runs)
    assert threads == "1"  # what each worker sets
    stages = [e.text for e in events if isinstance(e, Stage)]
    if engine == "fused":
        assert "training 2 runs at once in threads" in stages
        assert {r.device for r in runs} == {"CPU (fused)"}
    else:
        assert "starting 2 worker processes" in stages
    # The parent heard every worker's events: each run started, every epoch, each finish.
    assert sorted(e.run_id for e in events if isinstance(e, RunStarted)) == [r.id for r in runs]
    assert sum(isinstance(e, EpochMetrics) for e in events) == 4 * cfg.epochs[0]
    assert sorted(e.run_id for e in events if isinstance(e, RunFinished)) == [r.id for r in runs]


#: A `workers = 2` grid, trained after UNDER_THE_CONSOLE.
_GRID = """
from embtui.config import from_mapping
from embtui.engine import runner
from embtui.store import Store

config = from_mapping({**TINY, "dataset": CSV, "workers": "2", "embeddings": "learned"})
prepared = runner.prepare(config)
sys.excepthook = lambda *exc: __import__("traceback").print_exception(*exc, file=real_stderr)
with Store(STORE) as store:
    exp_id = runner.create(store, prepared)
    status = runner.run(store, exp_id, prepared)
sys.stdout.write(status + " " + " ".join(r.status for r in Store(STORE).runs(exp_id)))
"""


def test_worker_processes_start_where_sys_stderr_has_no_file(tiny, tmp_path):
    """The console (Textual) replaces sys.stderr with a capture whose fileno() is -1, and
    multiprocessing hands that fd to its resource tracker: `workers = 2` failed there with
    "bad value(s) in fds_to_keep" before any run trained. A fresh interpreter, so that no
    resource tracker is running yet, as in the console."""
    script = (
        f"TINY = {TINY_GRID!r}\nCSV = {str(tiny.csv)!r}\nSTORE = {str(tmp_path / 's.sqlite')!r}\n"
        + UNDER_THE_CONSOLE
        + _GRID
    )
    env = {**os.environ, "EMBTUI_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "done " + " ".join(["done"] * 4)


#: A grid trained in this process (`workers = 1`), then TensorFlow's intra-op thread count.
_THREADS = """
import sys
from embtui.config import from_mapping
from embtui.engine import runner
from embtui.store import Store
import tensorflow as tf

config = from_mapping({**TINY, "dataset": CSV, "embeddings": "learned", "seeds": "1"})
prepared = runner.prepare(config)
with Store(STORE) as store:
    exp_id = runner.create(store, prepared)
    status = runner.run(store, exp_id, prepared)
    recorded = store.experiment(exp_id).meta["threads_per_op"]
threads = tf.config.threading.get_intra_op_parallelism_threads()
sys.stdout.write(f"{status} {threads} | {recorded}")
"""


@pytest.mark.parametrize(
    ("env_threads", "expected"),
    [(None, "done 1 | 1"), ("2", "done 0 | 2 (TF_NUM_INTRAOP_THREADS=2)")],
    ids=["one-thread-per-run", "user-override"],
)
def test_runs_train_with_one_intra_op_thread_unless_told_otherwise(
    tiny, tmp_path, env_threads, expected
):
    """A grid's ops each run on one thread (faster for these small ops, and the numbers do
    not depend on the machine's core count); TF_NUM_INTRAOP_THREADS set by the user is left
    for TensorFlow to read (its config then still says 0, "TensorFlow decides"). The
    experiment records which it was."""
    script = (
        f"TINY = {TINY_GRID!r}\nCSV = {str(tiny.csv)!r}\nSTORE = {str(tmp_path / 's.sqlite')!r}\n"
        + _THREADS
    )
    env = {**os.environ, "EMBTUI_CACHE": str(tmp_path / "cache")}
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    if env_threads is not None:
        env["TF_NUM_INTRAOP_THREADS"] = env_threads
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == expected
