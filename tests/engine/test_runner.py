"""The runner trains a grid for real (tiny data) and records it: checked through the sink's
events and the store's rows, including stop, failure, interruption and resume."""

from __future__ import annotations

import dataclasses
import math
import threading

import numpy as np
import pytest

from embtui.engine import runner
from embtui.engine.events import (
    EpochMetrics,
    ExperimentFinished,
    RunFinished,
    RunStarted,
    Stage,
)
from embtui.engine.fused import COMPILING, choose_engine, recorded_engine, run_device
from embtui.engine.tfsetup import describe_device
from embtui.errors import ConfigError, EmbtuiError, GloveError, StoreError
from embtui.store import Store
from tests.helpers import (
    GLOVE_DIM,
    TINY_COVERAGE,
    TINY_GRID,
    assert_same_as_uninterrupted,
    histories_by_cell,
    write_glove,
)

pytestmark = pytest.mark.tensorflow  # grids trained in this process


@pytest.fixture(scope="module")
def three(three_seed_experiment):
    return three_seed_experiment


def expected_device(three) -> str:
    """The device column of the grid's runs: where TensorFlow trains, or `CPU (fused)` when
    the experiment recorded the fused engine (`engine = "auto"` on a CPU-only machine)."""
    with Store(three.store, create=False) as store:
        engine = recorded_engine(store.experiment(three.experiment_id).meta)
    return run_device(describe_device(), engine)


@pytest.fixture
def small(three):
    """The same prepared inputs, cut to one size and two seeds (4 runs)."""
    cfg = three.prepared.config.replace(sizes=(10,), seeds=2)
    return dataclasses.replace(three.prepared, config=cfg)


# -- a whole grid ---------------------------------------------------------------------------


def test_the_sink_hears_every_stage_run_and_epoch_in_grid_order(three):
    events = three.events
    assert three.status == "done"
    stages = [e.text for e in events if isinstance(e, Stage)]
    assert stages[0].startswith("loading data: ")
    # The fused engine's kernel is compiled once per machine: said once, when it is; it
    # imports TensorFlow only to draw initial weights not cached yet, and says so.
    with Store(three.store, create=False) as store:
        engine = recorded_engine(store.experiment(three.experiment_id).meta)
    said = [
        s for s in stages[1:] if s != COMPILING and not s.startswith("importing TensorFlow for")
    ]
    assert said == ["loading GloVe vectors"] + (["loading TensorFlow"] if engine != "fused" else [])
    started = [e for e in events if isinstance(e, RunStarted)]
    assert [(e.position, e.size, e.embedding, e.seed) for e in started] == [
        (i, size, arm, seed)
        for i, (size, arm, seed) in enumerate(
            (s, a, seed) for s in (10, 20) for a in ("learned", "glove") for seed in range(3)
        )
    ]
    assert {(e.total, e.device, e.experiment_id) for e in started} == {
        (12, expected_device(three), three.experiment_id)
    }
    # After each RunStarted: every epoch of that run in order, then its RunFinished.
    (epochs,) = three.prepared.config.epochs
    body = [e for e in events if not isinstance(e, Stage)]
    for i, start in enumerate(started):
        chunk = body[(epochs + 2) * i : (epochs + 2) * (i + 1)]
        assert chunk[0] == start
        assert [(e.run_id, e.epoch) for e in chunk[1:-1]] == [
            (start.run_id, n) for n in range(1, epochs + 1)
        ]
        assert chunk[-1] == RunFinished(three.experiment_id, start.run_id, "done")
    assert body[-1] == ExperimentFinished(three.experiment_id, "done")
    assert len(body) == 12 * (epochs + 2) + 1


def test_the_store_holds_exactly_what_the_sink_heard(three):
    heard = [e for e in three.events if isinstance(e, EpochMetrics)]
    with Store(three.store, create=False) as store:
        stored = [e for es in store.epochs(three.experiment_id).values() for e in es]
        assert stored == heard
        runs = store.runs(three.experiment_id)
    assert len(runs) == 12
    for r in runs:
        assert r.status == "done" and r.error is None
        assert r.device == expected_device(three) and r.started and r.finished
        if r.embedding == "glove":
            assert r.coverage == pytest.approx(TINY_COVERAGE)
            assert r.params == 200 * GLOVE_DIM + 20 * GLOVE_DIM + 1
        else:
            assert r.coverage is None
            assert r.params == 200 * 100 + 20 * 100 + 1
    for e in heard:
        assert 0 <= e.acc <= 1 and 0 <= e.val_acc <= 1
        assert math.isfinite(e.loss) and math.isfinite(e.val_loss)
        # val_acc is a count over the 20 validation reviews.
        assert e.val_acc * 20 == pytest.approx(round(e.val_acc * 20), abs=1e-9)


def test_the_experiment_records_its_config_and_environment(three):
    data = three.prepared.data
    with Store(three.store, create=False) as store:
        exp = store.experiment(three.experiment_id)
    assert exp.status == "done" and exp.finished
    assert exp.config == three.prepared.config.to_dict()
    meta = exp.meta
    positive = float(np.mean(data.y_val))
    assert meta["chance"] == pytest.approx(max(positive, 1 - positive))
    assert (meta["n_train"], meta["n_val"]) == (60, 20)
    assert (meta["glove_dim"], meta["glove_coverage"]) == (GLOVE_DIM, pytest.approx(TINY_COVERAGE))
    # The engine chosen when it was recorded (`engine = "auto"`), and the device as its runs
    # show it ("CPU (fused)" for the fused engine).
    assert meta["engine"] == choose_engine(three.prepared.config)
    assert meta["device"] == expected_device(three)
    import keras
    import tensorflow as tf

    assert (meta["tensorflow"], meta["keras"]) == (tf.__version__, keras.__version__)
    assert {"python", "embtui", "data", "glove"} <= set(meta)


def test_resume_config_is_the_recorded_config(three):
    with Store(three.store, create=False) as store:
        assert runner.resume_config(store, three.experiment_id) == three.prepared.config


# -- training subsets -----------------------------------------------------------------------


def test_random_subsets_are_seeded_and_nested_across_sizes(three):
    prepared = three.prepared
    x10, y10 = runner.training_subset(prepared, 10, seed=0)
    x20, y20 = runner.training_subset(prepared, 20, seed=0)
    assert x10.shape == (10, 20) and y10.shape == (10,)
    np.testing.assert_array_equal(x20[:10], x10)  # more data adds to, never swaps, the sample
    np.testing.assert_array_equal(y20[:10], y10)
    again, _ = runner.training_subset(prepared, 10, seed=0)
    np.testing.assert_array_equal(again, x10)
    other, _ = runner.training_subset(prepared, 10, seed=1)
    assert not np.array_equal(other, x10)


def test_first_subsets_are_the_first_examples(three):
    cfg = three.prepared.config.replace(subset="first")
    prepared = dataclasses.replace(three.prepared, config=cfg)
    for seed in (0, 1):
        x, y = runner.training_subset(prepared, 10, seed=seed)
        np.testing.assert_array_equal(x, prepared.data.x_train[:10])
        np.testing.assert_array_equal(y, prepared.data.y_train[:10])


# -- stop, failure, interruption, resume ----------------------------------------------------


def test_a_run_depends_only_on_its_cell_not_on_the_grid_around_it(three, small, tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small) == "done"
        mine = histories_by_cell(store, exp_id)
    assert len(mine) == 4
    assert_same_as_uninterrupted(mine, three)


def test_stop_cancels_cleanly_and_resume_finishes_the_same_results(three, small, tmp_path):
    stop = threading.Event()
    events = []

    def sink(event):
        events.append(event)
        if isinstance(event, EpochMetrics):
            stop.set()  # like Ctrl-C during the first run's first epoch

    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small, sink=sink, stop=stop) == "cancelled"
        runs = store.runs(exp_id)
        assert [r.status for r in runs] == ["cancelled"] * 4
        assert [len(store.run_epochs(r.id)) for r in runs] == [1, 0, 0, 0]  # of 4 epochs
        assert store.experiment(exp_id).status == "cancelled"
        assert [e for e in events if isinstance(e, RunFinished)] == [
            RunFinished(exp_id, runs[0].id, "cancelled")
        ]
        assert events[-1] == ExperimentFinished(exp_id, "cancelled")

        assert runner.resume(store, exp_id, small) == "done"
        assert [r.status for r in store.runs(exp_id)] == ["done"] * 4
        assert store.experiment(exp_id).status == "done"
        resumed = histories_by_cell(store, exp_id)
    assert_same_as_uninterrupted(resumed, three)


def test_an_exception_in_the_sink_marks_the_experiment_interrupted(small, tmp_path):
    learned = dataclasses.replace(small, config=small.config.replace(embeddings=("learned",)))

    def sink(event):
        if isinstance(event, EpochMetrics) and event.epoch == 2:
            raise KeyboardInterrupt

    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, learned)
        with pytest.raises(KeyboardInterrupt):
            runner.run(store, exp_id, learned, sink=sink)
        assert store.experiment(exp_id).status == "interrupted"
        assert [r.status for r in store.runs(exp_id)] == ["interrupted"] * 2
        # Epochs committed before the interruption stay until the run is trained again.
        assert [len(store.run_epochs(r.id)) for r in store.runs(exp_id)] == [2, 0]
        assert runner.resume(store, exp_id, learned) == "done"
        assert [len(store.run_epochs(r.id)) for r in store.runs(exp_id)] == [4, 4]


def test_a_run_that_cannot_be_built_fails_alone(small, tmp_path, monkeypatch):
    from embtui.engine import trainer

    real_get = trainer.TrainerCache.get

    def get(self, config, arm, glove, *engine):
        if arm == "glove":
            raise ValueError("no room for\nthe vectors")
        return real_get(self, config, arm, glove, *engine)

    monkeypatch.setattr(trainer.TrainerCache, "get", get)
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small) == "failed"
        runs = store.runs(exp_id)
        assert [(r.embedding, r.status) for r in runs] == [
            ("learned", "done"),
            ("learned", "done"),
            ("glove", "failed"),
            ("glove", "failed"),
        ]
        assert {r.error for r in runs if r.status == "failed"} == {
            "ValueError: no room for the vectors"
        }
        assert store.experiment(exp_id).status == "failed"


# -- bad input is found before anything is written ------------------------------------------


def test_prepare_checks_sizes_and_glove_before_anything_is_written(tiny, tmp_path, monkeypatch):
    from embtui.config import from_mapping

    monkeypatch.setenv("EMBTUI_CACHE", str(tmp_path / "cache"))
    base = {**TINY_GRID, "dataset": str(tiny.csv), "glove": str(tiny.glove)}
    with pytest.raises(ConfigError, match="61 is larger than the 60 reviews"):
        runner.prepare(from_mapping({**base, "sizes": "10,61"}))
    bad = write_glove(tmp_path / "bad.txt", {"good": (1.0, 2.0), "bad": (1.0, 2.0, 3.0)})
    with pytest.raises(GloveError, match=r"bad\.txt:2: expected 2 numbers after the word"):
        runner.prepare(from_mapping({**base, "glove": str(bad)}))
    # A learned-only grid needs no GloVe at all.
    prepared = runner.prepare(from_mapping({**base, "embeddings": "learned", "glove": str(bad)}))
    assert prepared.glove is None


# -- faults inside a run ---------------------------------------------------------------------


def test_a_diverging_learning_rate_fails_each_run_with_the_nan_epoch(small, tmp_path):
    cfg = small.config.replace(embeddings=("learned",), optimizer="sgd", learning_rate=1e30)
    diverging = dataclasses.replace(small, config=cfg)
    events = []
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, diverging)
        assert runner.run(store, exp_id, diverging, sink=events.append) == "failed"
        runs = store.runs(exp_id)
        # The training loss is still a (huge) number after epoch 1; validation overflows.
        expected = ("failed", "val_loss became NaN at epoch 1")
        assert [(r.status, r.error) for r in runs] == [expected] * 2
        assert store.epochs(exp_id) == {}  # the NaN epoch is not stored
    # Every run of the grid was tried: one failing run does not end the grid.
    assert [e.status for e in events if isinstance(e, RunFinished)] == ["failed", "failed"]


def fail_arm(monkeypatch, arm: str, at_epoch: int, make_problem):
    """Make the real trainer (of either engine) misbehave for one arm at one epoch (NaN or
    an exception)."""
    from embtui.engine import fused, trainer

    for cls in (trainer.Trainer, fused.FusedTrainer):
        monkeypatch.setattr(cls, "fit", misbehaving(cls.fit, arm, at_epoch, make_problem))


def misbehaving(real_fit, arm: str, at_epoch: int, make_problem):
    def fit(self, *args, **kwargs):
        for m in real_fit(self, *args, **kwargs):
            if self.arm == arm and m.epoch == at_epoch:
                m = make_problem(m)
            yield m

    return fit


def test_a_nan_in_one_arm_fails_those_runs_and_the_grid_goes_on(small, tmp_path, monkeypatch):
    fail_arm(monkeypatch, "glove", 2, lambda m: dataclasses.replace(m, val_loss=math.inf))
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small) == "failed"
        runs = store.runs(exp_id)
        assert [(r.embedding, r.status, r.error) for r in runs] == [
            ("learned", "done", None),
            ("learned", "done", None),
            ("glove", "failed", "val_loss became infinite at epoch 2"),
            ("glove", "failed", "val_loss became infinite at epoch 2"),
        ]
        assert [len(store.run_epochs(r.id)) for r in runs] == [4, 4, 1, 1]


def test_an_error_inside_a_run_fails_it_logs_the_traceback_and_the_grid_goes_on(
    small, tmp_path, monkeypatch
):
    import tensorflow as tf

    def oom(m):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    fail_arm(monkeypatch, "learned", 3, oom)
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small) == "failed"
        runs = store.runs(exp_id)
        log = store.log_path
        assert [(r.embedding, r.status) for r in runs] == [
            ("learned", "failed"),
            ("learned", "failed"),
            ("glove", "done"),
            ("glove", "done"),
        ]
        assert runs[0].error == (
            f"ResourceExhaustedError: OOM when allocating tensor (traceback in {log})"
        )
        assert [len(store.run_epochs(r.id)) for r in runs] == [2, 2, 4, 4]
    text = log.read_text()
    assert f"experiment {exp_id} run {runs[0].id} (size 10, learned, seed 0) failed" in text
    assert text.count("Traceback (most recent call last)") == 2
    assert "ResourceExhaustedError: OOM when allocating tensor" in text


def test_a_full_disk_stops_the_grid_with_a_clear_error_and_keeps_what_was_stored(small, tmp_path):
    from embtui.errors import StoreError

    learned = dataclasses.replace(small, config=small.config.replace(embeddings=("learned",)))
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        exp_id = runner.create(store, learned)
        # Fill the file up to SQLite's own limit ("database or disk is full") with an earlier
        # experiment's epochs, then free room for about three more.
        db = store._db
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        earlier = store.create_experiment("earlier", {}, [(10, "learned", 0)], head="flatten")
        run_id = store.runs(earlier)[0].id
        n = 0
        with pytest.raises(StoreError):
            while True:
                n += 1
                store.add_epoch(EpochMetrics(run_id, n, 0.5, 0.5, 0.5, 0.5, 0.1))
        db.execute("DELETE FROM epochs WHERE run_id = ? AND epoch >= ?", (run_id, n - 3))
        with pytest.raises(
            StoreError, match=r"cannot write to the run store .*: database or disk is full"
        ):
            runner.run(store, exp_id, learned)
    with Store(path) as again:  # what was stored stays readable
        assert again._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert [r.size for r in again.runs(exp_id)] == [10, 10]
        stored = again.epochs(exp_id)
        assert stored, "the epochs that fitted before the disk filled are kept"
        for epochs in stored.values():
            assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1))


def test_a_read_only_store_stops_the_grid_with_a_clear_error(small, tmp_path):
    from embtui.errors import StoreError

    learned = dataclasses.replace(small, config=small.config.replace(embeddings=("learned",)))
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, learned)
        store._db.execute("PRAGMA query_only = ON")  # what a read-only file or mount gives
        with pytest.raises(StoreError, match="attempt to write a readonly database"):
            runner.run(store, exp_id, learned)
        assert [r.status for r in store.runs(exp_id)] == ["queued", "queued"]


# -- checkpoints ------------------------------------------------------------------------------


def test_a_trainer_continued_from_a_snapshot_computes_the_uninterrupted_epochs(small):
    from embtui.engine.trainer import TrainerCache

    def values(metrics):  # everything but the wall time
        return [dataclasses.replace(m, seconds=0.0) for m in metrics]

    data = small.data
    trainer = TrainerCache().get(small.config.arm({"embeddings": "learned"}), "learned", None)
    x, y = runner.training_subset(small, 10, 1)
    fit = dict(seed=1, epochs=4)
    whole = values(trainer.fit(x, y, data.x_val, data.y_val, **fit))
    first_two = trainer.fit(x, y, data.x_val, data.y_val, **fit)
    assert values([next(first_two), next(first_two)]) == whole[:2]
    snapshot = trainer.snapshot()
    rest = values(trainer.fit(x, y, data.x_val, data.y_val, **fit, after=(2, snapshot)))
    assert rest == whole[2:]  # exactly: every weight and optimizer slot was restored


def test_ctrl_c_saves_a_checkpoint_and_resume_continues_from_it(three, small, tmp_path):
    stop = threading.Event()

    def sink(event):
        if isinstance(event, EpochMetrics) and event.epoch == 2:
            stop.set()  # Ctrl-C during the first run's second epoch

    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        assert runner.run(store, exp_id, small, sink=sink, stop=stop) == "cancelled"
        first = store.runs(exp_id)[0]
        assert (first.status, len(store.run_epochs(first.id))) == ("cancelled", 2)
        folder = store.checkpoint_folder
        assert folder == tmp_path / "s.sqlite.checkpoints"
        assert [p.name for p in folder.iterdir()] == [f"run-{first.id}.npz"]

        events = []
        assert runner.resume(store, exp_id, small, sink=events.append) == "done"
        assert "  continuing from the checkpoint after epoch 2" in [
            e.text for e in events if isinstance(e, Stage)
        ]
        trained = [(e.run_id, e.epoch) for e in events if isinstance(e, EpochMetrics)]
        assert [n for run_id, n in trained if run_id == first.id] == [3, 4]
        assert not folder.exists()  # every run done: no checkpoint left
        resumed = histories_by_cell(store, exp_id)
    assert_same_as_uninterrupted(resumed, three)


def test_a_checkpoint_of_another_experiment_is_never_used(small, tmp_path):
    stop = threading.Event()

    def sink(event):
        if isinstance(event, EpochMetrics) and event.epoch == 2:
            stop.set()

    learned = dataclasses.replace(small, config=small.config.replace(embeddings=("learned",)))
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, learned)
        runner.run(store, exp_id, learned, sink=sink, stop=stop)
        # The same path, run id and cell, but another experiment (as after deleting a store
        # and running the same grid again): its checkpoint must not be picked up.
        store._db.execute("UPDATE experiments SET created = '2020-01-01T00:00:00+00:00'")
        events = []
        assert runner.resume(store, exp_id, learned, sink=events.append) == "done"
        first = store.runs(exp_id)[0]
        trained = [e.epoch for e in events if isinstance(e, EpochMetrics) and e.run_id == first.id]
        assert trained == [1, 2, 3, 4]


def test_runs_shorter_than_checkpoint_every_write_no_checkpoints(small, tmp_path, monkeypatch):
    from embtui.engine import checkpoint

    saved = []
    monkeypatch.setattr(
        checkpoint.RunCheckpoints, "save", lambda self, epoch, state: saved.append(epoch)
    )
    learned = dataclasses.replace(small, config=small.config.replace(embeddings=("learned",)))
    every_epoch = dataclasses.replace(learned, config=learned.config.replace(checkpoint_every=0))
    with Store(tmp_path / "s.sqlite") as store:
        runner.run(store, runner.create(store, learned), learned)
        assert saved == []  # 60 s by default: these runs take milliseconds
        runner.run(store, runner.create(store, every_epoch), every_epoch)
        assert saved == [1, 2, 3] * 2  # after each epoch but the last, for both runs


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_checkpoint_counts_as_none_and_the_run_starts_again(
    three, small, tmp_path, damage
):
    """A checkpoint cut short (a full disk, a crash on a filesystem without the fsync) must
    not block resume forever: the run restarts from scratch, with the same result."""
    stop = threading.Event()

    def sink(event):
        if isinstance(event, EpochMetrics) and event.epoch == 2:
            stop.set()

    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        runner.run(store, exp_id, small, sink=sink, stop=stop)
        first = store.runs(exp_id)[0]
        path = store.checkpoint_folder / f"run-{first.id}.npz"
        data = path.read_bytes()
        path.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])

        events = []
        assert runner.resume(store, exp_id, small, sink=events.append) == "done"
        trained = [e.epoch for e in events if isinstance(e, EpochMetrics) and e.run_id == first.id]
        assert trained == [1, 2, 3, 4]  # from scratch
        assert not path.exists()
        resumed = histories_by_cell(store, exp_id)
    assert_same_as_uninterrupted(resumed, three)


def test_prepare_resume_claims_first_and_gives_the_claim_back_on_bad_data(small, tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        store.cancel_queued(exp_id)
        store.set_experiment_status(exp_id, "cancelled")
        recorded = store.experiment(exp_id).meta["fingerprint"]
        assert set(recorded) == {
            *("train", "val", "val_reviews", "glove", "file"),
            *("shapes", "gloves"),  # per prepared shape: what tells duplicate runs apart
        }
        with Store(store.path) as console:  # the console's `r`, in another connection
            prepared = runner.prepare_resume(console, exp_id)
            assert prepared.config == small.config
            assert console.experiment(exp_id).owner == console.owner
            # A second resume while the first holds it is refused before loading anything.
            with Store(store.path) as cli, pytest.raises(StoreError, match="being trained by"):
                runner.prepare_resume(cli, exp_id)

        # The data changes under the experiment: refused, and the claim is given back.
        other = dataclasses.replace(small.data, y_val=1 - small.data.y_val)
        shape = next(iter(small.datasets))
        changed = dataclasses.replace(small, datasets={shape: other})
        store._db.execute(
            "UPDATE experiments SET status = 'cancelled', owner = NULL WHERE id = ?", (exp_id,)
        )
        before = store.experiment(exp_id)
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(runner, "prepare", lambda config, sink=None: changed)
            with pytest.raises(EmbtuiError, match="the validation reviews changed since it"):
                runner.prepare_resume(store, exp_id)
        assert store.experiment(exp_id) == before


def test_a_resume_may_change_where_it_trains_and_nothing_else(small, tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, small)
        store.cancel_queued(exp_id)
        store.set_experiment_status(exp_id, "cancelled")
        before = store.experiment(exp_id)
        with pytest.raises(EmbtuiError, match="a resume may change only workers, cluster"):
            runner.prepare_resume(store, exp_id, executor={"workers": 2, "epochs": 5})
        assert store.experiment(exp_id) == before  # not claimed, not changed
        prepared = runner.prepare_resume(store, exp_id, executor={"workers": 2})
        assert prepared.config == dataclasses.replace(small.config, workers=2)
        # The recorded configuration is what the experiment started with.
        assert runner.resume_config(store, exp_id) == small.config


def test_each_run_records_what_it_cost_and_the_experiment_the_box_samples(three):
    """Wall time and peak memory per run (no GPU here: its figures stay empty), and the
    sampler's CPU rows for the experiment, from the training process."""
    with Store(three.store, create=False) as store:
        runs = store.runs(three.experiment_id)
        samples = store.samples(three.experiment_id)
    assert all(r.wall_s is not None and r.wall_s > 0 for r in runs)
    assert all(r.peak_rss is not None and r.peak_rss > 100e6 for r in runs)
    assert all(r.peak_gpu_mem is None and r.mean_gpu_util is None for r in runs)
    assert samples and {s.device for _, s in samples} == {"cpu"}
    assert all(0 <= s.util <= 100 and s.rss > 10e6 for _, s in samples), samples


# -- the engine ------------------------------------------------------------------------------


def test_the_engine_is_chosen_when_recorded_and_an_older_experiment_resumes_with_tensorflow(
    small, tmp_path, monkeypatch
):
    """`engine = "auto"` on a CPU records the fused engine with the experiment; an experiment
    recorded before engines existed (no `engine` in its meta) trains, and resumes, with
    TensorFlow whatever its configuration says, and with the float32 `1 - rho` it started
    with (no `rmsprop_one_minus_rho` either); a new TensorFlow experiment uses Keras' 0.1.
    All compute Keras' numbers, to its tolerance."""
    import contextlib
    import sqlite3

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a CPU-only machine
    path = tmp_path / "s.sqlite"
    tensorflow = dataclasses.replace(small, config=small.config.replace(engine="tensorflow"))
    with Store(path) as store:
        fused_id = runner.create(store, small)
        older_id = runner.create(store, small)
        newer_id = runner.create(store, tensorflow)
        with contextlib.closing(sqlite3.connect(path)) as db, db:  # as an older embtui
            db.execute(
                "UPDATE experiments SET meta = json_remove(meta, '$.engine', "
                "'$.rmsprop_one_minus_rho') WHERE id = ?",
                (older_id,),
            )
        assert store.experiment(fused_id).meta["engine"] == "fused"
        assert store.experiment(newer_id).meta["engine"] == "tensorflow"
        assert store.experiment(newer_id).meta["rmsprop_one_minus_rho"] == "keras"
        assert not {"engine", "rmsprop_one_minus_rho"} & set(store.experiment(older_id).meta)
        assert store.experiment(older_id).config["engine"] == "auto"
        for exp_id, prepared in ((fused_id, small), (older_id, small), (newer_id, tensorflow)):
            assert runner.run(store, exp_id, prepared) == "done"
        assert {r.device for r in store.runs(fused_id)} == {"CPU (fused)"}
        assert store.experiment(fused_id).meta["device"] == "CPU (fused)"
        assert {r.device for r in store.runs(older_id)} == {describe_device()}
        assert {r.device for r in store.runs(newer_id)} == {describe_device()}
        assert "engine" not in store.experiment(older_id).meta  # read as TensorFlow
        fused, older, newer = (store.epochs(i) for i in (fused_id, older_id, newer_id))
        learned = {r.id for r in store.runs(older_id) if r.embedding == "learned"}

    def pairs(a, b):
        return [
            (x, y, ra in learned)
            for ra, rb in zip(sorted(a), sorted(b), strict=True)
            for x, y in zip(b[rb], a[ra], strict=True)
        ]

    for one, other in ((older, fused), (older, newer)):
        matched = pairs(one, other)
        assert len(matched) == 4 * small.config.epochs[0]
        for a, b, _ in matched:  # each equal to Keras: equal to its tolerance
            assert a.loss == pytest.approx(b.loss, abs=1e-5)
            assert a.val_loss == pytest.approx(b.val_loss, abs=1e-5)
            assert a.val_acc == b.val_acc
    # Keras' 1 - rho changes the learned arm's last bits, not the frozen GloVe arm's.
    changed = [trained for a, b, trained in pairs(older, newer) if a.loss != b.loss]
    assert changed and all(changed)
