"""What a finished run keeps of what it learned, in files beside the store.

`<store>.learned/run-<id>.npz` (compressed) holds a run's validation logits (small: one float
per validation review, kept for every run) and, when the experiment's `keep_weights` asks for
it, its final weights: the embedding table of a learned or tuned-GloVe run (a frozen-GloVe
table is the GloVe matrix, which the experiment can load again) and the Dense kernel and
bias that read it. SQLite holds none of it, so exports and the store stay light; deleting an
experiment deletes its runs' files.

A file is written whole under a temporary name and then renamed, so a reader never sees half
of one.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The `keep_weights` choices: every run's table, one seed per (arm, size) cell (the
#: experiment's first seed), or none (logits only).
KEEP_CHOICES = ("cell", "all", "none")


def learned_folder_of(store: Path) -> Path:
    """`<store>.learned/`: where the store's runs keep their weights and logits."""
    return store.with_name(store.name + ".learned")


def learned_path(store: Path, run_id: int) -> Path:
    return learned_folder_of(store) / f"run-{run_id}.npz"


def keeps_table(keep: str, arm: str, seed: int, first_seed: int) -> bool:
    """Whether a run of this arm and seed stores its embedding table under `keep`."""
    if arm == "glove" or keep == "none":
        return False
    return keep == "all" or seed == first_seed


@dataclass(frozen=True)
class Kept:
    """A run's kept arrays: `logits` always; `table` (vocab x dim) when kept, else None;
    `kernel` and `bias` of the Dense layer when the weights were kept."""

    run_id: int
    logits: np.ndarray
    table: np.ndarray | None
    kernel: np.ndarray | None
    bias: np.ndarray | None


def save(
    store: Path,
    run_id: int,
    logits: np.ndarray,
    weights: list[np.ndarray] | None,
    keep_table: bool,
) -> Path:
    """Write a run's file; `weights` is the model's list (embedding, ..., kernel, bias)."""
    arrays: dict[str, np.ndarray] = {"logits": np.asarray(logits, np.float32).reshape(-1)}
    if weights is not None:
        arrays["kernel"] = np.asarray(weights[-2], np.float32)
        arrays["bias"] = np.asarray(weights[-1], np.float32)
        if keep_table:
            arrays["table"] = np.asarray(weights[0], np.float32)
    path = learned_path(store, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    os.replace(partial, path)
    return path


def load(store: Path, run_id: int) -> Kept | None:
    """A run's kept arrays, or None when it kept nothing (or its file is unreadable)."""
    path = learned_path(store, run_id)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile, KeyError):
        return None
    if "logits" not in arrays:
        return None
    return Kept(
        run_id,
        arrays["logits"],
        arrays.get("table"),
        arrays.get("kernel"),
        arrays.get("bias"),
    )


def remove(store: Path, run_ids: Iterable[int]) -> None:
    for run_id in run_ids:
        learned_path(store, run_id).unlink(missing_ok=True)


def disk_usage(store: Path, run_ids: Iterable[int] | None = None) -> int:
    """Bytes of kept files: of the given runs, or of the whole store."""
    folder = learned_folder_of(store)
    if run_ids is None:
        try:
            return sum(p.stat().st_size for p in folder.glob("run-*.npz"))
        except OSError:
            return 0
    total = 0
    for run_id in run_ids:
        with contextlib.suppress(OSError):
            total += learned_path(store, run_id).stat().st_size
    return total
