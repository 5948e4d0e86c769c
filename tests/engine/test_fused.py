"""The fused engine computes what plain Keras `model.fit` computes.

The reference is the one tests/engine/test_trainer.py uses (`keras_reference`: plain Keras,
same initial weights, same example order, `shuffle=False`, one epoch per call), on the same
tiny data (44 examples in batches of 8, a ragged last batch of 4; a vocabulary far larger
than a batch's tokens, so most embedding rows get no gradient in a step and only decay).

Tolerances are tighter than the TensorFlow trainer's: the fused kernel follows Keras' own
float32 operation order in the optimizer update, the loss and the per-batch loss means, so
the only differences left are the order of dot products and batch sums inside TensorFlow's
kernels and rho^k applied at once where Keras decays k times. Measured on this machine
(TF 2.21, Keras 3.15, numba 0.68): loss and val_loss within 1.2e-7, accuracies identical,
weights within 3.6e-7. Allowed: 2e-7 on loss and val_loss (a few float32 ulps of a loss
near 0.7), identical accuracies, weights within 2e-6 absolute.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest

from embtui.config import ExperimentConfig, from_mapping
from embtui.engine.fused import (
    FusedTrainer,
    choose_engine,
    not_covered,
    recorded_engine,
    run_device,
)
from embtui.errors import ConfigError, EmbtuiError
from tests.engine.test_trainer import (
    EPOCHS,
    N_TRAIN,
    N_VAL,
    VOCAB,
    XV,
    YV,
    X,
    Y,
    config,
    glove_for,
    keras_reference,
)
from tests.helpers import cli_env, write_csv

pytestmark = pytest.mark.tensorflow  # Keras references in this process

LOSS_TOL = 2e-7
WEIGHT_TOL = 2e-6

COVERED = [
    (head, arm) for head in ("flatten", "avgpool") for arm in ("learned", "glove", "glove-tuned")
]


def strip(history) -> list[tuple[float, float, float, float]]:
    """An epoch history without its timings."""
    return [(r.loss, r.acc, r.val_loss, r.val_acc) for r in history]


def fused_history(head: str, arm: str, seed: int = 5, epochs: int = EPOCHS, **fit):
    cfg = config(head, "rmsprop", lr=0.01)
    trainer = FusedTrainer(cfg, arm, glove_for(arm))
    return trainer, list(trainer.fit(X, Y, XV, YV, seed=seed, epochs=epochs, **fit))


@pytest.mark.slow
@pytest.mark.parametrize(("head", "arm"), COVERED)
def test_fused_matches_plain_keras_fit_epoch_by_epoch(head, arm):
    trainer, ours = fused_history(head, arm)
    fitted: list = []
    theirs = keras_reference(config(head, "rmsprop", lr=0.01), arm, seed=5, model_out=fitted)
    assert [r.epoch for r in ours] == list(range(1, EPOCHS + 1))
    for r, k in zip(ours, theirs, strict=True):
        assert r.loss == pytest.approx(k["loss"], abs=LOSS_TOL), (r, k)
        assert r.val_loss == pytest.approx(k["val_loss"], abs=LOSS_TOL), (r, k)
        # Identical accuracies: the same counts (Keras divides them in float32).
        assert round(r.val_acc * N_VAL) == round(k["val_acc"] * N_VAL), (r, k)
        assert round(r.acc * N_TRAIN) == round(k["acc"] * N_TRAIN), (r, k)
        assert r.val_acc == pytest.approx(k["val_acc"], abs=1e-7)
    # Not vacuous: training moves the metrics far more than the tolerance.
    assert ours[-1].loss < ours[0].loss - 1000 * LOSS_TOL
    assert min(abs(a.val_loss - b.val_loss) for a, b in pairwise(ours)) > 100 * LOSS_TOL

    model = fitted[0]
    for ours_w, theirs_w in zip(trainer.weights(), model.get_weights(), strict=True):
        assert ours_w.shape == theirs_w.shape
        np.testing.assert_allclose(ours_w, theirs_w, rtol=0, atol=WEIGHT_TOL)
    # The checkpointed velocity is Keras' (every row caught up at the epoch's end).
    velocities = trainer.snapshot()[5:]
    keras_velocities = [v.numpy() for v in model.optimizer._velocities]
    assert len(velocities) == len(keras_velocities) == (2 if arm == "glove" else 3)
    for ours_v, theirs_v in zip(velocities, keras_velocities, strict=True):
        np.testing.assert_allclose(ours_v, theirs_v, rtol=1e-4, atol=1e-12)
    assert int(trainer.snapshot()[3]) == int(model.optimizer.iterations)
    if arm == "glove":  # frozen: the vectors never move
        np.testing.assert_array_equal(trainer.weights()[0], glove_for(arm))


@pytest.mark.parametrize(("head", "arm"), [("flatten", "learned"), ("avgpool", "glove-tuned")])
def test_resuming_from_a_checkpoint_gives_the_uninterrupted_run(head, arm):
    """4 epochs straight vs 2 epochs, a snapshot saved and loaded as a checkpoint would be,
    then epochs 3-4 on a fresh trainer: identical numbers, bit for bit."""
    _, straight = fused_history(head, arm, epochs=4)
    first, early = fused_history(head, arm, epochs=2)
    assert [r.loss for r in early] == [r.loss for r in straight[:2]]
    saved = [np.array(a) for a in first.snapshot()]
    _, rest = fused_history(head, arm, epochs=4, after=(2, saved))
    assert [r.epoch for r in rest] == [3, 4]
    assert strip(rest) == strip(straight[2:])


def test_a_reused_trainer_and_runs_in_two_threads_give_the_same_numbers():
    """A grid reuses one trainer per shape, and two runs may train at once in two threads
    (the kernel releases the GIL): neither changes a run's numbers."""
    cfg = config("flatten", "rmsprop", lr=0.01)
    trainer = FusedTrainer(cfg, "learned", None)
    alone = [list(trainer.fit(X, Y, XV, YV, seed=s, epochs=EPOCHS)) for s in (0, 1, 0)]
    assert strip(alone[2]) == strip(alone[0])  # seed 0 again, after seed 1
    assert [r.loss for r in alone[0]] != [r.loss for r in alone[1]]
    results: dict[int, list] = {}

    def train(seed: int) -> None:
        own = FusedTrainer(cfg, "learned", None)
        results[seed] = list(own.fit(X, Y, XV, YV, seed=seed, epochs=EPOCHS))

    threads = [threading.Thread(target=train, args=(s,)) for s in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert strip(results[0]) == strip(alone[0])
    assert strip(results[1]) == strip(alone[1])


@pytest.mark.parametrize("bad", [VOCAB, -1])
def test_token_ids_outside_the_vocabulary_are_refused_before_training(bad):
    trainer = FusedTrainer(config(), "learned", None)
    x = X.copy()
    x[3, -1] = bad
    with pytest.raises(EmbtuiError, match=f"outside 0..{VOCAB - 1}"):
        list(trainer.fit(x, Y, XV, YV, seed=0, epochs=1))
    assert trainer.iterations == 0


def test_what_the_fused_kernel_covers():
    assert not_covered(config("flatten")) is None
    assert not_covered(config("avgpool")) is None
    assert "conv1d" in (not_covered(config("conv1d")) or "")
    assert "adam" in (not_covered(config("flatten", "adam")) or "")
    assert "GPU" in (not_covered(config("flatten"), "GPU:0 H100") or "")
    with pytest.raises(EmbtuiError, match="lstm"):
        FusedTrainer(config("lstm"), "learned", None)


# -- which engine an experiment trains with ---------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch):
    """A machine where no GPU is visible (as TensorFlow and the worker pool see it)."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")


@pytest.mark.parametrize(
    ("values", "engine"),
    [
        ({}, "fused"),  # the reference experiment, on a CPU
        ({"head": "flatten,avgpool", "embeddings": "learned,glove,glove-tuned"}, "fused"),
        ({"head": "flatten,conv1d"}, "tensorflow"),  # one arm uncovered: the whole grid
        ({"optimizer": "adam"}, "tensorflow"),
        ({"cluster": "ray"}, "tensorflow"),  # a cluster's nodes may train on GPUs
        ({"engine": "tensorflow"}, "tensorflow"),
        ({"engine": "fused"}, "fused"),
    ],
)
def test_auto_chooses_the_fused_engine_where_it_covers_the_grid_on_a_cpu(no_gpu, values, engine):
    assert choose_engine(from_mapping(values)) == engine


def test_auto_leaves_a_machine_with_a_gpu_to_tensorflow(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert choose_engine(ExperimentConfig()) == "tensorflow"
    assert choose_engine(ExperimentConfig(engine="fused")) == "fused"  # asked for: CPU anyway


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"engine": "gpu"}, "engine = 'gpu': one of auto, tensorflow, fused"),
        (
            {"engine": "fused", "head": "flatten,lstm"},
            "engine = fused: the fused kernel trains head flatten or avgpool, not head lstm; "
            "use engine = auto or tensorflow",
        ),
        (
            {"engine": "fused", "optimizer": "sgd"},
            "engine = fused: the fused kernel trains optimizer rmsprop, not optimizer sgd; "
            "use engine = auto or tensorflow",
        ),
    ],
)
def test_an_engine_that_cannot_train_the_grid_is_refused_in_one_line(values, message):
    with pytest.raises(ConfigError) as caught:
        from_mapping(values)
    assert str(caught.value) == message


def test_an_experiment_without_a_recorded_engine_was_trained_by_tensorflow():
    assert recorded_engine({}) == "tensorflow"
    assert recorded_engine({"engine": "tensorflow"}) == "tensorflow"
    assert recorded_engine({"engine": "fused"}) == "fused"
    assert run_device("GPU:0 NVIDIA H100", "tensorflow") == "GPU:0 NVIDIA H100"
    assert run_device("CPU", "fused") == "CPU (fused)"
    assert (
        run_device("GPU:0 X on box-2 (Ray node 3f)", "fused")
        == "CPU (fused) on box-2 (Ray node 3f)"
    )


# -- TensorFlow only when needed -------------------------------------------------------------

GRID_SCRIPT = """
import sys
from embtui.cli import main

try:
    main(sys.argv[1:])
except SystemExit as exit:
    assert not exit.code, exit.code
print("tensorflow imported:", "tensorflow" in sys.modules, file=sys.stderr)
"""


def run_grid(env: dict[str, str], store: Path, dataset: Path, *extra: str) -> list[str]:
    """`embtui run --plain` of a small learned-arm grid in a fresh process: its progress
    lines (stderr, where `embtui run` writes them)."""
    args = ["run", "--plain", "--store", store, "--dataset", dataset, "--sizes", "40,80"]
    args += ["--embeddings", "learned", "--seeds", "2", "--epochs", "2", "--val-size", "20"]
    args += ["--vocab-size", "40", "--maxlen", "12", "--embedding-dim", "8", *extra]
    done = subprocess.run(
        [sys.executable, "-c", GRID_SCRIPT, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stderr.splitlines()


def epoch_lines(lines: list[str]) -> list[str]:
    """The runs' epoch lines without their timings."""
    return [line.rsplit(" (", 1)[0] for line in lines if line.strip().startswith("epoch ")]


@pytest.mark.slow
def test_a_second_identical_grid_reads_cached_initial_weights_without_tensorflow(tmp_path):
    """The first grid draws each seed's initial weights with Keras (and says so once, when it
    imports TensorFlow) and keeps them in embtui's cache folder; the same grid in a fresh
    process reads them, never imports TensorFlow (its TensorBoard files neither: embtui
    encodes them itself), and computes the same numbers."""
    dataset = write_csv(tmp_path / "reviews.csv", 120)
    env = cli_env(tmp_path)
    env["CUDA_VISIBLE_DEVICES"] = ""  # the fused engine: this machine's CPU
    first = run_grid(env, tmp_path / "one.sqlite", dataset)
    logdir = tmp_path / "tensorboard"
    second = run_grid(env, tmp_path / "two.sqlite", dataset, "--tensorboard", str(logdir))
    assert first[-1] == "tensorflow imported: True"
    assert [line for line in first if line.startswith("importing TensorFlow")] == [
        "importing TensorFlow for initial weights of seed 0"
    ]
    assert second[-1] == "tensorflow imported: False"
    assert not [line for line in second if "TensorFlow" in line]
    assert len(epoch_lines(first)) == 8
    assert epoch_lines(second) == epoch_lines(first)
    runs = sorted(p.parent.parent.name for p in logdir.rglob("validation/events.out.tfevents.*"))
    assert runs == sorted(f"size{n}-learned-seed{seed}" for n in (40, 80) for seed in (0, 1))
    assert (
        sorted(p.name[:8] for p in (tmp_path / "cache").glob("initial-*.npz")) == ["initial-"] * 2
    )
