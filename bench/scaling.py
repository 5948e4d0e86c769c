"""Benchmark: does a long grid stay as fast and as small at run 50 as at run 2?

Trains a 50-run grid in this process through the engine (one size, one arm, 50 seeds, so
every run does the same work) and prints the wall time and resident memory after each run,
then the median of runs 2-6 against runs 46-50. Run 1 is shown apart: it includes building
and tracing the model's graph once. A ratio near 1.0 means no retracing and no growth.

Then runs the reference grid (5 sizes x 2 arms x 3 seeds) with `embtui run` in a child
process and prints its peak resident memory.

    python bench/scaling.py [--runs 50] [--size 100] [--arm learned]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "imdb_reviews_5k.csv"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--arm", default="learned")
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=2500)
    args = ap.parse_args()

    from embtui.config import from_mapping
    from embtui.engine import runner
    from embtui.engine.events import RunFinished, RunStarted
    from embtui.store import Store

    config = from_mapping(
        {
            "name": "scaling",
            "dataset": args.dataset,
            "val_size": args.val_size,
            "sizes": [args.size],
            "embeddings": [args.arm],
            "seeds": args.runs,
        }
    )
    times: list[float] = []
    rss: list[float] = []
    started = [0.0]

    def sink(event: object) -> None:
        if isinstance(event, RunStarted):
            started[0] = time.perf_counter()
        elif isinstance(event, RunFinished):
            times.append(time.perf_counter() - started[0])
            rss.append(rss_mb())

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "scaling.sqlite")
        prepared = runner.prepare(config)
        exp_id = runner.create(store, prepared)
        runner.run(store, exp_id, prepared, sink=sink)

        for i, (t, m) in enumerate(zip(times, rss, strict=True), 1):
            print(f"run {i:3d}: {t:6.3f} s  rss {m:7.1f} MB")
        first = statistics.median(times[1:6])
        last = statistics.median(times[-5:])
        print(f"run 1 (builds and traces the graph): {times[0]:.3f} s")
        print(
            f"median runs 2-6: {first:.3f} s; median runs {len(times) - 4}-{len(times)}: "
            f"{last:.3f} s; ratio {last / first:.3f}  (target <= 1.15)"
        )
        mid = min(10, len(rss)) - 1  # the initial-weight cache and allocator fill by then
        print(
            f"rss after run {mid + 1}: {rss[mid]:.1f} MB; after run {len(rss)}: "
            f"{rss[-1]:.1f} MB; growth {rss[-1] - rss[mid]:+.1f} MB"
        )

        grid = [
            sys.executable,
            "-m",
            "embtui",
            "run",
            "--dataset",
            args.dataset,
            "--val-size",
            str(args.val_size),
            "--seeds",
            "3",
            "--plain",
            "--store",
            f"{tmp}/grid.sqlite",
        ]
        t0 = time.perf_counter()
        subprocess.run(grid, cwd=ROOT, check=True, capture_output=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(
            f"reference grid, 3 seeds (30 runs): {time.perf_counter() - t0:.1f} s, "
            f"peak RSS {peak:.0f} MB  (target <= 1536 MB)"
        )


if __name__ == "__main__":
    main()
