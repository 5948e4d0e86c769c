"""Initial weights kept on disk, so that a grid the fused kernel trains need not import
TensorFlow.

A run starts from the weights Keras' seeded initializers give a fresh model
(`embtui.engine.models.initial_weights`): drawing them builds a Keras model, which imports
TensorFlow (3.5 s here) even where the fused kernel trains. They depend only on the seed,
the arm, the head and the shapes, and on the Keras and TensorFlow versions that draw them,
so they are kept in embtui's cache folder under exactly that key (`initial-*.npz`): a second
grid over the same seeds and shapes reads them and never imports TensorFlow. A GloVe arm's
embedding is the GloVe matrix itself (set over the drawn one), so only its Dense weights
are kept and the matrix is put back when they are read. A missing or unreadable entry is
drawn again; an entry that cannot be written is skipped (`embtui.engine.cache`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from embtui.config import ArmConfig
from embtui.engine import cache
from embtui.engine.models import embedding_dim, initial_weights
from embtui.engine.tfsetup import configure_tensorflow
from embtui.versions import framework_versions


def entry(config: ArmConfig, arm: str, seed: int, glove: np.ndarray | None) -> Path:
    """The cache file for this run's initial weights (see the module docstring)."""
    key = {
        "seed": int(seed),
        "arm": arm,
        "head": config.head,
        "vocab_size": config.vocab_size,
        "maxlen": config.maxlen,
        "dim": embedding_dim(config, arm, glove),
        "versions": framework_versions(),
    }
    return cache.entry_path("initial", None, key)


def cached_initial_weights(
    config: ArmConfig, arm: str, seed: int, glove: np.ndarray | None
) -> list[np.ndarray]:
    """`initial_weights`, read from embtui's cache folder when drawn before, else drawn
    (importing TensorFlow) and kept there."""
    path = entry(config, arm, seed, glove)
    hit = cache.read(path)
    if hit is not None and all(f"w{i}" in hit for i in range(len(hit))):
        weights = [hit[f"w{i}"] for i in range(len(hit))]
        if glove is not None and arm != "learned":
            weights[0] = glove.astype(np.float32)
        return weights
    # TensorFlow set up as for training (one thread per op, ...), before its runtime starts
    # here: a TensorFlow run later in this process could not set it up any more.
    configure_tensorflow()
    weights = initial_weights(config, arm, seed, glove)
    kept = list(weights)
    if glove is not None and arm != "learned":
        kept[0] = np.zeros((0, 0), np.float32)  # the GloVe matrix: put back when read
    cache.write(path, **{f"w{i}": np.asarray(w) for i, w in enumerate(kept)})
    return weights


def is_cached(config: ArmConfig, arm: str, seed: int, glove: np.ndarray | None) -> bool:
    """Whether this run's initial weights are in the cache folder already."""
    return entry(config, arm, seed, glove).is_file()


def tensorflow_note(config: ArmConfig, arm: str, seed: int, glove: np.ndarray | None) -> str:
    """What a run says before it draws initial weights that are not cached ("" when they
    are, or TensorFlow is imported already: then drawing takes a fraction of a second)."""
    if "tensorflow" in sys.modules or is_cached(config, arm, seed, glove):
        return ""
    return f"importing TensorFlow for initial weights of seed {seed}"
