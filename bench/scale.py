"""Benchmark: embtui on a store of 10,000 runs (issue 23, item 12).

Builds a synthetic store: one experiment of 10,000 runs (5 sizes x 2 arms x 10 learning
rates x 100 seeds, 10 epochs each: 100,000 epochs) and 39 small ones (the other 40 rows of
`embtui list`), recorded through the store's API (`create_experiment`) with the epochs and
statuses added by `executemany`, so it takes seconds. Then, each in a fresh process and
`--reps` times (medians printed):

- `embtui list`: wall time. Target < 0.5 s.
- `embtui list ID` of the big experiment (10,000 lines): wall time, for information.
- `embtui export ID --format md` and `--format json` of the big experiment to a file: wall
  time and peak RSS (the child's `ru_maxrss`, read with resource.getrusage(RUSAGE_CHILDREN)
  in a small wrapper process, so the figure is the export's own). Targets < 3 s, < 200 MB.
  The Markdown is timed as text (`--figures none`, as the JSON) and again with its figures
  (matplotlib draws the six best arms' curves), which the targets predate.
- The console's first paint (as bench/console.py times it, in a tmux pane): from launch
  until the pane shows the big experiment's name (the experiment list, the first frame).
  Target < 1.5 s. Then until its runs are shown (the runs table, grouped by arm), for
  information. Skipped without tmux.

    python bench/scale.py [--reps 5] [--keep DIR] [--tree CHECKOUT]

`--tree` times the embtui of another checkout (say, `git archive OLD_COMMIT embtui | tar -x
-C /tmp/old`) on the same store, for a before/after on the same machine.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.console import launch, tmux, wait_for_paint  # noqa: E402
from embtui.config import ExperimentConfig  # noqa: E402
from embtui.store import Store  # noqa: E402

EMBTUI = [sys.executable, "-m", "embtui"]


def embtui_of(tree: Path) -> list[str]:
    """The command that runs the embtui in `tree`, whatever the current folder holds."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from embtui.cli import entry; entry()"
    return [sys.executable, "-c", code]


BIG_NAME = "scale-10k"
EPOCHS = 10

#: Runs a command and prints its wall time, its CPU time (user + system: what it would take
#: on an idle machine, where wall time also counts waiting for a busy CPU) and its peak RSS
#: in MB (Linux reports KiB).
WRAPPER = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
wall = time.perf_counter() - t0
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
"""


def build(path: Path) -> int:
    """The synthetic store; returns the big experiment's id."""
    rng = random.Random(23)
    lrs = tuple(round(0.0005 * (k + 1), 4) for k in range(10))
    big = ExperimentConfig(
        name=BIG_NAME,
        sizes=(10, 50, 100, 200, 500),
        embeddings=("learned", "glove"),
        learning_rate=lrs,
        seeds=100,
        epochs=(EPOCHS,),
    )
    assert big.grid_size == 10_000
    small = ExperimentConfig(name="small", sizes=(10, 50), seeds=2, epochs=(EPOCHS,))
    with Store(path) as store:
        ids = []
        for k in range(40):
            config = big if k == 39 else small.replace(name=f"small-{k}")
            ids.append(
                store.create_experiment(
                    config.name,
                    config.to_dict(),
                    config.run_cells(),
                    meta={"chance": 0.5},
                )
            )
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("BEGIN")
    runs = db.execute("SELECT id, size FROM runs").fetchall()
    epochs = []
    for run_id, size in runs:
        base = 0.5 + 0.3 * min(size, 500) / 500
        for n in range(1, EPOCHS + 1):
            acc = min(0.99, base + 0.01 * n + rng.gauss(0, 0.02))
            epochs.append((run_id, n, 0.7 - 0.02 * n, acc, 0.69 - 0.01 * n, acc - 0.02, 0.05))
    db.executemany("INSERT INTO epochs VALUES (?, ?, ?, ?, ?, ?, ?)", epochs)
    db.execute(
        "UPDATE runs SET status = 'done', device = 'CPU', params = 100000, "
        "started = '2026-01-01T00:00:00+00:00', finished = '2026-01-01T00:01:00+00:00'"
    )
    db.execute(
        "UPDATE experiments SET status = 'done', finished = '2026-01-01T01:00:00+00:00', "
        "owner = NULL"
    )
    db.execute("COMMIT")
    db.close()
    return ids[-1]


def measured(command: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MB) of `command` in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", WRAPPER, *command], capture_output=True, text=True, check=True
    ).stdout.split()
    if out[0] != "0":
        raise SystemExit(f"{' '.join(command)} exited {out[0]}")
    return float(out[1]), float(out[2]), float(out[3])


def first_paint(store: Path) -> tuple[float, float]:
    """Seconds from launch until the pane shows the big experiment's name (the first frame:
    the experiment list), and until its runs are shown (grouped by arm)."""
    session = "embtui-scale"
    t0 = launch(session, [*EMBTUI, "--store", str(store)], width=120, height=40)
    try:
        painted = wait_for_paint(session, BIG_NAME, timeout=60) - t0
        try:
            return painted, wait_for_paint(session, "grouped by arm", timeout=20) - t0
        except SystemExit:  # an embtui that shows every run instead (an older tree)
            return painted, float("nan")
    finally:
        tmux("kill-session", "-t", session)


def report(label: str, values: list[float], unit: str, target: str) -> None:
    shown = ", ".join(f"{v:.2f}" for v in values)
    print(f"{label:<28} median {statistics.median(values):7.2f} {unit}  ({shown})  {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--keep", metavar="DIR", help="build (or reuse) the store in DIR")
    ap.add_argument("--tree", metavar="CHECKOUT", type=Path, default=ROOT, help="embtui to time")
    args = ap.parse_args()
    global EMBTUI
    EMBTUI = embtui_of(args.tree.resolve())
    print(f"timing the embtui in {args.tree}")
    folder = Path(args.keep or tempfile.mkdtemp(prefix="embtui-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    store = folder / "scale.sqlite"
    if not store.exists():
        t0 = time.perf_counter()
        big = build(store)
        print(f"built {store} in {time.perf_counter() - t0:.1f} s", flush=True)
    else:
        with Store(store, create=False) as opened:
            big = max(e.id for e in opened.experiments() if e.name == BIG_NAME)
    with Store(store, create=False) as opened:
        runs = len(opened.runs(big))
    size_mb = store.stat().st_size / 1e6
    print(f"store: 40 experiments, {runs:,} runs in experiment {big}, {size_mb:.0f} MB")
    base = ["--store", str(store)]
    figures: dict[str, list[tuple[float, float, float]]] = {
        "list": [],
        "list ID": [],
        "export md": [],
        "export md figures": [],
        "export json": [],
    }
    for _ in range(args.reps):
        figures["list"].append(measured([*EMBTUI, "list", *base]))
        with contextlib.suppress(SystemExit):  # an embtui from before `list ID`
            figures["list ID"].append(measured([*EMBTUI, "list", str(big), *base]))
        for key, fmt, extra in (
            ("export md", "md", ["--figures", "none"]),  # the text, as the JSON
            ("export md figures", "md", []),  # with its figures (matplotlib) beside it
            ("export json", "json", []),
        ):
            out = folder / f"export.{fmt}"
            command = [*EMBTUI, "export", str(big), "--format", fmt, "-o", str(out), *base]
            with contextlib.suppress(SystemExit):  # an embtui from before --figures
                figures[key].append(measured([*command, *extra]))
    json.loads((folder / "export.json").read_text())  # the export is whole
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, key, target in (
        ("embtui list", "list", "(target < 0.5 s)"),
        (f"embtui list {big}", "list ID", ""),
        ("export --format md", "export md", "(target < 3 s)"),
        ("export md + figures", "export md figures", "(the text's target < 3 s)"),
        ("export --format json", "export json", "(target < 3 s)"),
    ):
        rows = figures[key]
        if not rows:
            print(f"{label:<28} not available in this tree")
            continue
        report(label, [w for w, _, _ in rows], "s ", target)
        report(f"{label} CPU", [c for _, c, _ in rows], "s ", "")
        if key.startswith("export"):
            report(f"{label} peak", [m for _, _, m in rows], "MB", "(target < 200 MB)")
    if shutil.which("tmux"):
        paints = [first_paint(store) for _ in range(args.reps)]
        report("console first paint", [p for p, _ in paints], "s ", "(target < 1.5 s)")
        report("console runs shown", [r for _, r in paints], "s ", "")
    else:
        print("console first paint: skipped (tmux is needed)")
    if not args.keep:
        shutil.rmtree(folder)


if __name__ == "__main__":
    main()
