"""Benchmark: what the console costs, measured in a real terminal (tmux).

1. First paint: from launching `embtui` in a tmux pane until the pane shows anything
   (Textual draws nothing before its first frame). Target < 1.5 s: the console must paint
   before TensorFlow is imported.
2. The reference grid (the same 5 sizes x 2 arms x 1 seed as bench/grid.py) started with
   ctrl+s in the console, from launch until the store says the experiment is done, against
   `embtui run` on the same file, whole process. Target: console / headless <= 1.10.
   A/B alternate over `--reps` repetitions; medians are printed.

    python bench/console.py [--reps 3] [--dataset PATH] [--val-size 2500]
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "imdb_reviews_5k.csv"
EMBTUI = [sys.executable, "-m", "embtui"]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True).stdout


def launch(session: str, command: list[str], width: int = 100, height: int = 30) -> float:
    """Start `command` in a new tmux pane; returns the launch time (perf_counter)."""
    tmux("kill-session", "-t", session)
    t0 = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            str(width),
            "-y",
            str(height),
            "-c",
            str(ROOT),
            shlex.join(command),
        ],
        check=True,
    )
    return t0


def wait_for_paint(session: str, text: str = "", timeout: float = 30) -> float:
    """Poll the pane until it shows anything (or `text`); returns when it did."""
    end = time.perf_counter() + timeout
    while time.perf_counter() < end:
        pane = tmux("capture-pane", "-p", "-t", session)
        if pane.strip() and text in pane:
            return time.perf_counter()
        time.sleep(0.01)
    raise SystemExit(f"{session}: {text or 'nothing'!r} not painted within {timeout} s")


def experiment_status(store: Path) -> str | None:
    if not store.exists():
        return None
    try:
        with sqlite3.connect(store, timeout=5) as db:
            row = db.execute("SELECT status FROM experiments ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def console_grid(toml: Path, store: Path, timeout: float = 600) -> float:
    session = "embtui-bench"
    t0 = launch(session, [*EMBTUI, str(toml), "--store", str(store)])
    wait_for_paint(session, "ctrl+s starts")  # the configure form, filled from the file
    tmux("send-keys", "-t", session, "C-s")
    end = time.perf_counter() + timeout
    while experiment_status(store) not in ("done", "failed", "cancelled"):
        if time.perf_counter() > end:
            raise SystemExit("the console's experiment did not finish in time")
        time.sleep(0.05)
    elapsed = time.perf_counter() - t0
    tmux("send-keys", "-t", session, "q")
    time.sleep(0.5)
    tmux("kill-session", "-t", session)
    if experiment_status(store) != "done":
        raise SystemExit(f"console experiment ended {experiment_status(store)}")
    return elapsed


def headless_grid(toml: Path, store: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        [*EMBTUI, "run", str(toml), "--plain", "--store", str(store)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dataset", default=str(DEFAULT_DATA))
    ap.add_argument("--val-size", type=int, default=2500)
    args = ap.parse_args()
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed for this benchmark (apt-get install tmux)")

    with tempfile.TemporaryDirectory() as tmp:
        paints = []
        for i in range(5):
            session = "embtui-paint"
            t0 = launch(session, [*EMBTUI, "--store", f"{tmp}/paint{i}.sqlite"])
            paints.append(wait_for_paint(session) - t0)
            tmux("kill-session", "-t", session)
        print(
            f"first paint: median {statistics.median(paints):.2f} s of "
            f"{', '.join(f'{p:.2f}' for p in paints)}  (target < 1.5 s)",
            flush=True,
        )

        toml = Path(tmp) / "grid.toml"
        toml.write_text(
            f'name = "bench-grid"\ndataset = "{args.dataset}"\nval_size = {args.val_size}\n'
            'sizes = [10, 50, 100, 200, 500]\nembeddings = ["learned", "glove"]\n'
            'seeds = 1\nsubset = "first"\n',
            encoding="utf-8",
        )
        headless_grid(toml, Path(tmp) / "warm.sqlite")  # warm the GloVe cache and file cache
        times: dict[str, list[float]] = {"headless": [], "console": []}
        for rep in range(1, args.reps + 1):
            t = headless_grid(toml, Path(tmp) / f"h{rep}.sqlite")
            times["headless"].append(t)
            print(f"rep {rep} headless {t:6.2f} s", flush=True)
            t = console_grid(toml, Path(tmp) / f"c{rep}.sqlite")
            times["console"].append(t)
            print(f"rep {rep} console  {t:6.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"median headless {med['headless']:.2f} s, console {med['console']:.2f} s, "
        f"ratio console / headless {med['console'] / med['headless']:.3f}  (target <= 1.10)"
    )


if __name__ == "__main__":
    main()
