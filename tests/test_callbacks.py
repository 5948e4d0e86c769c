"""EmbtuiCallback: a user's own `model.fit` recorded in the store, read back as embtui reads it.

Every test trains a tiny user-built Keras model (random int sequences, a few epochs) and
then opens the store with a fresh connection, so what is asserted is what the console and
the exports will see.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embtui.errors import StoreError
from embtui.report.model import build_report
from embtui.store import EpochMetrics, Store
from tests.helpers import N_TRAIN, STEPS, fit, tiny_model

pytestmark = pytest.mark.tensorflow  # a real Keras fit in this process


def assert_epochs_match(stored: list[EpochMetrics], history: dict, acc: str = "accuracy"):
    assert [e.epoch for e in stored] == list(range(1, len(history["loss"]) + 1))
    for e, loss, a, val_loss, val_a in zip(
        stored,
        history["loss"],
        history[acc],
        history["val_loss"],
        history[f"val_{acc}"],
        strict=True,
    ):
        assert e.loss == pytest.approx(loss, abs=1e-6)
        assert e.acc == pytest.approx(a, abs=1e-6)
        assert e.val_loss == pytest.approx(val_loss, abs=1e-6)
        assert e.val_acc == pytest.approx(val_a, abs=1e-6)
        assert e.seconds > 0


@pytest.fixture(scope="module")
def two_fits(tmp_path_factory):
    """One callback, two fits: a 3-epoch `tiny` model, then a 2-epoch `wide` one."""
    from embtui.callbacks import EmbtuiCallback

    path = tmp_path_factory.mktemp("callback") / "s.sqlite"
    recorder = EmbtuiCallback(store=path, experiment="mine")
    tiny = tiny_model("tiny")
    first = fit(tiny, [recorder], epochs=3)
    recorder.size = N_TRAIN  # attributes are read at the start of each fit
    recorder.seed = 1
    second = fit(tiny_model("wide", dim=8), [recorder], epochs=2)
    return path, recorder, (first, second), tiny.count_params()


def test_a_fit_is_one_run_whose_epochs_are_the_keras_history(two_fits):
    path, recorder, (history, _), params = two_fits
    with Store(path) as store:
        [exp] = store.experiments()
        runs = store.runs(exp.id)
        epochs = store.run_epochs(runs[0].id)
    assert recorder.experiment_id == exp.id
    assert exp.name == "mine"
    assert exp.config == {
        "source": "keras-callback",
        "name": "mine",
        "embeddings": ["tiny"],
        "sizes": [STEPS],  # no size given: Keras' steps per epoch
        "seeds": [0],
        "epochs": 3,
        "head": "custom",
    }
    assert exp.meta["model"] == "tiny" and exp.meta["params"] == params
    assert exp.meta["keras"] and exp.meta["tensorflow"]
    first = runs[0]
    assert (first.status, first.embedding, first.size, first.seed, first.head) == (
        "done",
        "tiny",
        STEPS,
        0,
        "custom",
    )
    assert first.params == params and first.error is None and first.device
    assert_epochs_match(epochs, history)


def test_a_recorded_fit_carries_its_cost_and_the_box_samples(two_fits):
    """The callback samples the system while the fit trains, as embtui's own runs do."""
    path, *_ = two_fits
    with Store(path) as store:
        [exp] = store.experiments()
        runs = store.runs(exp.id)
        samples = store.samples(exp.id)
    assert all(r.wall_s > 0 and r.peak_rss > 100e6 for r in runs)
    assert all(r.peak_gpu_mem is None for r in runs)  # no GPU on this box
    assert samples and {s.device for _, s in samples} == {"cpu"}


def test_a_second_fit_appends_a_run_and_the_experiment_ends_done(two_fits):
    path, recorder, (_, history), _ = two_fits
    with Store(path) as store:
        [exp] = store.experiments()
        runs = store.runs(exp.id)
        epochs = store.run_epochs(runs[1].id)
    assert [r.status for r in runs] == ["done", "done"]
    assert (runs[1].embedding, runs[1].size, runs[1].seed) == ("wide", N_TRAIN, 1)
    assert recorder.run_id == runs[1].id
    assert_epochs_match(epochs, history)
    assert exp.status == "done" and exp.finished is not None
    assert exp.pid == os.getpid() and exp.heartbeat is not None


def test_embtui_export_reads_a_recorded_experiment(two_fits, capsys):
    from embtui.cli import main

    path, recorder, (first, second), _ = two_fits
    exp = str(recorder.experiment_id)
    assert main(["export", exp, "--format", "json", "--store", str(path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["experiment"]["config"]["source"] == "keras-callback"
    assert [r["embedding"] for r in out["runs"]] == ["tiny", "wide"]
    assert [e["val_acc"] for e in out["runs"][1]["epochs"]] == pytest.approx(
        second["val_accuracy"], abs=1e-6
    )
    # The arm only the second run names ("wide") is summarised too.
    assert {(s["size"], s["embedding"]) for s in out["summary"]} == {
        (STEPS, "tiny"),
        (N_TRAIN, "wide"),
    }
    assert main(["export", "latest", "--format", "md", "--store", str(path)]) == 0
    md = capsys.readouterr().out
    assert "| source | keras-callback |" in md
    assert f"| {first['val_accuracy'][-1]:.4f} |" in md  # the tiny run's final val_acc


def test_an_experiment_id_appends_to_an_existing_experiment(tmp_path):
    from embtui.callbacks import EmbtuiCallback

    store = Store(tmp_path / "s.sqlite")
    grid = {"name": "grid", "embeddings": ["learned", "glove"], "epochs": 1}
    exp_id = store.create_experiment(
        "grid", grid, [(10, "learned", 0), (10, "glove", 0)], head="flatten"
    )
    for run, val_acc in zip(store.runs(exp_id), (0.5, 0.75), strict=True):
        store.start_run(run.id, device="CPU", params=1, coverage=None)
        store.add_epoch(EpochMetrics(run.id, 1, 0.7, 0.5, 0.7, val_acc, 0.1))
        store.finish_run(run.id, "done")
    store.set_experiment_status(exp_id, "done")

    history = fit(tiny_model("mine"), [EmbtuiCallback(store, exp_id, size=10)], epochs=2)

    runs = store.runs(exp_id)  # the Store passed in is still open
    assert [(r.embedding, r.status) for r in runs] == [
        ("learned", "done"),
        ("glove", "done"),
        ("mine", "done"),
    ]
    assert_epochs_match(store.run_epochs(runs[2].id), history)
    assert store.experiment(exp_id).status == "done"
    assert store.experiment(exp_id).config == grid  # the grid's configuration is kept
    report = build_report(store, exp_id)
    assert report.arms == ("learned", "glove", "mine")
    assert report.summary.group(10, "mine").mean == pytest.approx(history["val_accuracy"][-1])
    store.close()


def test_an_unknown_experiment_id_is_refused_before_anything_trains(tmp_path):
    from embtui.callbacks import EmbtuiCallback

    path = tmp_path / "s.sqlite"
    with pytest.raises(StoreError, match="no experiment with id 7"):
        fit(tiny_model(), [EmbtuiCallback(store=path, experiment=7)])
    with Store(path) as store:
        assert store.experiments() == []


@pytest.mark.parametrize(
    ("metrics", "validate", "says", "not_says"),
    [
        (("accuracy",), False, "pass validation_data= or validation_split= to fit", "metrics="),
        ((), True, 'compile the model with metrics=["accuracy"]', "validation_data="),
    ],
    ids=["no-validation", "no-accuracy"],
)
def test_a_fit_missing_a_stored_metric_stops_after_one_epoch_saying_what_to_add(
    tmp_path, metrics, validate, says, not_says
):
    from embtui.callbacks import EmbtuiCallback, MissingMetricError

    path = tmp_path / "s.sqlite"
    with pytest.raises(MissingMetricError) as caught:
        fit(tiny_model(metrics=metrics), [EmbtuiCallback(path, "mine")], validate=validate)
    message = str(caught.value)
    assert "epoch 1" in message and says in message and not_says not in message
    with Store(path) as store:
        [exp] = store.experiments()
        [run] = store.runs(exp.id)
        assert (run.status, run.error) == ("failed", message)
        assert store.run_epochs(run.id) == []
        assert exp.status == "failed"


def test_validation_every_other_epoch_stops_at_the_first_epoch_without_it(tmp_path):
    from embtui.callbacks import EmbtuiCallback, MissingMetricError

    path = tmp_path / "s.sqlite"
    with pytest.raises(MissingMetricError, match=r"epoch 2 .*validation_freq=1"):
        fit(tiny_model(), [EmbtuiCallback(path, "mine")], epochs=3, validation_freq=[1, 3])
    with Store(path) as store:
        [run] = store.runs(1)
        assert run.status == "failed"
        assert [e.epoch for e in store.run_epochs(run.id)] == [1]


def test_a_nan_loss_fails_the_run_and_keeps_the_epochs_before_it(tmp_path, monkeypatch):
    import keras

    from embtui.callbacks import EmbtuiCallback

    default = tmp_path / "default" / "embtui.sqlite"
    monkeypatch.setenv("EMBTUI_STORE", str(default))  # store=None: the default store
    model = tiny_model(optimizer="sgd")  # RMSprop's sparse update trips over NaN rows

    def diverge(epoch, logs):  # what a far too large learning rate does, on cue
        if epoch == 0:
            kernel = model.layers[-1].kernel
            kernel.assign(np.full(kernel.shape, np.nan, dtype="float32"))

    poison = keras.callbacks.LambdaCallback(on_epoch_end=diverge)
    history = fit(model, [poison, EmbtuiCallback(experiment="nan")], epochs=3)

    assert len(history["loss"]) == 3 and math.isnan(history["loss"][1])
    with Store(default) as store:
        [exp] = store.experiments()
        [run] = store.runs(exp.id)
        assert (run.status, run.error) == ("failed", "loss became NaN at epoch 2")
        assert [e.epoch for e in store.run_epochs(run.id)] == [1]
        assert exp.status == "failed"


def test_a_fit_that_raises_is_closed_by_the_with_block_or_the_next_fit(tmp_path):
    import keras

    from embtui.callbacks import EmbtuiCallback

    def crash(epoch, logs):
        if epoch == 1:
            raise RuntimeError("out of disk for checkpoints")

    path = tmp_path / "s.sqlite"
    with pytest.raises(RuntimeError), EmbtuiCallback(path, "with") as recorder:
        fit(tiny_model(), [recorder, keras.callbacks.LambdaCallback(on_epoch_begin=crash)])
    recorder2 = EmbtuiCallback(path, "again")
    with pytest.raises(RuntimeError):
        fit(tiny_model(), [recorder2, keras.callbacks.LambdaCallback(on_epoch_begin=crash)])
    fit(tiny_model(), [recorder2], epochs=1)

    with Store(path) as store:
        [run] = store.runs(recorder.experiment_id)
        assert (run.status, run.error) == ("failed", "RuntimeError: out of disk for checkpoints")
        assert [e.epoch for e in store.run_epochs(run.id)] == [1]
        assert store.experiment(recorder.experiment_id).status == "failed"
        crashed, retried = store.runs(recorder2.experiment_id)
        assert (crashed.status, retried.status) == ("interrupted", "done")
        assert store.experiment(recorder2.experiment_id).status == "interrupted"


def test_the_callback_overrides_no_batch_hook():
    """A batch hook would cost a Python call per batch (and turn off async dispatch on JAX)."""
    import keras

    from embtui.callbacks import EmbtuiCallback

    hooks = [n for n in dir(keras.callbacks.Callback) if n.startswith("on_") and "batch" in n]
    assert len(hooks) >= 8
    for hook in hooks:
        assert getattr(EmbtuiCallback, hook) is getattr(keras.callbacks.Callback, hook), hook


@pytest.mark.slow  # a fresh interpreter importing TensorFlow: about 5 s
def test_recording_a_fit_leaves_the_users_tensorflow_settings_alone(tmp_path):
    """embtui's own runs switch Grappler off and use one thread per op; a user's `fit`
    recorded with the callback keeps its process's settings (a fresh interpreter, so no
    embtui Trainer in this test session has changed them first)."""
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
import tensorflow as tf
from embtui.callbacks import EmbtuiCallback
from tests.helpers import fit, tiny_model

fit(tiny_model(), [EmbtuiCallback(store={str(tmp_path / "s.sqlite")!r}, experiment="mine")])
options = tf.config.optimizer.get_experimental_options()
print(options.get("disable_meta_optimizer", False))
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["False"]
