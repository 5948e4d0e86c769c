"""Benchmark: the reference grid through `embtui run` against the plain-Keras baseline.

Both sides run as child processes of this script on the same data (default: the 5,000 real
IMDB reviews of ../shared/data with 2,500 held out for validation; the grid is 5 sizes x 2
arms x 1 seed, 10 epochs, batch 32). They alternate A/B for `--reps` repetitions so that
machine noise hits both alike; the script prints every wall time, the medians and the ratio
embtui / baseline. Wall time is the whole process, TensorFlow's import included, as a user
waits for it.

    python bench/grid.py [--reps 3] [--dataset PATH] [--val-size 2500]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "imdb_reviews_5k.csv"


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=2500)
    ap.add_argument("--sizes", default="10,50,100,200,500")
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()

    common = ["--dataset", args.dataset, "--val-size", str(args.val_size), "--sizes", args.sizes]
    baseline = [sys.executable, "bench/baseline.py", *common, "--epochs", str(args.epochs)]
    with tempfile.TemporaryDirectory() as tmp:
        embtui = [
            sys.executable,
            "-m",
            "embtui",
            "run",
            *common,
            "--epochs",
            str(args.epochs),
            "--embeddings",
            "learned,glove",
            "--seeds",
            "1",
            "--subset",
            "first",
            "--plain",
            "--store",
            f"{tmp}/bench.sqlite",
        ]
        # Warm-up (not counted): fills the GloVe cache and the OS file cache for both sides.
        timed(
            [
                *embtui[:3],
                "run",
                *common,
                "--epochs",
                "1",
                "--sizes",
                "10",
                "--embeddings",
                "glove",
                "--seeds",
                "1",
                "--plain",
                "--store",
                f"{tmp}/w.sqlite",
            ]
        )
        times: dict[str, list[float]] = {"baseline": [], "embtui": []}
        for rep in range(1, args.reps + 1):
            for name, cmd in (("baseline", baseline), ("embtui", embtui)):
                t = timed(cmd)
                times[name].append(t)
                print(f"rep {rep} {name:8s} {t:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"median baseline (plain Keras fit per run): {med['baseline']:.2f} s")
    print(f"median embtui run (headless):              {med['embtui']:.2f} s")
    print(f"ratio embtui / baseline: {med['embtui'] / med['baseline']:.3f}  (target <= 0.12)")


if __name__ == "__main__":
    main()
