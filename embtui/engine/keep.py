"""What a finished run keeps of what it learned (see `embtui.inspect.kept` for the files).

When a run ends `done`, its trainer (either engine) gives its validation logits and final
weights; `learned` packs them with what `keep_weights` says to keep, and the run's ledger
writes them beside the store (or, for a run trained on a Ray worker, sends them to the
process that owns the store). The first run of each (experiment, data shape) also writes the
shape's file: its vocabulary, validation set and GloVe start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embtui.config import ArmConfig
from embtui.engine.data import Dataset, vocabulary_words
from embtui.inspect.kept import keeps_table, save, save_shape


@dataclass(frozen=True)
class Learned:
    """One run's arrays to keep: `weights` None when the experiment keeps none."""

    logits: np.ndarray
    weights: list[np.ndarray] | None
    keep_table: bool


@dataclass(frozen=True)
class ShapeFiles:
    """An experiment shape's shared arrays (`embtui.inspect.kept.ShapeData`'s contents)."""

    vocab_size: int
    maxlen: int
    words: list[str]
    x_val: np.ndarray
    y_val: np.ndarray
    glove: np.ndarray | None


def learned(
    trainer: Any, arm_cfg: ArmConfig, x_val: np.ndarray, seed: int, keep: str, first_seed: int
) -> Learned:
    logits = np.asarray(trainer.val_logits(x_val), np.float32)
    if keep == "none":
        return Learned(logits, None, False)
    return Learned(
        logits,
        [np.asarray(w) for w in trainer.weights()],
        keeps_table(keep, arm_cfg.embedding, seed, first_seed),
    )


def shape_files(arm_cfg: ArmConfig, data: Dataset, glove: np.ndarray | None) -> ShapeFiles:
    words = vocabulary_words(data.word_index, arm_cfg.vocab_size)
    return ShapeFiles(arm_cfg.vocab_size, arm_cfg.maxlen, words, data.x_val, data.y_val, glove)


def write(
    store: Path, experiment_id: int, run_id: int, kept: Learned, shape: ShapeFiles | None
) -> None:
    """Write a run's file, then its shape's file when given and not written yet (two runs
    writing the same shape at once both write it whole; the last rename wins)."""
    save(store, run_id, kept.logits, kept.weights, kept.keep_table)
    if shape is not None:
        save_shape(
            store, experiment_id, shape.maxlen, shape.words, shape.x_val, shape.y_val, shape.glove
        )
