"""Benchmark: what one run's epoch costs alone and in a stack of S seeds (`StackedTrainer`).

For each arm (learned, frozen GloVe), on the real reviews of ../shared/data at one training
size: a run trained alone by `Trainer`, and stacks of S runs trained side by side by
`StackedTrainer` (experimental, used by no executor: `embtui.engine.experimental.stacked`),
in this process, on whatever device TensorFlow sees. Each variant's compiled functions are
traced first; then the variants alternate, one whole fit of `--epochs` epochs each per
repetition, and the script prints the median epoch time per run (a stack's epoch divided by
S) and its ratio to the run alone. A ratio under 1 means stacking seeds pays on this device.

The GloVe arm uses random vectors of GloVe's shape (the timing does not depend on their
values; the real vectors need the `glove` extra).

    python bench/stacked.py [--size 4000] [--val-size 1000] [--stacks 2,5,10] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from limit import DEFAULT_DATA


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--size", type=int, default=4000)
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--stacks", default="2,5,10")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    stacks = [int(s) for s in args.stacks.split(",")]

    from embtui.config import ExperimentConfig
    from embtui.engine.runner import prepare
    from embtui.engine.tfsetup import describe_device
    from embtui.engine.trainer import Trainer

    config = ExperimentConfig(
        dataset=args.dataset, val_size=args.val_size, sizes=(args.size,), subset="first"
    )
    data = prepare(config).data
    arm_cfg = config.arm({})
    n = args.size
    print(f"device {describe_device()}; size {n}, {args.val_size} validation, {args.epochs} epochs")
    rng = np.random.default_rng(0)
    glove = rng.normal(size=(arm_cfg.vocab_size, 100)).astype(np.float32)
    for arm, vectors in (("learned", None), ("glove", glove)):
        compare(Trainer(arm_cfg, arm, vectors), data, n, stacks, args.epochs, args.reps)


def compare(base, data, n: int, stacks: list[int], epochs: int, reps: int) -> None:
    """Time `base` (a Trainer) alone against stacks of each size in `stacks`, alternated
    `reps` times after a first, traced pass; print the median epoch per run."""
    from embtui.engine.experimental.stacked import Member, StackedTrainer

    x, y = data.x_train, data.y_train
    stacked = {s: StackedTrainer(base, s) for s in stacks}

    def alone() -> float:
        fit = base.fit(x[:n], y[:n], data.x_val, data.y_val, seed=0, epochs=epochs)
        return statistics.median(e.seconds for e in fit)

    def stack(s: int) -> float:
        members = [Member(i, i, np.arange(n)) for i in range(s)]
        fit = stacked[s].fit(x, y, data.x_val, data.y_val, members, epochs=epochs)
        return statistics.median(e[0].seconds for e in fit)  # per run: epoch / S

    variants = {"alone": alone, **{f"stack of {s}": (lambda s=s: stack(s)) for s in stacks}}
    for run in variants.values():  # trace every graph before timing
        run()
    times: dict[str, list[float]] = {name: [] for name in variants}
    t0 = time.perf_counter()
    for _ in range(reps):
        for name, run in variants.items():
            times[name].append(run())
    single = statistics.median(times["alone"])
    for name, values in times.items():
        per_run = statistics.median(values)
        print(
            f"{base.arm:8s} {name:12s} epoch per run {1000 * per_run:7.1f} ms"
            f"   / alone {per_run / single:5.2f}",
            flush=True,
        )
    print(f"  ({reps} alternated repetitions in {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
