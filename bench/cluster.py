"""Benchmark: the reference grid on a local Ray cluster against the same grid without Ray.

Three ways to train the same grid (default: the 5,000 real IMDB reviews of ../shared/data,
2,500 held out; 5 sizes x 2 arms x 2 seeds, 10 epochs), alternated for `--reps`
repetitions so that machine noise hits all alike:

- `serial`: `embtui run` (workers = 1), one process;
- `workers`: `embtui run --workers N`, N worker processes on this machine;
- `ray`: `embtui run --ray`, Ray started on this machine with its CPUs.

Each wall time is the whole process, as a user waits for it. From each run's plain output
the script also times where the time goes: until training starts (`startup`: imports, data,
GloVe, and for Ray starting Ray and its workers), training (first run started to the last
run finished), and the end (summary, shutting Ray down). Prints every figure, the medians,
and each mode's ratio to `serial`.

    python bench/cluster.py [--reps 3] [--workers 2] [--dataset PATH]
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


def timed(cmd: list[str]) -> dict[str, float]:
    """Run `cmd`, timing its phases from the moments its plain progress lines (on stderr)
    appear."""
    t0 = time.perf_counter()
    first_run = last_end = None
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stderr is not None
    seen: list[str] = []
    for line in proc.stderr:
        t = time.perf_counter() - t0
        seen.append(line)
        if line.startswith("run ") and first_run is None:
            first_run = t
        if line.strip().endswith(("done", "failed", "cancelled")) and line.startswith("  "):
            last_end = t
    if proc.stdout is not None:
        proc.stdout.read()  # the summary
    err = "".join(seen)
    if proc.wait() != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    total = time.perf_counter() - t0
    if first_run is None or last_end is None:
        sys.exit(f"no runs in the output of {' '.join(cmd)}")
    return {
        "total": total,
        "startup": first_run,
        "training": last_end - first_run,
        "end": total - last_end,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=2500)
    ap.add_argument("--sizes", default="10,50,100,200,500")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=10)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        grid = [
            sys.executable,
            "-m",
            "embtui",
            "run",
            "--plain",
            "--dataset",
            args.dataset,
            "--val-size",
            str(args.val_size),
            "--sizes",
            args.sizes,
            "--embeddings",
            "learned,glove",
            "--seeds",
            str(args.seeds),
            "--epochs",
            str(args.epochs),
        ]
        modes = {
            "serial": ["--workers", "1"],
            "workers": ["--workers", str(args.workers)],
            "ray": ["--ray"],
        }
        # Warm-up (not counted): the GloVe cache, the OS file cache, Ray's first start.
        for name, extra in modes.items():
            timed(
                [
                    *grid,
                    *extra,
                    "--epochs",
                    "1",
                    "--sizes",
                    "10",
                    "--store",
                    f"{tmp}/w-{name}.sqlite",
                ]
            )
        figures: dict[str, list[dict[str, float]]] = {name: [] for name in modes}
        for rep in range(args.reps):
            for name, extra in modes.items():
                store = f"{tmp}/{name}-{rep}.sqlite"
                figures[name].append(timed([*grid, *extra, "--store", store]))
                f = figures[name][-1]
                print(
                    f"rep {rep + 1} {name:8s} total {f['total']:6.1f} s  startup "
                    f"{f['startup']:5.1f}  training {f['training']:6.1f}  end {f['end']:4.1f}",
                    flush=True,
                )

    runs = len(args.sizes.split(",")) * 2 * args.seeds
    print(f"\n{runs} runs, {args.epochs} epochs each, medians of {args.reps}:")
    print(f"{'mode':8s} {'total':>8s} {'startup':>8s} {'training':>9s} {'end':>6s} {'ratio':>6s}")
    serial = statistics.median(f["total"] for f in figures["serial"])
    for name, rows in figures.items():
        med = {k: statistics.median(f[k] for f in rows) for k in rows[0]}
        print(
            f"{name:8s} {med['total']:8.1f} {med['startup']:8.1f} {med['training']:9.1f} "
            f"{med['end']:6.1f} {med['total'] / serial:6.2f}"
        )


if __name__ == "__main__":
    main()
