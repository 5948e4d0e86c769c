"""Benchmark: what the system sampler costs a grid (it must cost nothing measurable).

Alternates the reference grid of `bench/grid.py` run by `embtui run` as shipped (A: one
sampler thread reading CPU, RAM and GPUs every second, writing them every five) and by the
same code with the sampler replaced by one that does nothing (B), in child processes, and
prints every wall time, the medians and the ratio A / B. Run it on a quiet machine: the
difference it looks for is smaller than the noise other work makes.

    python bench/sampler.py [--reps 5] [--dataset PATH] [--val-size 2500]
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

# The same `embtui` command line, with embtui.sysmetrics.Sampler made inert first.
WITHOUT_SAMPLER = """
import sys
import embtui.engine.runner as runner

class Inert:
    def __init__(self, *args, **kwargs): pass
    def start(self): return self
    def stop(self): pass
    def start_run(self, *args, **kwargs): pass
    def finish_run(self, *args, **kwargs): return None

runner.Sampler = Inert
from embtui.cli import entry
sys.argv[0] = "embtui"
entry()
"""


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=2500)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        grid = [
            "run",
            "--dataset",
            args.dataset,
            "--val-size",
            str(args.val_size),
            "--sizes",
            "10,50,100,200,500",
            "--embeddings",
            "learned,glove",
            "--seeds",
            "1",
            "--epochs",
            "10",
            "--subset",
            "first",
            "--plain",
        ]
        sides = {
            "with sampler": [sys.executable, "-m", "embtui", *grid],
            "without": [sys.executable, "-c", WITHOUT_SAMPLER, *grid],
        }
        timed([*sides["with sampler"], "--store", f"{tmp}/warm.sqlite"])  # caches, not counted
        times: dict[str, list[float]] = {name: [] for name in sides}
        for rep in range(1, args.reps + 1):
            for name, cmd in sides.items():
                t = timed([*cmd, "--store", f"{tmp}/{rep}-{name[:4]}.sqlite"])
                times[name].append(t)
                print(f"rep {rep} {name:12s} {t:7.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    for name, value in med.items():
        print(f"median {name:12s} {value:.2f} s")
    print(f"ratio with / without sampler: {med['with sampler'] / med['without']:.3f}")


if __name__ == "__main__":
    main()
