"""Train the seeds of one cell side by side: S runs of one shape as one stacked model.

A grid trains each (size, arm) cell with several seeds: S independent runs of the same
graph on the same number of examples. One training step of a small model costs mostly
per-op overhead, not arithmetic, so a `StackedTrainer` gives every weight a leading run
axis and trains the S runs in one graph: step k of every run in one call, each run with its
own initial weights (its seed's, as `fit` would build them), its own training subset and
example order, its own RMSprop state and its own metrics. A step then does S runs' work for
little more than the overhead of one.

Nothing is shared between the runs of a stack except the frozen GloVe table, which none of
them changes: each run's embedding is its own block of rows in one table (run s owns rows
s*V ... s*V+V-1), so the lazy row update (`RowRMSprop`, the Trainer's arithmetic) never
mixes them, and every reduction is taken per run. Bounds
(tests/engine/experimental/test_stacked.py):

* each run of a stack matches plain Keras `fit` to the Trainer's tolerances (loss within
  1e-5 absolute, accuracies within one example) and ends each epoch with Keras' velocity;
* a run's numbers are bit for bit the same in any stack of two or more runs, whatever its
  companions or its place; a stack of one (TensorFlow takes other kernels for a batch
  dimension of 1) agrees with them to float32 rounding.

Which runs can stack: the flatten and avgpool heads with plain RMSprop (`stackable`); other
heads and optimizers train alone through `Trainer`. A run's snapshot has `Trainer.snapshot`'s
layout (model weights, then the optimizer's variables), so a solo Trainer can continue it.

Status: experimental (`embtui.engine.experimental`): the executors do not use it yet,
because on the 2-core CPU it does not reliably pay. bench/stacked.py, epoch per run in stacks
of 3/5/10 over the run alone (medians of 3 alternated fits, 1,000 validation reviews):

    reviews        500        1,000      2,000      4,000
    learned        0.99-1.14  0.69-0.81  1.31-1.66  0.94-1.05
    frozen GloVe   0.74-1.00  0.68-0.81  0.80-0.94  0.91-1.10

A CPU step's cost here is mostly memory work that grows with the runs (the embedding's row
update above all, whose tables stop fitting the caches as S grows), not per-op overhead
that a stack would share; on a GPU it should be the other way round, which bench/gpu.py
measures. Using it means making a cell (the seeds of one size and arm) the unit every
executor dispatches, so that a run's stack, and so its last bits, never depends on the
executor.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from threading import Event
from typing import Any

import numpy as np

from embtui.config import ArmConfig
from embtui.engine.trainer import (
    RowRMSprop,
    Trainer,
    compiled_validation,
    epoch_orders,
    in_graph_loop,
)
from embtui.store import EpochMetrics

#: Heads whose stacked forward pass is written here. conv1d and lstm train alone.
STACKABLE_HEADS = ("flatten", "avgpool")


def stackable(config: ArmConfig) -> bool:
    """Whether runs of this arm train in stacks (`StackedTrainer`) rather than alone."""
    return config.head in STACKABLE_HEADS and config.optimizer == "rmsprop"


@dataclass(frozen=True)
class Member:
    """One run of a stack: its store id, seed, training examples (indices into the
    dataset's training split) and, when it continues, `(k, snapshot after epoch k)`."""

    run_id: int
    seed: int
    subset: np.ndarray
    after: tuple[int, list[np.ndarray]] | None = None


class StackedTrainer:
    """S runs of one arm (config, embedding, GloVe matrix) trained as one model.

    Built once per (arm, shapes, S) and reused: `fit` resets every run's weights and
    optimizer state. `base`, a solo `Trainer` of the same shape, supplies each seed's
    initial weights and the checkpoint layout.
    """

    def __init__(self, base: Trainer, stack: int) -> None:
        import keras
        import tensorflow as tf

        self.base = base
        self.stack = stack
        self.config = config = base.config
        model = base.model
        embedding, dense = model.layers[0], model.layers[-1]
        vocab, dim = (int(d) for d in embedding.embeddings.shape)
        self.vocab = vocab
        self.tuned = bool(embedding.trainable)
        features = int(dense.kernel.shape[0])
        optimizer = base.optimizer
        self.math = RowRMSprop(optimizer.rho, optimizer.epsilon, stack * vocab if self.tuned else 0)
        self.lr = float(optimizer.learning_rate.numpy())
        s = stack

        def var(shape: list[int]) -> Any:
            return tf.Variable(tf.zeros(shape, tf.float32), trainable=False)

        # Run s's embedding is rows s*V ... s*V+V-1; a frozen table is one shared block.
        self.table = var([s * vocab if self.tuned else vocab, dim])
        self.kernel = var([s, features, 1])  # run s's Dense kernel and bias: [s]
        self.bias = var([s, 1])
        self.v_table = var([s * vocab, dim]) if self.tuned else None
        self.v_kernel = var([s, features, 1])
        self.v_bias = var([s, 1])
        self.iterations = 0
        offsets = tf.constant(np.arange(s, dtype=np.int32) * vocab if self.tuned else [0] * s)
        flatten = config.head == "flatten"
        maxlen, bs = config.maxlen, config.batch_size
        math, lr = self.math, self.lr
        table, kernel, bias = self.table, self.kernel, self.bias
        v_table, v_kernel, v_bias = self.v_table, self.v_kernel, self.v_bias
        bce = keras.losses.binary_crossentropy

        def forward(tokens: Any) -> Any:
            """Probabilities [S, B, 1] for tokens [S, B, maxlen]: each run its own rows."""
            h = tf.gather(table, tokens + offsets[:, None, None])  # [S, B, maxlen, dim]
            feats = tf.reshape(h, [s, -1, maxlen * dim]) if flatten else tf.reduce_mean(h, 2)
            # One matmul per run (a batched matmul), as Keras' Dense does for one run.
            logits = tf.matmul(feats, kernel) + bias[:, None, :]
            return tf.sigmoid(logits)

        watched = [table, kernel, bias] if self.tuned else [kernel, bias]

        @tf.function(
            input_signature=[
                tf.TensorSpec([None, maxlen], tf.int32),
                tf.TensorSpec([None], tf.float32),
                tf.TensorSpec([s, None], tf.int32),
            ],
            reduce_retracing=True,
            autograph=False,
        )
        def train_epoch(x, y, order):
            n = tf.shape(order)[1]

            def step_fn(step, loss_sum, correct):
                idx = order[:, step * bs : tf.minimum((step + 1) * bs, n)]  # [S, B]
                xb = tf.gather(x, idx)
                yb = tf.gather(y, idx)[..., None]
                with tf.GradientTape(watch_accessed_variables=False) as tape:
                    tape.watch(watched)
                    p = forward(xb)
                    losses = tf.reduce_mean(bce(yb, p), axis=1)  # each run's batch loss
                    total = tf.reduce_sum(losses)  # d total / d run s's weights = its own
                grads = tape.gradient(total, watched)
                if self.tuned:
                    math.rows(table, v_table, grads[0], lr)
                g_kernel, g_bias = grads[-2:]
                math.dense(kernel, v_kernel, g_kernel, lr)
                math.dense(bias, v_bias, g_bias, lr)
                size = tf.cast(tf.shape(idx)[1], tf.float32)
                hits = tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), yb), tf.float32)
                return loss_sum + losses * size, correct + tf.reduce_sum(hits, axis=[1, 2])

            totals = (tf.zeros([s]), tf.zeros([s]))
            loss_sum, correct = in_graph_loop((n + bs - 1) // bs, step_fn, totals)
            if self.tuned:
                math.catch_up(v_table)
            return loss_sum, correct

        def score(xb, yb):
            p = forward(tf.tile(xb[None], [s, 1, 1]))  # every run scores the same chunk
            ys = tf.tile(yb[None, :, None], [s, 1, 1])
            hits = tf.cast(tf.equal(tf.cast(p > 0.5, tf.float32), ys), tf.float32)
            return tf.reduce_sum(bce(ys, p), axis=1), tf.reduce_sum(hits, axis=[1, 2])

        evaluate = compiled_validation(maxlen, score, lambda: tf.zeros([s]))

        self._train_epoch = train_epoch
        self._evaluate = evaluate
        self._tf = tf

    # -- state ---------------------------------------------------------------------------

    def _load(
        self, s: int, weights: Sequence[np.ndarray], velocities: Sequence[np.ndarray]
    ) -> None:
        """Put one run's weights (the model's list) and RMSprop velocities into slot s."""
        v = self.vocab
        embed, kernel, bias = weights
        if self.tuned:
            self.table[s * v : (s + 1) * v].assign(embed)
            v_embed, v_kernel, v_bias = velocities
            assert self.v_table is not None
            self.v_table[s * v : (s + 1) * v].assign(v_embed)
        else:
            self.table.assign(embed)  # the frozen vectors, the same for every run
            v_kernel, v_bias = velocities
        self.kernel[s].assign(kernel)
        self.bias[s].assign(bias)
        self.v_kernel[s].assign(v_kernel)
        self.v_bias[s].assign(v_bias)

    def snapshot(self, s: int) -> list[np.ndarray]:
        """Run s's training state as `Trainer.snapshot` lays it out (weights, then the
        optimizer's variables: iterations, learning rate, velocities)."""
        v = self.vocab
        if self.tuned:
            embed = self.table[s * v : (s + 1) * v].numpy()
            assert self.v_table is not None
            velocities = [self.v_table[s * v : (s + 1) * v].numpy()]
        else:
            embed = self.table.numpy()
            velocities = []
        velocities += [self.v_kernel[s].numpy(), self.v_bias[s].numpy()]
        weights = [embed, self.kernel[s].numpy(), self.bias[s].numpy()]
        optimizer = [
            np.asarray(self.iterations, dtype=self.base._opt_start[0].dtype),
            np.asarray(self.lr, dtype=np.float32),
        ]
        return [*weights, *optimizer, *velocities]

    def _restore(self, s: int, state: list[np.ndarray]) -> int:
        """Load a `snapshot` into slot s; returns its iteration count."""
        weights, optimizer, velocities = state[:3], state[3:5], state[5:]
        self._load(s, weights, velocities)
        return int(optimizer[0])

    # -- training ------------------------------------------------------------------------

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        members: Sequence[Member],
        *,
        epochs: int,
        stop: Event | None = None,
    ) -> Iterator[list[EpochMetrics]]:
        """Train the members side by side, yielding each epoch's metrics (one per member,
        in order) as soon as the epoch ends. `x`, `y` are the whole training split; a
        member trains on `x[member.subset]` in its seed's order, exactly as `Trainer.fit`
        would on that subset. Members continuing from a checkpoint must all continue from
        the same epoch. Stops after the current epoch when `stop` is set."""
        tf = self._tf
        if len(members) != self.stack:
            raise ValueError(f"a stack of {self.stack} runs was given {len(members)}")
        firsts = {m.after[0] if m.after else 0 for m in members}
        if len(firsts) != 1:
            raise ValueError("the runs of a stack must continue from the same epoch")
        sizes = {len(m.subset) for m in members}
        if len(sizes) != 1:
            raise ValueError("the runs of a stack must train on as many examples")
        first = firsts.pop() + 1
        n = sizes.pop()
        self.math.restart()
        iterations = 0
        for s, m in enumerate(members):
            if m.after is not None:
                iterations = self._restore(s, m.after[1])
            else:
                weights = self.base.initial(m.seed)
                zeros = [np.zeros_like(w) for w in weights]
                self._load(s, weights, zeros if self.tuned else zeros[1:])
        self.iterations = iterations
        steps = (n + self.config.batch_size - 1) // self.config.batch_size
        orders = [epoch_orders(m.seed, n, epochs) for m in members]
        xt = tf.constant(x, tf.int32)
        yt = tf.constant(y, tf.float32)
        xv = tf.constant(x_val, tf.int32)
        yv = tf.constant(y_val, tf.float32)
        n_val = len(y_val)
        for epoch in range(first, epochs + 1):
            if stop is not None and stop.is_set():
                return
            t0 = time.perf_counter()
            order = np.stack([m.subset[o[epoch - 1]] for m, o in zip(members, orders, strict=True)])
            loss_sum, correct = self._train_epoch(xt, yt, tf.constant(order.astype(np.int32)))
            val_loss, val_correct = self._evaluate(xv, yv)
            self.iterations += steps
            loss_sum, correct = loss_sum.numpy(), correct.numpy()
            val_loss, val_correct = val_loss.numpy(), val_correct.numpy()
            seconds = (time.perf_counter() - t0) / len(members)
            yield [
                EpochMetrics(
                    m.run_id,
                    epoch,
                    float(loss_sum[s]) / n,
                    float(correct[s]) / n,
                    float(val_loss[s]) / n_val,
                    float(val_correct[s]) / n_val,
                    seconds,
                )
                for s, m in enumerate(members)
            ]
