"""Train one run fast without changing what is computed.

A grid is many small runs of the same model shape. Plain `model.fit` rebuilds, recompiles
and retraces a graph for each, and its per-epoch machinery and batch-32 validation cost far
more than the arithmetic. A `Trainer` is built once per (arm, head, shapes): it keeps one
model, one optimizer and two compiled `tf.function`s (a whole epoch as an in-graph loop over
batches, and a whole-set validation pass), and for each run only resets the weights and the
optimizer state. The computation per run is the one `fit` does: the same initial weights for
a seed, mini-batches of `batch_size` in a shuffled order each epoch, the same loss, optimizer
step and accuracy, validation on every example after every epoch. With plain RMSprop, the
optimizer step is Keras' own arithmetic done more cheaply (`LazyRMSpropRows`): an
embedding's update touches only the rows of the batch, so an epoch costs what its batches
touch, not vocab_size x steps.

Metrics match Keras' definitions: the epoch's `loss`/`acc` are batch-size-weighted means of
the per-batch values computed before each update, `val_loss`/`val_acc` are means over the
whole validation set (accuracy thresholds the sigmoid at 0.5).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from threading import Event
from typing import Any

import numpy as np

from embtui.config import ArmConfig
from embtui.engine.models import (
    INIT_CACHE_SIZE,
    build_model,
    embedding_dim,
    epoch_orders,  # noqa: F401 - stacked.py and the benchmarks import it from here
    initial_weights,
    make_optimizer,
    train_epochs,
)
from embtui.engine.tfsetup import configure_tensorflow, threads_per_op, training_device
from embtui.store import EpochMetrics

#: Validation examples per in-graph step. Batch size does not change the metrics, only the
#: speed: chunks this size keep the embedding lookups cache-sized (measured fastest here).
VAL_CHUNK = 256


def trainer_key(config: ArmConfig, arm: str, glove: np.ndarray | None) -> tuple:
    """Runs that share this key can share a Trainer (same graph, same variables)."""
    return (
        arm,
        config.head,
        config.vocab_size,
        config.maxlen,
        embedding_dim(config, arm, glove),
        config.optimizer,
        config.learning_rate,
        config.batch_size,
    )


class Trainer:
    """Trains runs of one (arm, head, shapes) with TensorFlow; see the module docstring.

    `legacy_one_minus_rho`: the row-wise RMSprop update computes 1 - rho from a float32
    rho (0.10000002), as embtui did before Keras' value (0.1) was used; for experiments
    recorded then, so that they resume with the arithmetic they started with.
    """

    def __init__(
        self,
        config: ArmConfig,
        arm: str,
        glove: np.ndarray | None,
        legacy_one_minus_rho: bool = False,
    ) -> None:
        import keras

        tf = configure_tensorflow()
        self.config = config
        self.arm = arm
        self.glove = glove
        self.model = build_model(config, arm, glove)
        self.optimizer = make_optimizer(config)
        self.optimizer.build(self.model.trainable_variables)
        self._opt_start = [v.numpy() for v in self.optimizer.variables]
        self.params = int(self.model.count_params())
        self._inits: dict[int, list[np.ndarray]] = {}
        self._logits: Any = None

        model, optimizer, bs = self.model, self.optimizer, config.batch_size
        trainable = model.trainable_variables
        rows = (
            LazyRMSpropRows(optimizer, config.vocab_size, legacy_one_minus_rho)
            if _plain_rmsprop(optimizer)
            else None
        )
        self._rows = rows
        bce = keras.losses.binary_crossentropy
        maxlen = config.maxlen
        embedding, head = model.layers[0], model.layers[1:]

        def forward(xb, training):
            # The model's own layers, except that the embedding rows are gathered straight
            # from the variable (one ResourceGather). Keras' Embedding first reads the whole
            # table as a tensor, and once the table has had a sparse update TensorFlow
            # copies it on every such read: 4 MB per step for a 10,000 x 100 table.
            h = tf.gather(embedding.embeddings.value, xb)
            for layer in head:
                h = layer(h, training=training)
            return h

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, maxlen], tf.int32),
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
            reduce_retracing=True,
            autograph=False,  # written as graph code already: see `in_graph_loop`
        )
        def train_epoch(x, y, order):
            n = tf.shape(order)[0]

            def step_fn(step, loss_sum, correct):
                idx = order[step * bs : tf.minimum((step + 1) * bs, n)]
                xb = tf.gather(x, idx)
                yb = tf.gather(y, idx)[:, None]
                with tf.GradientTape() as tape:
                    p = forward(xb, training=True)
                    loss = tf.reduce_mean(bce(yb, p))
                grads = tape.gradient(loss, trainable)
                dense_grads, dense_vars = [], []
                for grad, var in zip(grads, trainable, strict=True):
                    if rows is not None and isinstance(grad, tf.IndexedSlices):
                        rows.apply(var, grad)
                    elif rows is not None:
                        rows.dense(var, grad)
                    else:
                        dense_grads.append(grad)
                        dense_vars.append(var)
                if rows is not None:
                    optimizer.iterations.assign_add(1)  # what apply() counts
                else:
                    optimizer.apply(dense_grads, dense_vars)
                size = tf.cast(tf.shape(idx)[0], tf.float32)
                hits = tf.reduce_sum(
                    tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), yb), tf.float32)
                )
                return loss_sum + loss * size, correct + hits

            zero = tf.constant(0.0)
            loss_sum, correct = in_graph_loop((n + bs - 1) // bs, step_fn, (zero, zero))
            if rows is not None:
                rows.catch_up()  # every epoch ends with the velocity Keras would hold
            return loss_sum, correct

        def score(xb, yb):
            yb = yb[:, None]
            p = forward(xb, training=False)
            hits = tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), yb), tf.float32)
            return tf.reduce_sum(bce(yb, p)), tf.reduce_sum(hits)

        evaluate = compiled_validation(maxlen, score, lambda: tf.constant(0.0))

        self._train_epoch = train_epoch
        self._evaluate = evaluate
        self._tf = tf

    def initial(self, seed: int) -> list[np.ndarray]:
        """The initial weights of a run with this seed (`initial_weights`, cached)."""
        weights = self._inits.pop(seed, None)
        if weights is None:
            weights = initial_weights(self.config, self.arm, seed, self.glove)
        self._inits[seed] = weights  # most recently used last
        while len(self._inits) > INIT_CACHE_SIZE:
            self._inits.pop(next(iter(self._inits)))
        return weights

    def reset(self, seed: int) -> None:
        """Start weights and optimizer state as a new model built with this seed would."""
        self.model.set_weights(self.initial(seed))
        for var, value in zip(self.optimizer.variables, self._opt_start, strict=True):
            var.assign(value)
        if self._rows is not None:
            self._rows.restart()

    def snapshot(self) -> list[np.ndarray]:
        """The run's whole training state: model weights, then optimizer variables."""
        return [*self.model.get_weights(), *(v.numpy() for v in self.optimizer.variables)]

    def restore(self, state: list[np.ndarray]) -> None:
        """Continue from a `snapshot` (taken by a trainer of the same shape)."""
        n = len(self.model.weights)
        self.model.set_weights(state[:n])
        for var, value in zip(self.optimizer.variables, state[n:], strict=True):
            var.assign(value)
        if self._rows is not None:
            self._rows.restart()

    def validate(self, x_val: Any, y_val: Any) -> tuple[float, float]:
        """Loss and accuracy over the whole validation set, in one compiled call."""
        loss_sum, correct = self._evaluate(x_val, y_val)
        n = int(x_val.shape[0])
        return float(loss_sum) / n, float(correct) / n

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        *,
        seed: int,
        epochs: int,
        stop: Event | None = None,
        orders: list[np.ndarray] | None = None,
        run_id: int = 0,
        after: tuple[int, list[np.ndarray]] | None = None,
    ) -> Iterator[EpochMetrics]:
        """Train one run, yielding each epoch's metrics as soon as it ends.

        From scratch, or with `after = (k, snapshot)` from the state after epoch k, which
        gives exactly the epochs k+1... of the uninterrupted run. The metrics carry `run_id`
        (the store's id of the run). Stops early (after the current epoch) when `stop` is set.
        """
        tf = self._tf
        xt = tf.constant(x, tf.int32)
        yt = tf.constant(y, tf.float32)
        xv = tf.constant(x_val, tf.int32)
        yv = tf.constant(y_val, tf.float32)

        def step(order: np.ndarray) -> tuple[float, float, float, float]:
            loss_sum, correct = self._train_epoch(xt, yt, tf.constant(order))
            val_loss, val_acc = self.validate(xv, yv)
            return float(loss_sum) / len(x), float(correct) / len(x), val_loss, val_acc

        return train_epochs(
            self,
            step,
            seed=seed,
            n=len(x),
            epochs=epochs,
            stop=stop,
            orders=orders,
            run_id=run_id,
            after=after,
        )

    def weights(self) -> list[np.ndarray]:
        """The model's weights as Keras' `get_weights` lists them."""
        return [np.asarray(w) for w in self.model.get_weights()]

    def val_logits(self, x_val: np.ndarray) -> np.ndarray:
        """Each review's logit behind the sigmoid, computed by the model's own layers (the
        last Dense's matmul and bias without its activation), what `inspect` keeps."""
        tf = self._tf
        if self._logits is None:
            embedding, head = self.model.layers[0], self.model.layers[1:]
            dense = head[-1]

            @tf.function(
                input_signature=[tf.TensorSpec([None, self.config.maxlen], tf.int32)],
                reduce_retracing=True,
            )
            def logits(xb):
                h = tf.gather(embedding.embeddings.value, xb)
                for layer in head[:-1]:
                    h = layer(h, training=False)
                return tf.add(tf.matmul(h, dense.kernel.value), dense.bias.value)[:, 0]

            self._logits = logits
        x = np.asarray(x_val, np.int32)
        parts = [
            self._logits(tf.constant(x[i : i + VAL_CHUNK])).numpy()
            for i in range(0, len(x), VAL_CHUNK)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def compiled_validation(maxlen: int, score: Any, zero: Any) -> Any:
    """One compiled pass over a validation set (x, y), in chunks of `VAL_CHUNK` examples:
    `score(x_chunk, y_chunk)` gives a chunk's (loss sum, correct count), added up from
    `zero()`. Shared by `Trainer` and the stacked trainer."""
    import tensorflow as tf

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, maxlen], tf.int32),
            tf.TensorSpec([None], tf.float32),
        ],
        reduce_retracing=True,
        autograph=False,
    )
    def evaluate(x, y):
        n = tf.shape(x)[0]

        def chunk(step, loss_sum, correct):
            xb = x[step * VAL_CHUNK : (step + 1) * VAL_CHUNK]
            yb = y[step * VAL_CHUNK : (step + 1) * VAL_CHUNK]
            loss, hits = score(xb, yb)
            return loss_sum + loss, correct + hits

        return in_graph_loop((n + VAL_CHUNK - 1) // VAL_CHUNK, chunk, (zero(), zero()))

    return evaluate


def in_graph_loop(steps: Any, body: Any, totals: tuple[Any, ...]) -> tuple[Any, ...]:
    """`totals = body(step, *totals)` for step = 0 .. steps-1, as one in-graph while loop.

    The loop AutoGraph makes of `for step in tf.range(steps)`, written out: embtui's
    compiled functions skip AutoGraph (`autograph=False`), whose conversion of their
    Python source (and of every function they call) took most of a trainer's first epoch,
    about 0.6 s of the learned arm's 0.75 s on the 2-core machine; the graph that runs is
    the same."""
    import tensorflow as tf

    def cond(step: Any, *_: Any) -> Any:
        return step < steps

    def advance(step: Any, *values: Any) -> tuple[Any, ...]:
        return (step + 1, *body(step, *values))

    _, *out = tf.while_loop(cond, advance, (tf.constant(0), *totals), maximum_iterations=steps)
    return tuple(out)


def _plain_rmsprop(optimizer: Any) -> bool:
    """RMSprop without momentum or centering, in a Keras whose optimizer keeps its velocity
    slots where `LazyRMSpropRows` reads them: the case it reproduces. Anything else (another
    optimizer, or a Keras release that moved those internals) trains with Keras' own
    `optimizer.apply`, which gives the same numbers, more slowly."""
    import keras

    return (
        isinstance(optimizer, keras.optimizers.RMSprop)
        and _has_velocity_slots(optimizer)
        and not optimizer.centered
        and optimizer.momentum == 0
        and optimizer.clipnorm is None
        and optimizer.global_clipnorm is None
        and optimizer.clipvalue is None
        and not optimizer.weight_decay
    )


def _has_velocity_slots(optimizer: Any) -> bool:
    """Whether `optimizer` keeps one velocity slot per variable in `_velocities`, found
    with `_get_variable_index` (Keras 3's RMSprop does; these names are not public API)."""
    return isinstance(getattr(optimizer, "_velocities", None), list) and callable(
        getattr(optimizer, "_get_variable_index", None)
    )


class LazyRMSpropRows:
    """Keras' plain RMSprop step, made cheap: an embedding's sparse gradient updates only
    the batch's rows (`apply`), dense variables skip `optimizer.apply`'s overhead (`dense`).

    Keras densifies the (vocab_size x dim) gradient of an embedding lookup and updates the
    whole table every step, which costs several times the forward and backward pass of a
    small model. The arithmetic here is the same, row by row:

    * Keras decays every velocity row by rho every step. Here each row remembers the step
      it was last brought up to date; when a batch touches it again, the decays it missed
      are applied at once (velocity * rho^k), and at the end of every epoch (`catch_up`)
      every row is brought up to date, so checkpoints, exported weights and the next
      epoch see the velocity table Keras would hold (to float32 rounding). Epoch ends
      are the only such points, so a resumed run computes what an uninterrupted one does.
    * A touched row's velocity then adds (1 - rho) * the sum of its occurrences' g^2 (as
      Keras does for a sparse gradient), and its weights move by lr * (sum of its
      occurrences' g) / sqrt(velocity + epsilon); rows without a gradient do not move.

    So a step costs O(rows in the batch) instead of O(vocab_size). Results agree with
    Keras' dense update to float32 rounding (rho^k rounds once where Keras rounds k times;
    the equivalence tests in tests/engine/test_trainer.py bound it). It reads the
    optimizer's own velocity slot, so resetting `optimizer.variables` and then calling
    `restart` starts a run afresh. The arithmetic itself is `RowRMSprop`'s, which the
    stacked trainer (`embtui.engine.experimental.stacked`) shares.
    """

    def __init__(self, optimizer: Any, vocab_size: int, legacy_one_minus_rho: bool = False) -> None:
        self.optimizer = optimizer
        self.math = RowRMSprop(optimizer.rho, optimizer.epsilon, vocab_size, legacy_one_minus_rho)
        self.velocity: Any = None  # the embedding's velocity slot, known at its first step

    def restart(self) -> None:
        """Every row is up to date (after a reset or a restore of the optimizer's state)."""
        self.math.restart()

    def _slot(self, var: Any) -> Any:
        optimizer = self.optimizer
        return optimizer._velocities[optimizer._get_variable_index(var)].value

    def apply(self, var: Any, grad: Any) -> None:
        self.velocity = self._slot(var)
        self.math.rows(var.value, self.velocity, grad, self.optimizer.learning_rate)

    def dense(self, var: Any, grad: Any) -> None:
        """Keras' RMSprop `update_step` for a dense variable, the same ops in the same order.

        Called directly rather than through `optimizer.apply`, whose per-call bookkeeping
        (filtering, clipping and weight-decay checks, the learning-rate schedule) costs more
        than the update of a small Dense layer; the step counter is advanced once per batch
        as `apply` would."""
        self.math.dense(var.value, self._slot(var), grad, self.optimizer.learning_rate)

    def catch_up(self) -> None:
        """Apply every row's missed decays: the velocity table becomes what Keras holds."""
        if self.velocity is not None:
            self.math.catch_up(self.velocity)


class RowRMSprop:
    """The arithmetic of Keras' plain RMSprop (rho, epsilon), applied lazily by rows to one
    embedding table of `rows` rows (see `LazyRMSpropRows`) and directly to dense variables.

    `rows` and `dense` take the variable, its velocity and the learning rate; the table's
    per-row "last step" lives here, so one instance serves one table.
    """

    def __init__(
        self, rho: float, epsilon: float, rows: int, legacy_one_minus_rho: bool = False
    ) -> None:
        import tensorflow as tf

        self.rho = rho
        self.epsilon = epsilon
        # Keras computes 1 - rho in Python and casts it (0.1 for rho 0.9); embtui once
        # computed it from a float32 rho (0.10000002): experiments recorded then keep that.
        self.legacy_one_minus_rho = legacy_one_minus_rho
        self.step = tf.Variable(0, dtype=tf.int32, trainable=False)
        self.last = tf.Variable(tf.zeros([rows], tf.int32), trainable=False)

    def restart(self) -> None:
        """Every row is up to date (after a reset or a restore of the velocity)."""
        self.step.assign(0)
        self.last.assign(self.last * 0)

    def rows(self, var: Any, velocity: Any, grad: Any, learning_rate: Any) -> None:
        """One step for the rows in `grad` (IndexedSlices) of `var`, a table."""
        import tensorflow as tf

        rho = tf.cast(self.rho, var.dtype)
        step = self.step.assign_add(1)
        rows, position = tf.unique(grad.indices)
        # Sum each row's occurrences in occurrence order, as one sorted segment sum per
        # quantity: several times faster on a CPU than an unsorted one.
        order = tf.argsort(position, stable=True)
        segments = tf.gather(position, order)
        g = tf.sparse.segment_sum(grad.values, order, segments)
        squares = tf.sparse.segment_sum(tf.square(grad.values), order, segments)
        behind = tf.cast(step - tf.gather(self.last, rows), var.dtype)
        fresh = tf.gather(velocity, rows) * tf.pow(rho, behind)[:, None]
        one_minus_rho = (1 - rho) if self.legacy_one_minus_rho else tf.cast(1 - self.rho, var.dtype)
        fresh = fresh + one_minus_rho * squares
        velocity.scatter_update(tf.IndexedSlices(fresh, rows))
        self.last.scatter_update(tf.IndexedSlices(tf.fill(tf.shape(rows), step), rows))
        lr = tf.cast(learning_rate, var.dtype)
        moved = tf.gather(var, rows) - lr * g / tf.sqrt(fresh + self.epsilon)
        var.scatter_update(tf.IndexedSlices(moved, rows))

    def dense(self, var: Any, velocity: Any, grad: Any, learning_rate: Any) -> None:
        """Keras' RMSprop `update_step` for a dense variable, the same ops in the same order."""
        import tensorflow as tf

        rho = self.rho
        lr = tf.cast(learning_rate, var.dtype)
        fresh = rho * velocity + (1 - rho) * tf.square(grad)
        velocity.assign(fresh)
        var.assign_sub(lr * grad / tf.sqrt(fresh + self.epsilon))

    def catch_up(self, velocity: Any) -> None:
        """Apply every row's missed decays to the table's `velocity`."""
        import tensorflow as tf

        rho = tf.cast(self.rho, velocity.dtype)
        behind = tf.cast(self.step - self.last, velocity.dtype)
        velocity.assign(velocity * tf.pow(rho, behind)[:, None])
        self.last.assign(tf.fill(tf.shape(self.last), self.step))


class TrainerCache:
    """Trainers by engine and key, so a grid builds and traces each graph (or loads each
    compiled kernel) once."""

    def __init__(self) -> None:
        self._trainers: dict[tuple, Any] = {}

    def start(self, engine: str, say: Callable[[str], None]) -> tuple[str, str]:
        """Set this process up to train runs with `engine` and say where they train:
        (device, threads per TensorFlow op), for the experiment's record. The fused kernel
        trains on this CPU without TensorFlow (unless a run's initial weights are not
        cached yet: that run says so); TensorFlow is loaded and set up here first
        (`training_device`), which takes seconds, so it `say`s so before."""
        if engine == "fused":
            return "CPU", threads_per_op(here=False)
        say("loading TensorFlow")
        device = training_device()
        return device, threads_per_op(here=True)

    def get(
        self,
        config: ArmConfig,
        arm: str,
        glove: np.ndarray | None,
        engine: str = "tensorflow",
        legacy_one_minus_rho: bool = False,
    ) -> Any:
        """The trainer for this arm: a TensorFlow `Trainer`, or with `engine = "fused"` an
        `embtui.engine.fused.FusedTrainer` (same interface, same numbers as Keras).
        `legacy_one_minus_rho`: see `Trainer` (the fused engine always uses Keras' value)."""
        legacy = legacy_one_minus_rho and engine != "fused"
        key = (engine, legacy, *trainer_key(config, arm, glove))
        if key not in self._trainers:
            if engine == "fused":
                from embtui.engine.fused import FusedTrainer

                self._trainers[key] = FusedTrainer(config, arm, glove)
            else:
                self._trainers[key] = Trainer(config, arm, glove, legacy)
        trainer = self._trainers[key]
        if trainer.glove is not glove:  # another experiment's vectors: forget cached inits
            trainer.glove = glove
            trainer._inits.clear()
        return trainer

    def clear(self) -> None:
        """Forget every graph and model (between experiments, to keep memory flat)."""
        self._trainers.clear()
        if "keras" in sys.modules:  # a grid the fused kernel trained may never import it
            sys.modules["keras"].backend.clear_session()
