"""Benchmark: a learned-arm epoch with the fused kernel vs the TensorFlow Trainer vs Keras.

One process, one run each (seed 0, the same initial weights, the same example order:
`embtui.engine.models.epoch_orders`), 4,000 reviews of the shared 5k CSV (vocabulary
10,000, maxlen 150, Embedding(10,000 x 100) -> Flatten -> Dense(1), RMSprop, batch 32),
1,000 validation reviews scored after every epoch, as `embtui run` times an epoch. The
three contenders train epoch by epoch in turn, the order rotated every round, so that
whatever else shares the machine weighs on all three alike; the first epoch (compiling,
tracing) is left out of the medians. Prints each epoch's seconds, the medians, the
per-round ratios' medians (of wall time, and of CPU time, which a machine shared with other
work disturbs less), and how far the three runs' losses lie apart (a check that
they computed the same thing).

    python bench/fused.py [--size 4000] [--val-size 1000] [--epochs 7]

TensorFlow runs each op on one thread here (embtui's setting, process-wide, so plain Keras
gets it too); the fused kernel is single-threaded.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb_reviews_5k.csv"


def keras_epochs(cfg, x, y, xv, yv, orders) -> Iterator[tuple[float, float]]:
    """Plain Keras `fit`, one epoch per call on the pre-shuffled examples: (loss, val_loss)."""
    from embtui.engine.models import build_model, initial_weights, make_optimizer

    model = build_model(cfg, "learned")
    model.set_weights(initial_weights(cfg, "learned", 0, None))
    model.compile(optimizer=make_optimizer(cfg), loss="binary_crossentropy", metrics=["acc"])
    for order in orders:
        h = model.fit(
            x[order],
            y[order],
            epochs=1,
            batch_size=cfg.batch_size,
            shuffle=False,
            validation_data=(xv, yv),
            verbose=0,
        ).history
        yield float(h["loss"][0]), float(h["val_loss"][0])


def engine_epochs(trainer, x, y, xv, yv, orders) -> Iterator[tuple[float, float]]:
    for m in trainer.fit(x, y, xv, yv, seed=0, epochs=len(orders), orders=orders):
        yield m.loss, m.val_loss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=7)
    args = ap.parse_args()

    from embtui.config import ExperimentConfig
    from embtui.engine.data import load_dataset_cached
    from embtui.engine.fused import FusedTrainer, kernel_is_cached
    from embtui.engine.models import epoch_orders
    from embtui.engine.trainer import Trainer

    data = load_dataset_cached(args.dataset, vocab_size=10000, maxlen=150, val_size=args.val_size)
    x, y = data.x_train[: args.size], data.y_train[: args.size]
    xv, yv = data.x_val, data.y_val
    cfg = ExperimentConfig(val_size=args.val_size).arm({})
    orders = epoch_orders(0, len(x), args.epochs)

    cold = not kernel_is_cached()
    t0 = time.perf_counter()
    fused = FusedTrainer(cfg, "learned", None)
    fused.initial(0)  # draw the initial weights outside the timed epochs
    trainer = Trainer(cfg, "learned", None)
    trainer.initial(0)
    print(f"set-up (graph, numba, initial weights): {time.perf_counter() - t0:.1f} s")

    runs: dict[str, Iterator[tuple[float, float]]] = {
        "fused": engine_epochs(fused, x, y, xv, yv, orders),
        "trainer": engine_epochs(trainer, x, y, xv, yv, orders),
        "keras": keras_epochs(cfg, x, y, xv, yv, orders),
    }
    names = list(runs)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    losses: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for epoch in range(args.epochs):
        turn = names[epoch % 3 :] + names[: epoch % 3]
        for name in turn:
            t, c = time.perf_counter(), time.process_time()
            losses[name].append(next(runs[name]))
            seconds[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
        print(
            f"epoch {epoch + 1}: "
            + "  ".join(f"{n} {seconds[n][-1] * 1000:7.1f} ms" for n in names)
            + ("  (fused: compiling the kernel)" if epoch == 0 and cold else "")
        )

    later = slice(1, None)
    med = {n: statistics.median(seconds[n][later]) for n in names}
    print(
        f"median epoch 2..{args.epochs}: " + ", ".join(f"{n} {med[n] * 1000:.1f} ms" for n in names)
    )
    cpu_med = {n: statistics.median(cpu[n][later]) for n in names}
    print(
        "median CPU time (all of the process's threads): "
        + ", ".join(f"{n} {cpu_med[n] * 1000:.1f} ms" for n in names)
    )
    for a, b in (("fused", "trainer"), ("fused", "keras"), ("trainer", "keras")):
        per_round = [p / q for p, q in zip(seconds[a][later], seconds[b][later], strict=True)]
        per_round_cpu = [p / q for p, q in zip(cpu[a][later], cpu[b][later], strict=True)]
        print(
            f"{a} / {b}: {med[a] / med[b]:.3f} (ratio of medians), "
            f"per-round median {statistics.median(per_round):.3f}, "
            f"range {min(per_round):.3f}-{max(per_round):.3f}; "
            f"CPU time per-round median {statistics.median(per_round_cpu):.3f}"
        )
    gap = {
        (a, b): max(
            max(abs(p[0] - q[0]), abs(p[1] - q[1]))
            for p, q in zip(losses[a], losses[b], strict=True)
        )
        for a, b in (("fused", "keras"), ("trainer", "keras"), ("fused", "trainer"))
    }
    print(
        "largest loss / val_loss difference over the epochs: "
        + ", ".join(f"{a} vs {b} {d:.1e}" for (a, b), d in gap.items())
    )
    print("final val_loss: " + ", ".join(f"{n} {losses[n][-1][1]:.6f}" for n in names))


if __name__ == "__main__":
    main()
