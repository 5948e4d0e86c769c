"""Benchmark: the fixed costs a user waits for before any training.

Prints the median of several tries for:
- `embtui --help` (a child process; target < 0.5 s);
- GloVe for a second run of the same experiment: the aligned matrix from the cache
  (target < 0.2 s);
- the first parse of a 400,000-line 100-d GloVe text file keeping a 10,000-word vocabulary
  (generated in a temporary folder; target < 6 s).

    python bench/startup.py [--tries 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def median_time(fn, tries: int) -> float:
    out = []
    for _ in range(tries):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def write_glove(path: Path, words: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    with path.open("w", encoding="utf-8") as f:
        block = 10_000
        for start in range(0, words, block):
            vecs = rng.standard_normal((block, dim)).astype(np.float32)
            lines = [
                f"w{start + i} " + " ".join(f"{v:.5f}" for v in row) + "\n"
                for i, row in enumerate(vecs)
            ]
            f.writelines(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tries", type=int, default=5)
    args = ap.parse_args()

    from embtui.engine.glove import glove_matrix

    help_t = median_time(
        lambda: subprocess.run(
            [sys.executable, "-m", "embtui", "--help"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        ),
        args.tries,
    )
    print(f"embtui --help: {help_t:.3f} s  (target < 0.5 s)")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "glove.400k.100d.txt"
        write_glove(path, 400_000, 100)
        vocab = {f"w{i * 40}": i + 4 for i in range(10_000 - 4)}
        parse_times = []
        for i in range(args.tries):
            cache = Path(tmp) / f"cache{i}"  # a new, empty cache each time: a real first parse
            t0 = time.perf_counter()
            g = glove_matrix(vocab, 10_000, str(path), cache_dir=str(cache))
            parse_times.append(time.perf_counter() - t0)
            assert not g.cached and g.found == len(vocab)
        print(
            f"first parse, 400,000 x 100-d, 10,000-word vocabulary: "
            f"{statistics.median(parse_times):.2f} s  (target < 6 s)"
        )
        hit = median_time(
            lambda: glove_matrix(vocab, 10_000, str(path), cache_dir=str(Path(tmp) / "cache0")),
            args.tries,
        )
        print(
            f"GloVe cache hit (second run of the same experiment): {hit * 1000:.0f} ms  "
            f"(target < 200 ms)"
        )


if __name__ == "__main__":
    main()
