"""The Trainer computes what plain Keras `model.fit` computes, only faster.

The reference is written here with Keras alone: a Sequential model of the same shape, the
same initial weights (`initial_weights`), compiled with an optimizer of the same kind and
learning rate, `binary_crossentropy` and `metrics=["acc"]`, and fitted one epoch at a time
on the examples in the order `epoch_orders` gives, with `shuffle=False`.

Tolerances. Both sides do the same float32 arithmetic but not in the same order: Keras runs
its own (possibly XLA-compiled) train step and validates in batches, the Trainer runs an
in-graph loop and validates in chunks, so sums of per-example terms are added up in a
different order. float32 has a relative precision of 6e-8; over a few dozen examples and a
few epochs of updates the loss differences measured here (TF 2.21, CPU) stay below 1e-7,
so we allow `abs 1e-5` on loss and val_loss: room for other CPUs' kernels, and still four
orders of magnitude below any real change of a loss around 0.5-0.9 (one epoch moves it by
about 0.05-0.3 here). Accuracies are counts: they must be equal, except that a
prediction within rounding of the 0.5 threshold may flip, so at most one example
(1 / n) is allowed to differ.
"""

from __future__ import annotations

import dataclasses
import threading
from itertools import pairwise

import numpy as np
import pytest

from embtui.config import ArmConfig, ExperimentConfig
from embtui.engine.trainer import Trainer, TrainerCache, epoch_orders, initial_weights
from tests.helpers import LazyModule

keras = LazyModule("keras")  # imported by the first test that uses it, not by collecting
pytestmark = pytest.mark.tensorflow

LOSS_TOL = 1e-5
# 44 examples: a ragged last batch of 4. A vocabulary much larger than a batch's tokens, so
# most embedding rows get no gradient in a step (the Trainer updates only the batch's rows
# and must still decay the others' RMSprop accumulators exactly as Keras does).
N_TRAIN, N_VAL, VOCAB, MAXLEN, EPOCHS = 44, 32, 300, 12, 3


def tiny_sequences(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded int sequences of random length; about a third of each review's tokens come from
    its label's token range (positive 4-14, negative 15-25), the rest from 26 up: enough
    signal that the metrics move from epoch to epoch."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, MAXLEN), dtype=np.int32)
    y = rng.integers(0, 2, size=n).astype(np.int32)
    for i in range(n):
        length = int(rng.integers(3, MAXLEN + 1))
        lo, hi = (4, 15) if y[i] else (15, 26)
        signal = rng.random(length) < 0.3
        tokens = np.where(
            signal, rng.integers(lo, hi, size=length), rng.integers(26, VOCAB, size=length)
        )
        x[i, MAXLEN - length :] = tokens
    return x, y


X, Y = tiny_sequences(N_TRAIN, 1)
XV, YV = tiny_sequences(N_VAL, 2)
GLOVE = np.random.default_rng(3).normal(size=(VOCAB, 6)).astype(np.float32)


def config(head: str = "flatten", optimizer: str = "rmsprop", lr: float = 0.001) -> ArmConfig:
    """One arm's settings (the trainer's input) for these tests' tiny data."""
    return ExperimentConfig(
        vocab_size=VOCAB,
        maxlen=MAXLEN,
        embedding_dim=8,
        batch_size=8,
        epochs=EPOCHS,
        head=head,
        optimizer=optimizer,
        learning_rate=lr,
        val_size=N_VAL,
    ).arm({})


def glove_for(arm: str) -> np.ndarray | None:
    return None if arm == "learned" else GLOVE


def keras_reference(
    cfg: ArmConfig, arm: str, seed: int, model_out: list | None = None
) -> list[dict[str, float]]:
    """Plain Keras, epoch by epoch, from the same weights and in the same example order.
    With `model_out`, the fitted model is appended to it."""
    dim = cfg.embedding_dim if arm == "learned" else GLOVE.shape[1]
    head = {
        "flatten": [keras.layers.Flatten()],
        "avgpool": [keras.layers.GlobalAveragePooling1D()],
        "conv1d": [
            keras.layers.Conv1D(32, 7, activation="relu"),
            keras.layers.GlobalMaxPooling1D(),
        ],
        "lstm": [keras.layers.LSTM(32)],
    }[cfg.head]
    model = keras.Sequential(
        [
            keras.Input(shape=(cfg.maxlen,), dtype="int32"),
            keras.layers.Embedding(cfg.vocab_size, dim, trainable=arm != "glove"),
            *head,
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.set_weights(initial_weights(cfg, arm, seed, glove_for(arm)))
    optimizer = {
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
    }[cfg.optimizer](learning_rate=cfg.learning_rate)
    model.compile(optimizer=optimizer, loss="binary_crossentropy", metrics=["acc"])
    history = []
    for order in epoch_orders(seed, N_TRAIN, cfg.epochs):
        h = model.fit(
            X[order],
            Y[order],
            epochs=1,
            batch_size=cfg.batch_size,
            shuffle=False,
            validation_data=(XV, YV),
            verbose=0,
        ).history
        history.append({key: float(values[0]) for key, values in h.items()})
    if model_out is not None:
        model_out.append(model)
    return history


def trainer_history(cfg: ExperimentConfig, arm: str, seed: int, trainer: Trainer | None = None):
    trainer = trainer or Trainer(cfg, arm, glove_for(arm))
    return list(trainer.fit(X, Y, XV, YV, seed=seed, epochs=cfg.epochs))


def assert_same_metrics(ours, theirs) -> None:
    assert [r.epoch for r in ours] == list(range(1, EPOCHS + 1))
    assert len(theirs) == EPOCHS
    for r, k in zip(ours, theirs, strict=True):
        assert r.val_loss == pytest.approx(k["val_loss"], abs=LOSS_TOL), (r, k)
        assert r.loss == pytest.approx(k["loss"], abs=LOSS_TOL), (r, k)
        assert abs(r.val_acc - k["val_acc"]) <= 1 / N_VAL + 1e-9, (r, k)
        assert abs(r.acc - k["acc"]) <= 1 / N_TRAIN + 1e-9, (r, k)
        # Accuracies are whole counts over the set, as Keras' are.
        assert r.val_acc * N_VAL == pytest.approx(round(r.val_acc * N_VAL), abs=1e-6)
        assert r.seconds > 0


@pytest.mark.parametrize(
    ("arm", "head", "optimizer"),
    [
        # Every head and every optimizer; RMSprop on a trained embedding takes the lazy
        # row-wise update (LazyRMSpropRows), the others Keras' own optimizer step.
        ("learned", "flatten", "rmsprop"),
        ("glove", "flatten", "rmsprop"),
        ("learned", "avgpool", "rmsprop"),
        ("learned", "conv1d", "rmsprop"),
        ("learned", "lstm", "rmsprop"),
        ("glove-tuned", "flatten", "rmsprop"),
        ("glove-tuned", "flatten", "adam"),
        ("learned", "flatten", "adam"),
        ("learned", "conv1d", "sgd"),
    ],
)
def test_trainer_matches_plain_keras_fit_epoch_by_epoch(arm, head, optimizer):
    cfg = config(head, optimizer, lr=0.3 if optimizer == "sgd" else 0.01)  # SGD learns slowly
    ours = trainer_history(cfg, arm, seed=5)
    theirs = keras_reference(cfg, arm, seed=5)
    assert_same_metrics(ours, theirs)
    # Not vacuous: training moves the metrics by far more than the tolerance, so equal
    # histories mean equal training.
    assert ours[-1].loss < ours[0].loss - 100 * LOSS_TOL
    assert min(abs(a.val_loss - b.val_loss) for a, b in pairwise(ours)) > 10 * LOSS_TOL


def test_the_lazy_rmsprop_update_ends_each_epoch_with_keras_velocity_and_weights():
    """Rows the last batches did not touch still owe decays inside an epoch; at its end the
    trainer's velocity table and embedding must be what Keras' dense update left. Bound:
    relative 1e-4 (rho^k rounds once where Keras rounds k times, about 1e-6 relative
    after a few steps), far below a step's change of a velocity entry (at least 10%)."""
    cfg = config("flatten", "rmsprop", lr=0.01)
    trainer = Trainer(cfg, "learned", None)
    list(trainer.fit(X, Y, XV, YV, seed=5, epochs=cfg.epochs))
    fitted: list = []
    keras_reference(cfg, "learned", seed=5, model_out=fitted)
    ours = trainer.optimizer._velocities[0].numpy()
    theirs = fitted[0].optimizer._velocities[0].numpy()
    assert ours.shape == theirs.shape == (VOCAB, 8)
    untouched = ~np.isin(np.arange(VOCAB), X)
    assert (theirs[untouched] == 0).all() and (theirs[~untouched] > 0).any()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-12)
    assert int(trainer.optimizer.iterations.numpy()) == int(fitted[0].optimizer.iterations)
    np.testing.assert_allclose(
        trainer.model.get_weights()[0], fitted[0].get_weights()[0], rtol=1e-4, atol=1e-6
    )


def test_without_keras_velocity_slots_rmsprop_trains_with_keras_own_update(monkeypatch):
    """The row-wise update reads Keras internals (`_velocities`, `_get_variable_index`).
    A Keras release without them must fall back to `optimizer.apply`, with the same
    numbers: both paths are checked against plain Keras `fit`."""
    from embtui.engine import trainer as trainer_module

    cfg = config("flatten", "rmsprop", lr=0.01)
    fast = Trainer(cfg, "learned", None)
    assert fast._rows is not None  # this Keras has the slots: the row-wise path
    monkeypatch.setattr(trainer_module, "_has_velocity_slots", lambda optimizer: False)
    fallback = Trainer(cfg, "learned", None)
    assert fallback._rows is None  # Keras' own update
    theirs = keras_reference(cfg, "learned", seed=5)
    assert_same_metrics(trainer_history(cfg, "learned", seed=5, trainer=fallback), theirs)
    assert_same_metrics(trainer_history(cfg, "learned", seed=5, trainer=fast), theirs)


def test_velocity_slots_are_detected_on_keras_rmsprop_only():
    from embtui.engine.trainer import _has_velocity_slots

    built = keras.optimizers.RMSprop()
    built.build([keras.Variable(np.zeros((3, 2), "float32"))])
    assert _has_velocity_slots(built)
    assert not _has_velocity_slots(object())

    class Moved:  # a release that renamed the slots
        _get_variable_index = staticmethod(lambda var: 0)

    assert not _has_velocity_slots(Moved())


def test_the_frozen_glove_arm_starts_from_the_vectors_and_keeps_them():
    cfg = config()
    weights = initial_weights(cfg, "glove", 0, GLOVE)
    np.testing.assert_array_equal(weights[0], GLOVE)
    trainer = Trainer(cfg, "glove", GLOVE)
    list(trainer.fit(X, Y, XV, YV, seed=0, epochs=2))
    np.testing.assert_array_equal(trainer.model.get_weights()[0], GLOVE)
    tuned = Trainer(cfg, "glove-tuned", GLOVE)
    list(tuned.fit(X, Y, XV, YV, seed=0, epochs=2))
    assert not np.array_equal(tuned.model.get_weights()[0], GLOVE)


def test_same_seed_same_initial_weights_other_seed_other_weights():
    cfg = config()
    a = initial_weights(cfg, "learned", 7, None)
    b = initial_weights(cfg, "learned", 7, None)
    c = initial_weights(cfg, "learned", 8, None)
    assert len(a) == len(b) == len(c) == 3  # embedding, dense kernel, dense bias
    for wa, wb in zip(a, b, strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[1], c[1])


def test_epoch_orders_are_seeded_permutations():
    first = epoch_orders(3, 10, 4)
    assert len(first) == 4
    for order in first:
        assert sorted(order.tolist()) == list(range(10))
    assert [o.tolist() for o in first] == [o.tolist() for o in epoch_orders(3, 10, 4)]
    assert first[0].tolist() != first[1].tolist()  # reshuffled every epoch
    assert first[0].tolist() != epoch_orders(4, 10, 1)[0].tolist()


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_a_reused_trainer_resets_weights_and_optimizer_state(optimizer):
    """A grid trains many runs on one Trainer: each must be what a fresh one would give.
    Adam's step count must be reset, and RMSprop's velocity table, which is updated row
    by row outside `optimizer.apply`."""
    cfg = config(optimizer=optimizer, lr=0.01)
    trainer = Trainer(cfg, "learned", None)
    first = trainer_history(cfg, "learned", 0, trainer)
    other = trainer_history(cfg, "learned", 1, trainer)
    again = trainer_history(cfg, "learned", 0, trainer)
    fresh = trainer_history(cfg, "learned", 0)
    strip = [(r.loss, r.acc, r.val_loss, r.val_acc) for r in first]
    assert [(r.loss, r.acc, r.val_loss, r.val_acc) for r in again] == strip
    assert [(r.loss, r.acc, r.val_loss, r.val_acc) for r in fresh] == strip
    assert [(r.loss, r.val_loss) for r in other] != [(r.loss, r.val_loss) for r in first]


def test_the_cache_shares_a_trainer_per_shape_only():
    cache = TrainerCache()
    cfg = config()
    learned = cache.get(cfg, "learned", None)
    assert cache.get(cfg, "learned", None) is learned
    assert cache.get(dataclasses.replace(cfg, embedding_dim=4), "learned", None) is not learned
    assert cache.get(cfg, "glove", GLOVE) is not learned
    assert learned.params == VOCAB * 8 + MAXLEN * 8 + 1


def test_stop_ends_training_between_epochs():
    cfg = config()
    trainer = Trainer(cfg, "learned", None)
    stop = threading.Event()
    stop.set()
    assert list(trainer.fit(X, Y, XV, YV, seed=0, epochs=3, stop=stop)) == []
    stop.clear()
    seen = []
    for result in trainer.fit(X, Y, XV, YV, seed=0, epochs=3, stop=stop):
        seen.append(result.epoch)
        stop.set()
    assert seen == [1]
