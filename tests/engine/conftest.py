"""Builders of tiny datasets and GloVe files for the engine tests.

Every builder writes into the test's tmp_path, so the tests need no network, no TensorFlow
and no shared data; the one test that reads the real 5k-review CSV skips when it is absent.
"""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import REAL_CSV, glove_lines, ragged

# Distinct, exactly representable 4-d vectors, so float32 round trips compare with ==.
GLOVE = {
    "the": [0.5, 0.25, -1.0, 2.0],
    "a": [1.5, -0.5, 0.125, 3.0],
    "movie": [-2.0, 1.0, 0.75, -0.25],
    "bad": [0.0, -3.5, 1.25, 0.5],
    "good": [4.0, 0.5, -0.75, 1.0],
    "great": [-1.5, 2.25, 0.0, -4.0],
    "film": [2.5, -1.25, 3.5, 0.25],
}


@pytest.fixture
def glove_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a GloVe text file (optionally gzipped) holding `vectors` (default GLOVE)."""

    def write(
        vectors: dict[str, Sequence[float]] | None = None,
        name: str = "glove.test.4d.txt",
        text: str | None = None,
    ) -> Path:
        body = glove_lines(GLOVE if vectors is None else vectors) if text is None else text
        path = tmp_path / name
        if name.endswith(".gz"):
            with gzip.open(path, "wt", encoding="utf-8") as handle:
                handle.write(body)
        else:
            path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def csv_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a CSV/TSV with a header and one row per (text, label) pair."""

    def write(
        rows: Sequence[tuple[str, object]],
        name: str = "reviews.csv",
        header: tuple[str, str] = ("text", "label"),
    ) -> Path:
        path = tmp_path / name
        delimiter = "\t" if name.endswith(".tsv") else ","
        with open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=delimiter)
            writer.writerow(["id", *header])
            for number, (text, label) in enumerate(rows):
                writer.writerow([number, text, label])
        return path

    return write


@pytest.fixture
def acl_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write an aclImdb-style folder: {split}/{pos,neg}/N_R.txt, one review per file."""

    def write(splits: dict[str, dict[str, Sequence[str]]]) -> Path:
        root = tmp_path / "aclImdb"
        for split, by_label in splits.items():
            for label, texts in by_label.items():
                folder = root / split / label
                folder.mkdir(parents=True)
                for number, text in enumerate(texts):
                    (folder / f"{number}_7.txt").write_text(text, encoding="utf-8")
        return root

    return write


@pytest.fixture
def keras_npz(tmp_path: Path) -> Callable[..., Path]:
    """Write a Keras-format imdb.npz (raw ranks) and, unless told not to, the word index."""

    def write(
        x_train: Sequence[Sequence[int]],
        y_train: Sequence[int],
        x_test: Sequence[Sequence[int]],
        y_test: Sequence[int],
        ranks: dict[str, int] | None = None,
        folder: str = "kerasdata",
    ) -> Path:
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        path = root / "imdb.npz"
        np.savez(
            path,
            x_train=ragged(x_train),
            y_train=np.asarray(y_train, dtype=np.int64),
            x_test=ragged(x_test),
            y_test=np.asarray(y_test, dtype=np.int64),
        )
        if ranks is not None:
            (root / "imdb_word_index.json").write_text(json.dumps(ranks), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def real_dataset():
    """The shared 5k-review CSV loaded once for the whole session (skipped when absent)."""
    if not REAL_CSV.is_file():
        pytest.skip(f"shared data {REAL_CSV} is absent (it lives in ../shared/data)")
    from embtui.engine.data import load_dataset

    return load_dataset(str(REAL_CSV), vocab_size=10_000, maxlen=200, val_size=1000)
