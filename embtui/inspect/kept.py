"""What a finished run keeps of what it learned, in files beside the store.

`<store>.learned/run-<id>.npz` (compressed) holds a run's validation logits (small: one float
per validation review, kept for every run) and, when the experiment's `keep_weights` asks for
it, its final weights: the embedding table of a learned or tuned-GloVe run (a frozen-GloVe
table is the GloVe matrix, which the experiment can load again) and the Dense kernel and
bias that read it. SQLite holds none of it, so exports and the store stay light; deleting an
experiment deletes its runs' files.

A file is written whole under a temporary name of its own and then renamed
(`embtui.files.write_atomically`), so a reader never sees half of one and two runs that end
at once (threads, worker processes) never write over each other's temporary file. A file
that cannot be read (damaged, cut short) reads as nothing kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embtui.files import write_atomically
from embtui.store import learned_folder_of
from embtui.store import learned_run_path as learned_path
from embtui.store import learned_shape_path as shape_path


@dataclass(frozen=True)
class ShapeData:
    """What every run of one experiment and data shape shares: the vocabulary (`words[i]` is
    row i's word, "" for rows that are no word), the validation set as the runs saw it, and
    the GloVe matrix the GloVe arms started from (None without a GloVe arm)."""

    words: list[str]
    x_val: np.ndarray
    y_val: np.ndarray
    glove: np.ndarray | None


def save_shape(
    store: Path,
    experiment_id: int,
    maxlen: int,
    words: list[str],
    x_val: np.ndarray,
    y_val: np.ndarray,
    glove: np.ndarray | None,
) -> Path:
    """Write an experiment's shape file once (a later run of the same shape keeps it)."""
    path = shape_path(store, experiment_id, len(words), maxlen)
    if path.exists():
        return path
    arrays = {
        "words": np.array(words, dtype=str),
        "x_val": np.asarray(x_val, np.int32),
        "y_val": np.asarray(y_val, np.int8),
    }
    if glove is not None:
        arrays["glove"] = np.asarray(glove, np.float32)
    _write(path, arrays)
    return path


def load_shape(store: Path, experiment_id: int, vocab_size: int, maxlen: int) -> ShapeData | None:
    arrays = _read(shape_path(store, experiment_id, vocab_size, maxlen))
    if arrays is None or not {"words", "x_val", "y_val"} <= set(arrays):
        return None
    return ShapeData(
        [str(w) for w in arrays["words"].tolist()],
        arrays["x_val"],
        arrays["y_val"],
        arrays.get("glove"),
    )


def _write(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda out: np.savez_compressed(out, **arrays))  # type: ignore[arg-type]


def _read(path: Path, skip: frozenset[str] = frozenset()) -> dict[str, np.ndarray] | None:
    """The file's arrays (those not in `skip`: a table need not be decompressed to count
    errors), or None when it is missing or cannot be read: cut short, damaged (zlib, zip,
    npy header errors alike)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files if name not in skip}
    except Exception:
        return None


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
    _write(path, arrays)
    return path


def load(store: Path, run_id: int, *, table: bool = True) -> Kept | None:
    """A run's kept arrays (without its table when `table` is False), or None when it kept
    nothing or its file is unreadable."""
    arrays = _read(learned_path(store, run_id), frozenset() if table else frozenset({"table"}))
    if arrays is None or "logits" not in arrays:
        return None
    return Kept(
        run_id,
        arrays["logits"],
        arrays.get("table"),
        arrays.get("kernel"),
        arrays.get("bias"),
    )


def disk_usage(store: Path, run_ids: Iterable[int] | None = None) -> int:
    """Bytes of kept files: of the given runs, or of the whole store."""
    folder = learned_folder_of(store)
    if run_ids is None:
        try:
            return sum(p.stat().st_size for p in folder.glob("*.npz"))
        except OSError:
            return 0
    total = 0
    for run_id in run_ids:
        with contextlib.suppress(OSError):
            total += learned_path(store, run_id).stat().st_size
    return total
