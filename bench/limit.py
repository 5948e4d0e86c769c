"""Benchmark: a learned-arm epoch at 4,000 reviews against memory bandwidth and compute.

1. Measures bandwidth: numpy copies and adds (best of several passes, bytes read plus bytes
   written per second) over arrays far larger than the caches (DRAM), and over arrays the
   size of the epoch's working set (8 MB: the embedding table and its RMSprop velocity, 4 MB
   each), which stay in this CPU's L3 cache (32 MB here).
2. Counts the memory traffic an epoch cannot avoid, from the real data and the run's real
   example order (Embedding(10,000 x 100) -> Flatten -> Dense, batch 32, 150 tokens): each
   step reads the embedding row of each of its 4,800 tokens once (forward), and reads and
   writes the weights and the RMSprop velocity of each distinct row it touches (update);
   then validation reads each validation token's row once. Everything else (the Dense
   layer, 60 KB) is negligible. That traffic at DRAM bandwidth is the old "bandwidth
   floor"; but the table and its velocity fit in L3, so it is no floor: an epoch is bound
   by the core (loads and stores from cache, sqrt, division), and the same traffic at L3
   bandwidth is printed beside it.
3. The compute-bound figure, measured: the fused kernel's epoch (`embtui.engine.fused`,
   single-threaded, Keras' arithmetic, nothing but the epoch's own work), and embtui's
   TensorFlow `Trainer` on the same run (seed 0, in this process, epochs alternated), each
   as the median epoch time (training plus validation, as `embtui run` records it) and as
   a multiple of both bandwidth figures.

    python bench/limit.py [--size 4000] [--val-size 1000] [--epochs 6]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb_reviews_5k.csv"
ROW_BYTES = 100 * 4  # one embedding row: 100 float32


def numpy_bandwidth(mb: int = 512, passes: int = 5) -> float:
    """Bytes per second moved by large numpy copies and adds (the best pass of each)."""
    n = mb * 1024 * 1024 // 8
    a = np.ones(n)
    b = np.ones(n)
    c = np.empty(n)
    best = 0.0
    for _ in range(passes):
        t = time.perf_counter()
        np.copyto(c, a)  # read a, write c
        best = max(best, 2 * a.nbytes / (time.perf_counter() - t))
        t = time.perf_counter()
        np.add(a, b, out=c)  # read a and b, write c
        best = max(best, 3 * a.nbytes / (time.perf_counter() - t))
    return best


def epoch_traffic(x: np.ndarray, order: np.ndarray, n_val_tokens: int, batch: int = 32) -> int:
    """The bytes an epoch over `x` in `order` must move (see the module docstring)."""
    tokens = 0
    distinct = 0
    for start in range(0, len(order), batch):
        ids = x[order[start : start + batch]].ravel()
        tokens += ids.size
        distinct += np.unique(ids).size
    return (tokens + 4 * distinct + n_val_tokens) * ROW_BYTES


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()

    dram = numpy_bandwidth()
    cached = numpy_bandwidth(mb=8, passes=50)
    print(
        f"measured bandwidth (numpy copy/add, best pass): DRAM {dram / 1e9:.1f} GB/s, "
        f"8 MB in cache {cached / 1e9:.1f} GB/s"
    )

    from embtui.config import ExperimentConfig
    from embtui.engine.data import load_dataset_cached
    from embtui.engine.fused import FusedTrainer
    from embtui.engine.models import epoch_orders
    from embtui.engine.trainer import Trainer

    data = load_dataset_cached(args.dataset, vocab_size=10000, maxlen=150, val_size=args.val_size)
    x, y = data.x_train[: args.size], data.y_train[: args.size]
    orders = epoch_orders(0, len(x), args.epochs)
    traffic = epoch_traffic(x, orders[0], data.x_val.size)
    floor, in_cache = traffic / dram, traffic / cached
    print(
        f"learned-arm epoch at {args.size} reviews: unavoidable traffic {traffic / 1e9:.2f} GB "
        f"-> {floor * 1000:.1f} ms at DRAM bandwidth (the old 'floor': not one, the table "
        f"and its velocity fit in L3), {in_cache * 1000:.1f} ms at in-cache bandwidth"
    )
    cfg = ExperimentConfig(val_size=args.val_size).arm({})
    runs = {
        name: trainer.fit(x, y, data.x_val, data.y_val, seed=0, epochs=args.epochs, orders=orders)
        for name, trainer in (
            ("fused kernel", FusedTrainer(cfg, "learned", None)),
            ("TensorFlow Trainer", Trainer(cfg, "learned", None)),
        )
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.epochs):
        for name, epochs in runs.items():
            seconds[name].append(next(epochs).seconds)
    for name, times in seconds.items():
        epoch = statistics.median(times[1:])  # the first epoch also compiles or traces
        print(
            f"{name}: epoch seconds " + ", ".join(f"{s:.3f}" for s in times) + f"; median "
            f"(2..{args.epochs}) {epoch * 1000:.0f} ms = {epoch / floor:.1f}x the DRAM figure, "
            f"{epoch / in_cache:.1f}x the in-cache figure"
        )
    print(
        "the fused kernel's epoch is the measured compute-bound figure: the epoch's own work "
        "on one core, bound by its loads, stores, sqrt and division, not by DRAM"
    )


if __name__ == "__main__":
    main()
