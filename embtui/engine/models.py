"""Keras models for one (embedding arm, head) pair.

Every model is `Embedding -> head -> Dense(1, sigmoid)` on padded integer sequences. The
embedding arm decides the first layer: `learned` is randomly initialised and trainable,
`glove` starts from the aligned GloVe matrix and is frozen, `glove-tuned` starts from it and
trains. Keras is imported lazily so that importing the engine stays cheap.

Every engine (`embtui.engine.trainer`'s TensorFlow `Trainer`, `embtui.engine.fused`)
starts a run from the weights such a model has for its seed (`initial_weights`) and
trains it on the examples in the order `epoch_orders` gives, epoch by epoch as
`train_epochs` drives it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import numpy as np

from embtui.config import ArmConfig
from embtui.engine.events import StopFlag
from embtui.store import EpochMetrics


def embedding_dim(config: ArmConfig, arm: str, glove: np.ndarray | None) -> int:
    if arm == "learned":
        return config.embedding_dim
    if glove is None:
        raise ValueError(f"arm {arm!r} needs a GloVe matrix")
    return int(glove.shape[1])


def build_model(config: ArmConfig, arm: str, glove: np.ndarray | None = None) -> Any:
    """A fresh, uncompiled model whose weights come from Keras' global random seed."""
    import keras
    from keras import layers

    dim = embedding_dim(config, arm, glove)
    embed = layers.Embedding(config.vocab_size, dim, trainable=arm != "glove", name="embedding")
    head: list[Any]
    if config.head == "flatten":
        head = [layers.Flatten()]
    elif config.head == "avgpool":
        head = [layers.GlobalAveragePooling1D()]
    elif config.head == "conv1d":
        head = [layers.Conv1D(32, 7, activation="relu"), layers.GlobalMaxPooling1D()]
    elif config.head == "lstm":
        head = [layers.LSTM(32)]
    else:  # config validation keeps this unreachable
        raise ValueError(f"unknown head {config.head!r}")
    model = keras.Sequential(
        [
            keras.Input(shape=(config.maxlen,), dtype="int32"),
            embed,
            *head,
            layers.Dense(1, activation="sigmoid"),
        ],
        name=f"{arm}-{config.head}",
    )
    if glove is not None and arm != "learned":
        embed.set_weights([glove.astype("float32")])
    return model


def make_optimizer(config: ArmConfig) -> Any:
    import keras

    kinds = {
        "rmsprop": keras.optimizers.RMSprop,
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
    }
    return kinds[config.optimizer](learning_rate=config.learning_rate)


def epoch_orders(seed: int, n: int, epochs: int) -> list[np.ndarray]:
    """The shuffled example order of every epoch of a run, fixed by its seed."""
    rng = np.random.default_rng([seed, 0x5EED])
    return [rng.permutation(n).astype("int32") for _ in range(epochs)]


class Resettable(Protocol):
    """What `train_epochs` drives: an engine's trainer, which starts a run afresh for a
    seed and continues one from a snapshot."""

    def reset(self, seed: int) -> None: ...
    def restore(self, state: list[np.ndarray]) -> None: ...


#: One epoch of an engine: given the epoch's example order, (loss, acc, val_loss, val_acc).
EpochStep = Callable[[np.ndarray], tuple[float, float, float, float]]


def train_epochs(
    trainer: Resettable,
    step: EpochStep,
    *,
    seed: int,
    n: int,
    epochs: int,
    stop: StopFlag | None,
    orders: list[np.ndarray] | None,
    run_id: int,
    after: tuple[int, list[np.ndarray]] | None,
) -> Iterator[EpochMetrics]:
    """A run's epochs, what every engine's `fit` does around its own arithmetic: start
    from the seed's weights (or the state after epoch k, `after = (k, snapshot)`), train
    each epoch on the seed's order of its `n` examples with `step`, time it and yield its
    metrics, ending early (between epochs) once `stop` is set."""
    trainer.reset(seed)
    first = 1
    if after is not None:
        first = after[0] + 1
        trainer.restore(after[1])
    orders = orders if orders is not None else epoch_orders(seed, n, epochs)
    for epoch in range(first, epochs + 1):
        if stop is not None and stop.is_set():
            return
        t0 = time.perf_counter()
        loss, acc, val_loss, val_acc = step(orders[epoch - 1])
        seconds = time.perf_counter() - t0
        yield EpochMetrics(run_id, epoch, loss, acc, val_loss, val_acc, seconds)


def initial_weights(
    config: ArmConfig, arm: str, seed: int, glove: np.ndarray | None
) -> list[np.ndarray]:
    """The weights a freshly built model has for this seed (what `fit` would start from).

    Seeding is process-wide (Keras' global random state), so drawing is one thread at a
    time: two runs training in two threads must not draw from each other's seed."""
    import keras

    with _SEEDING:
        keras.utils.set_random_seed(seed)
        return build_model(config, arm, glove).get_weights()


_SEEDING = threading.Lock()


#: Initial weights kept per trainer: a grid reuses each seed at every size, and building a
#: throwaway model to draw them costs more than a small run's training.
INIT_CACHE_SIZE = 8
