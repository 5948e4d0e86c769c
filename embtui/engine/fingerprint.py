"""What an experiment's results were computed from, in a few short hashes.

A run's result depends only on its data, its factor values, its size and its seed. The
store records these hashes with each experiment, so that a resume refuses data that is not
what the experiment started with (a file replaced, a folder moved under the same name, a
CSV edited), and so that two experiments can be compared only when they were validated on
the same reviews. The hashes are of the prepared arrays (what training really sees), not
of the files, so touching a file or re-saving it unchanged changes nothing; the file's
size and modification time are recorded beside them to say what changed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

#: (key, what it is in a message) for each hashed input, in the order messages name them.
PARTS = (
    ("train", "the training reviews"),
    ("val", "the validation reviews"),
    ("glove", "the GloVe vectors"),
)


def digest(*arrays: np.ndarray) -> str:
    """A hash of the arrays' shapes, dtypes and bytes (32 hex digits)."""
    h = hashlib.sha256()
    for array in arrays:
        a = np.ascontiguousarray(array)
        h.update(f"{a.dtype.str}{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()[:32]


def fingerprint(
    config: Any, datasets: Mapping[Any, Any], gloves: Mapping[Any, Any]
) -> dict[str, Any]:
    """The hashes of a prepared experiment's inputs: over every shape a sweep prepared
    (`train`, `val`, `glove`: what a resume checks), and per shape (`shapes`, keyed
    `VOCABxMAXLEN`, and `gloves`, keyed by vocab_size: what tells whether two runs of
    different experiments saw the same data, see `embtui.report.duplicates`); the identity
    of its validation reviews (the same whatever vocab_size or maxlen: what comparisons
    across experiments check); and its data file's size and mtime. For an experiment of one
    shape, a shape's hashes equal the whole ones."""
    shapes = list(datasets.values())
    out: dict[str, Any] = {
        "train": digest(*(a for d in shapes for a in (d.x_train, d.y_train))),
        "val": digest(*(a for d in shapes for a in (d.x_val, d.y_val))),
        "val_reviews": shapes[0].val_reviews,
        "shapes": {
            shape_key(*key): {
                "train": digest(d.x_train, d.y_train),
                "val": digest(d.x_val, d.y_val),
            }
            for key, d in datasets.items()
        },
    }
    if gloves:
        out["glove"] = digest(*(g.matrix for g in gloves.values()))
        out["gloves"] = {str(vocab): digest(g.matrix) for vocab, g in gloves.items()}
    stat = file_stat(config.dataset)
    if stat is not None:
        out["file"] = stat
    return out


def shape_key(vocab_size: int, maxlen: int) -> str:
    """How `fingerprint()["shapes"]` names a prepared shape: `10000x150`."""
    return f"{int(vocab_size)}x{int(maxlen)}"


def file_stat(dataset: str) -> dict[str, Any] | None:
    """Path, size and modification time of a dataset file or folder (None for keras-imdb)."""
    if dataset == "keras-imdb":
        return None
    path = Path(os.path.expanduser(dataset))
    try:
        st = path.stat()
    except OSError:
        return None
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def changed_inputs(recorded: dict[str, Any], current: dict[str, Any]) -> str | None:
    """What differs between two fingerprints, in words ("the validation reviews changed"),
    or None when every input recorded in both is the same."""
    differ = [
        words
        for key, words in PARTS
        if key in recorded and key in current and recorded[key] != current[key]
    ]
    if not differ:
        return None
    text = (", ".join(differ[:-1]) + " and " if len(differ) > 1 else "") + differ[-1] + " changed"
    before, after = recorded.get("file"), current.get("file")
    if (
        before
        and after
        and (before["size"], before["mtime_ns"])
        != (
            after["size"],
            after["mtime_ns"],
        )
    ):
        text += " (the file's size or modification time differs)"
    return text
