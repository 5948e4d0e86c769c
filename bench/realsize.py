"""Benchmark: the real-size grid through `embtui run` against plain Keras doing the same runs.

The grid: sizes 1000, 2000, 4000 x the learned and frozen-GloVe arms x 3 seeds (18 runs),
10 epochs, batch 32, 1,000 validation reviews, on the 5,000 IMDB reviews of ../shared/data.
The plain-Keras side is `bench/baseline.py --seeds 3` (a new model, `compile` and `fit` per
run, as the reference notebook does). Both run as child processes and alternate A/B for
`--reps` repetitions, so that other work on the machine hits both alike; the script prints
every wall time (whole process, TensorFlow's import included), the medians and the ratio.

With `--before PATH` (another checkout of embtui, e.g. `git worktree add /tmp/old HEAD~3`),
`embtui run` from that tree joins the same alternation, and embtui now / before is printed.

Then, unless `--no-seeds-ratio`, the same grid through `embtui run` with 10 seeds against 1
seed (alternated, `--seed-reps` repetitions): what extra seeds cost.

    python bench/realsize.py [--reps 3] [--seed-reps 1] [--sizes 1000,2000,4000] [--seeds 3]
                             [--before PATH] [--no-seeds-ratio]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grid import DEFAULT_DATA, timed


def embtui_cmd(args: argparse.Namespace, seeds: int, store: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "embtui",
        "run",
        "--dataset",
        args.dataset,
        "--val-size",
        str(args.val_size),
        "--sizes",
        args.sizes,
        "--epochs",
        str(args.epochs),
        "--embeddings",
        "learned,glove",
        "--seeds",
        str(seeds),
        "--subset",
        "first",
        "--plain",
        "--store",
        store,
    ]


def alternate(
    cmds: dict[str, list[str]], reps: int, trees: dict[str, str] | None = None
) -> dict[str, float]:
    """Run each command once per repetition, in turn; the medians of their wall times.
    A command named in `trees` runs with that embtui tree first on PYTHONPATH."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for rep in range(1, reps + 1):
        for name, cmd in cmds.items():
            tree = (trees or {}).get(name)
            t = timed(cmd) if tree is None else timed_in(cmd, tree)
            times[name].append(t)
            print(f"rep {rep} {name:14s} {t:7.2f} s", flush=True)
    return {name: statistics.median(v) for name, v in times.items()}


def timed_in(cmd: list[str], tree: str) -> float:
    """Wall time of `cmd` run from `tree` (`python -m` imports from the current folder)."""
    env = {**os.environ, "PYTHONPATH": tree}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}) in {tree}: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seed-reps", type=int, default=1)
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=1000)
    ap.add_argument("--sizes", default="1000,2000,4000")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--no-seeds-ratio", action="store_true")
    ap.add_argument("--before", help="another embtui tree to time in the same alternation")
    args = ap.parse_args()

    baseline = [
        sys.executable,
        "bench/baseline.py",
        "--dataset",
        args.dataset,
        "--val-size",
        str(args.val_size),
        "--sizes",
        args.sizes,
        "--epochs",
        str(args.epochs),
        "--seeds",
        str(args.seeds),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up (not counted): fills the data and GloVe caches and the OS file cache.
        warm = embtui_cmd(args, 1, f"{tmp}/w.sqlite")
        warm[warm.index("--sizes") + 1] = "10"
        warm[warm.index("--epochs") + 1] = "1"
        timed(warm)
        runs = len(args.sizes.split(",")) * 2 * args.seeds
        print(
            f"real-size grid: sizes {args.sizes} x learned,glove x {args.seeds} seeds "
            f"({runs} runs), {args.epochs} epochs, {args.val_size} validation reviews"
        )
        cmds = {"baseline": baseline, "embtui": embtui_cmd(args, args.seeds, f"{tmp}/a.sqlite")}
        trees = {}
        if args.before:
            cmds["embtui before"] = embtui_cmd(args, args.seeds, f"{tmp}/b.sqlite")
            trees["embtui before"] = str(Path(args.before).resolve())
        med = alternate(cmds, args.reps, trees)
        print(f"median baseline (plain Keras fit per run): {med['baseline']:.2f} s")
        print(f"median embtui run (headless):              {med['embtui']:.2f} s")
        print(f"ratio embtui / baseline: {med['embtui'] / med['baseline']:.3f}  (target <= 0.10)")
        if args.before:
            before = med["embtui before"]
            print(f"median embtui before ({args.before}): {before:.2f} s")
            print(f"ratio before / baseline: {before / med['baseline']:.3f}")
            print(f"ratio embtui now / before: {med['embtui'] / before:.3f}")
        if args.no_seeds_ratio:
            return
        seeds = alternate(
            {
                "embtui 1 seed": embtui_cmd(args, 1, f"{tmp}/s1.sqlite"),
                "embtui 10 seeds": embtui_cmd(args, 10, f"{tmp}/s10.sqlite"),
            },
            args.seed_reps,
        )
        one, ten = seeds["embtui 1 seed"], seeds["embtui 10 seeds"]
        print(f"median embtui 1 seed: {one:.2f} s, 10 seeds: {ten:.2f} s")
        print(f"ratio 10 seeds / 1 seed: {ten / one:.2f}  (target <= 3)")


if __name__ == "__main__":
    main()
