"""Builders and probes shared by the test modules that drive the real CLI in subprocesses.

Test modules import from here (never from each other or from conftest.py).
"""

from __future__ import annotations

import csv
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

from embtui.store import Store


def write_reviews(path: Path, n: int = 600) -> Path:
    """Reviews over a small vocabulary in which some words lean positive, some negative."""
    rng = random.Random(7)
    words = [f"word{i}" for i in range(300)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["review", "sentiment"])
        for i in range(n):
            label = i % 2
            lean = words[:150] if label else words[150:]
            text = " ".join(rng.choice(lean if rng.random() < 0.6 else words) for _ in range(90))
            out.writerow([text, "positive" if label else "negative"])
    return path


def embtui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embtui", *args], capture_output=True, text=True, **kw
    )


def histories(store_path: Path) -> dict[tuple[int, int], list[float]]:
    with Store(store_path, create=False) as store:
        exp_id = store.resolve("latest")
        epochs = store.epochs(exp_id)
        return {
            (r.size, r.seed): [e.val_acc for e in epochs.get(r.id, [])] for r in store.runs(exp_id)
        }


def epoch_count(store_path: Path) -> int:
    """Epochs committed so far, read the way a second viewer would (its own connection)."""
    try:
        db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return db.execute("SELECT count(*) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0
    finally:
        db.close()
