"""Dataset sources for the IMDB sentiment experiments, as padded integer sequences.

Every source (the Keras download, a Keras-format ``imdb.npz``, a CSV/TSV file, gzipped or not,
an ``aclImdb`` folder) is turned into the same thing: int32 sequences that follow the index
convention of ``keras.datasets.imdb.load_data`` with its defaults, so that a GloVe matrix built
from ``Dataset.word_index`` lines up row for row with what the Embedding layer looks up,
whichever source the data came from:

* 0 is padding, 1 the start token prepended to every review, 2 out-of-vocabulary;
* a word of frequency rank r (1 = most frequent) has index r + 3, so the most frequent word is
  4 and index 3 is never used (as in Keras);
* any index >= vocab_size becomes 2;
* sequences are padded and truncated at the front ('pre'), like ``pad_sequences``' defaults.

TensorFlow is imported only for the "keras-imdb" source: it takes seconds to import, and the
TUI and the tests of the other sources must not pay for it.

Every file a user names is read only if it is a regular file (``embtui.files.regular_file``: a
FIFO would block, ``/dev/zero`` never ends), and nothing a file declares or expands to may
exceed the limits below; a damaged compressed file, like any other bad input, is one
`DataError` line naming the file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import os
import pickle
import re
import string
import zipfile
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from embtui.config import DATASET_FORMS
from embtui.engine import cache
from embtui.errors import DataError
from embtui.files import regular_file

PAD = 0
START = 1
OOV = 2
INDEX_FROM = 3

# Seed of keras.datasets.imdb.load_data's shuffle, replicated for .npz files so that the same
# file gives the same train/validation reviews as the "keras-imdb" source.
KERAS_IMDB_SEED = 113
# Seed of the row shuffle of CSV/TSV files and aclImdb folders.
TEXT_SPLIT_SEED = 0

ALLOWED_FORMS = DATASET_FORMS

# What a dataset may make embtui read. Real files are far below each: IMDB's word index is
# 1.6 MB, its longest review 14 KB, its imdb.npz expands to about 60 MB and a CSV of all
# 50,000 reviews is 66 MB.
#: The largest word index JSON read (a bigger one is not a word index).
WORD_INDEX_MAX_BYTES = 100 * 1024 * 1024
#: The largest single review file of an aclImdb folder.
REVIEW_MAX_BYTES = 10 * 1024 * 1024
#: The most that all members of an .npz together may declare as their uncompressed size,
#: checked before any is read: a 3 MB zip can expand to gigabytes.
NPZ_MAX_BYTES = 2 * 1024**3
#: The most a gzipped CSV/TSV may expand to while it is read.
GZIP_MAX_BYTES = 2 * 1024**3
# What the gzip and zlib modules raise on a damaged stream: a bad deflate block, a stream
# that ends early, a wrong CRC or a file that is not gzip (BadGzipFile is an OSError).
GZIP_ERRORS = (zlib.error, EOFError, gzip.BadGzipFile)
# The compression methods Python's zipfile reads (numpy writes the first two).
_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)

_BREAK = re.compile(r"<br\s*/?\s*>", re.IGNORECASE)
# The characters that Keras TextVectorization's default standardize removes
# (r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']'): exactly string.punctuation. str.translate
# deletes them faster than the regex does.
_PUNCTUATION = str.maketrans("", "", string.punctuation)

_LABELS = {"0": 0, "1": 1, "negative": 0, "positive": 1, "neg": 0, "pos": 1}
_TEXT_COLUMNS = ("text", "review")
_LABEL_COLUMNS = ("label", "sentiment")


@dataclass(frozen=True)
class Dataset:
    """Padded train/validation sequences plus the vocabulary their indices refer to."""

    x_train: np.ndarray  # int32 (n_train, maxlen)
    y_train: np.ndarray  # int32 0/1 (n_train,)
    x_val: np.ndarray  # int32 (n_val, maxlen)
    y_val: np.ndarray  # int32 0/1 (n_val,)
    word_index: dict[str, int]  # word -> index used in the sequences, only indices < vocab_size
    vocab_size: int
    source: str  # short human description of where the reviews came from
    # Which reviews and labels the validation set holds, as a hash that neither vocab_size
    # nor maxlen changes: experiments are comparable only on the same validation reviews.
    val_reviews: str = ""


def reviews_digest(*parts: Any) -> str:
    """A hash of texts, label arrays or ragged rank lists (32 hex digits)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray) and part.dtype != object:
            a = np.ascontiguousarray(part)
            h.update(f"{a.dtype.str}{a.shape};".encode())
            h.update(a.tobytes())
        else:
            for item in part:
                text = item if isinstance(item, str) else " ".join(map(str, item))
                h.update(text.encode("utf-8", "surrogatepass"))
                h.update(b"\x00")
        h.update(b"\x01")
    return h.hexdigest()[:32]


def load_dataset(
    dataset: str,
    *,
    vocab_size: int,
    maxlen: int,
    val_size: int,
    word_index_path: str | None = None,
) -> Dataset:
    """Load `dataset` ("keras-imdb", a .npz, .csv, .tsv (.gz) path or an aclImdb folder).

    One entry point for all sources so that the runner and the CLI never care where the
    reviews came from; every source yields the same index convention (see the module doc).
    """
    _check_sizes(vocab_size=vocab_size, maxlen=maxlen, val_size=val_size)
    if dataset == "keras-imdb":
        return _load_keras_imdb(vocab_size, maxlen, val_size)
    path = Path(os.path.expanduser(dataset))
    is_npz = path.suffix.lower() == ".npz"
    if (is_npz or table_kind(path)) and not path.exists():
        raise DataError(f"dataset {dataset}: no such file; use {ALLOWED_FORMS}")
    # A path that exists but is not a regular file (a FIFO, a device, a folder named
    # x.csv) is refused by the reader, before it is opened.
    if is_npz:
        return _load_npz(dataset, path, vocab_size, maxlen, val_size, word_index_path)
    if table_kind(path):
        return _load_csv(dataset, path, vocab_size, maxlen, val_size)
    if path.is_dir():
        return _load_aclimdb(dataset, path, vocab_size, maxlen, val_size)
    if path.exists():
        raise DataError(f"dataset {dataset}: unknown file type; use {ALLOWED_FORMS}")
    raise DataError(f"dataset {dataset!r}: no such file or folder; use {ALLOWED_FORMS}")


#: Bump when the tokenizer, split or index convention changes, to retire old cache entries.
_CACHE_VERSION = 2


def load_dataset_cached(
    dataset: str,
    *,
    vocab_size: int,
    maxlen: int,
    val_size: int,
    word_index_path: str | None = None,
    cache_dir: str | None = None,
) -> Dataset:
    """`load_dataset`, with text sources (CSV/TSV, aclImdb) kept in the embtui cache.

    Tokenizing is the slow part of a text source (seconds for a CSV of 5,000 reviews, far
    more for aclImdb's 50,000 files), and its result depends only on the source and on
    vocab_size, maxlen and val_size, so a second run of the same experiment reads the
    padded arrays back instead. Keras' own IMDB file and .npz files load fast already.
    """
    identity = _text_source_identity(dataset)
    if identity is None:
        return load_dataset(
            dataset,
            vocab_size=vocab_size,
            maxlen=maxlen,
            val_size=val_size,
            word_index_path=word_index_path,
        )
    entry = cache.entry_path(
        "data", cache_dir, [_CACHE_VERSION, identity, vocab_size, maxlen, val_size]
    )
    hit = cache.read(entry)
    needed = {"x_train", "y_train", "x_val", "y_val", "words", "source", "val_reviews"}
    if hit is not None and needed <= set(hit):
        words = hit["words"].tolist()
        return Dataset(
            x_train=hit["x_train"],
            y_train=hit["y_train"],
            x_val=hit["x_val"],
            y_val=hit["y_val"],
            word_index={word: i for i, word in enumerate(words) if word},
            vocab_size=vocab_size,
            source=str(hit["source"]),
            val_reviews=str(hit["val_reviews"]),
        )
    data = load_dataset(dataset, vocab_size=vocab_size, maxlen=maxlen, val_size=val_size)
    words = vocabulary_words(data.word_index, vocab_size)
    cache.write(
        entry,
        x_train=data.x_train,
        y_train=data.y_train,
        x_val=data.x_val,
        y_val=data.y_val,
        words=np.array(words),
        source=np.array(data.source),
        val_reviews=np.array(data.val_reviews),
    )
    return data


def vocabulary_words(word_index: dict[str, int], vocab_size: int) -> list[str]:
    """Each sequence index's word (`words[i]` is the word of index i and of the embedding's
    row i); "" for 0-3 (pad, start, oov, unused) and for indices no word has."""
    words = [""] * vocab_size
    for word, index in word_index.items():
        if 0 <= index < vocab_size:
            words[index] = word
    return words


def _text_source_identity(dataset: str) -> list | None:
    """What identifies a CSV/TSV file (gzipped or not) or an aclImdb folder; None for others.

    A file: its path, size and modification time. A folder: the same for each of its four
    split folders plus their file counts (adding, removing or renaming reviews changes
    these; editing one in place does not, as with any folder's modification time).
    """
    if dataset == "keras-imdb":
        return None
    path = Path(os.path.expanduser(dataset))
    try:
        if table_kind(path) and path.is_file():
            return ["file", *cache.file_identity(path)]
        if path.is_dir():
            parts: list = ["aclImdb", str(path.resolve())]
            for split in ("train/pos", "train/neg", "test/pos", "test/neg"):
                folder = path / split
                parts += [split, folder.stat().st_mtime_ns, len(os.listdir(folder))]
            return parts
    except OSError:
        return None  # let load_dataset report what is missing, in its own words
    return None


def _check_sizes(*, vocab_size: int, maxlen: int, val_size: int) -> None:
    if vocab_size < INDEX_FROM + 2:
        raise DataError(
            f"vocab_size {vocab_size}: must be at least {INDEX_FROM + 2} "
            "(0 pad, 1 start, 2 oov and 3 unused come before the first word, 4)"
        )
    if maxlen < 1:
        raise DataError(f"maxlen {maxlen}: must be at least 1")
    if val_size < 1:
        raise DataError(f"val_size {val_size}: must be at least 1")


# --- text preprocessing, shared by CSV/TSV files and aclImdb folders -------------------------


def standardize(text: str) -> str:
    """Lowercase and strip punctuation like Keras TextVectorization's default standardize.

    The IMDB reviews keep their HTML line breaks (``<br />``); they become spaces first so that
    the words on either side of a break do not fuse into one token.
    """
    return _BREAK.sub(" ", text).lower().translate(_PUNCTUATION)


def tokenize(text: str) -> list[str]:
    """The words of one review, as the vocabulary and the sequences see them."""
    return standardize(text).split()


def build_word_index(token_lists: Sequence[Sequence[str]], vocab_size: int) -> dict[str, int]:
    """Rank words by frequency (ties: first occurrence first) and give rank r the index r + 3.

    The same shift as keras.datasets.imdb, so a text source and the Keras data share one
    convention; words whose index would reach vocab_size are left out (they become OOV).
    """
    counts = Counter(itertools.chain.from_iterable(token_lists))
    # most_common sorts stably, so equal counts keep the order in which words first appeared.
    keep = vocab_size - INDEX_FROM - 1
    return {word: rank + INDEX_FROM for rank, (word, _) in enumerate(counts.most_common(keep), 1)}


def _encode(token_lists: Sequence[Sequence[str]], word_index: dict[str, int]) -> list[list[int]]:
    # Words outside the vocabulary, including words never seen in training, become OOV.
    get, oov = word_index.get, itertools.repeat(OOV)
    return [list(map(get, tokens, oov)) for tokens in token_lists]


def pad_pre(
    sequences: Sequence[Sequence[int]], maxlen: int, start: int | None = START
) -> np.ndarray:
    """Prepend `start` (unless None), then pad with 0 and truncate at the front to `maxlen`.

    Same result as ``keras.utils.pad_sequences(..., maxlen)`` with its 'pre' defaults, without
    importing TensorFlow. A truncated review loses its start token, as it does in Keras.
    """
    lengths = np.fromiter(map(len, sequences), dtype=np.int64, count=len(sequences))
    flat = np.fromiter(
        itertools.chain.from_iterable(sequences), dtype=np.int64, count=int(lengths.sum())
    )
    return _pad_flat(flat, lengths, maxlen, start)


def _pad_flat(flat: np.ndarray, lengths: np.ndarray, maxlen: int, start: int | None) -> np.ndarray:
    ends = np.cumsum(lengths)
    out = np.full((len(lengths), maxlen), PAD, dtype=np.int32)
    extra = 0 if start is None else 1
    for row, (length, end) in enumerate(zip(lengths.tolist(), ends.tolist(), strict=True)):
        total = length + extra
        if total <= maxlen:
            if start is not None:
                out[row, maxlen - total] = start
            if length:
                out[row, maxlen - length :] = flat[end - length : end]
        else:
            out[row, :] = flat[end - maxlen : end]
    return out


def _text_dataset(
    train: tuple[list[str], np.ndarray],
    val: tuple[list[str], np.ndarray],
    vocab_size: int,
    maxlen: int,
    source: str,
) -> Dataset:
    """The common tail of the CSV and aclImdb sources: vocabulary from train only, encode, pad."""
    train_tokens = [tokenize(text) for text in train[0]]
    val_tokens = [tokenize(text) for text in val[0]]
    word_index = build_word_index(train_tokens, vocab_size)
    return Dataset(
        x_train=pad_pre(_encode(train_tokens, word_index), maxlen),
        y_train=np.asarray(train[1], dtype=np.int32),
        x_val=pad_pre(_encode(val_tokens, word_index), maxlen),
        y_val=np.asarray(val[1], dtype=np.int32),
        word_index=word_index,
        vocab_size=vocab_size,
        source=source,
        val_reviews=reviews_digest(val[0], np.asarray(val[1], dtype=np.int32)),
    )


# --- CSV / TSV ------------------------------------------------------------------------------


def csv_split(n: int, val_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Which rows of a CSV/TSV source of `n` reviews validate and which train: a fixed
    shuffle (`TEXT_SPLIT_SEED`), its first `val_size` rows the validation set."""
    order = np.random.default_rng(TEXT_SPLIT_SEED).permutation(n)
    return order[:val_size], order[val_size:]


def acl_orders(n_train: int, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """The order an aclImdb folder's train and test reviews are used in (files are read
    label by label; the shuffle mixes positive and negative reviews in batches and in the
    validation slice, the first `val_size` of the test order)."""
    rng = np.random.default_rng(TEXT_SPLIT_SEED)
    return rng.permutation(n_train), rng.permutation(n_test)


def _load_csv(name: str, path: Path, vocab_size: int, maxlen: int, val_size: int) -> Dataset:
    texts, labels = read_reviews_table(name, path)
    n = len(texts)
    if val_size * 2 > n:
        raise DataError(f"val_size {val_size} is more than half of the {n} reviews in {name}")
    val_rows, train_rows = csv_split(n, val_size)
    y = np.asarray(labels, dtype=np.int32)
    return _text_dataset(
        ([texts[i] for i in train_rows], y[train_rows]),
        ([texts[i] for i in val_rows], y[val_rows]),
        vocab_size,
        maxlen,
        f"{table_kind(path)} {name} ({len(train_rows)} train / {val_size} val)",
    )


def table_kind(path: Path) -> str | None:
    """The kind of a .csv or .tsv file, gzipped (.csv.gz) or not: "CSV", "TSV"; else None."""
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "CSV"
    if name.endswith(".tsv"):
        return "TSV"
    return None


class _Capped(io.RawIOBase):
    """A decompressing reader that stops with one line past `limit` bytes (a gzip bomb)."""

    def __init__(self, inner: gzip.GzipFile, limit: int, name: str) -> None:
        super().__init__()
        self._inner, self._limit, self._name, self._seen = inner, limit, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = self._inner.readinto(buffer)
        self._seen += n
        if self._seen > self._limit:
            raise DataError(
                f"{self._name}: expands to more than {self._limit:,} bytes, the most embtui "
                "reads from a gzipped file"
            )
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def open_table(name: str, path: Path) -> TextIO:
    """A CSV/TSV file as text for the csv module: UTF-8, with or without the byte-order mark
    that Excel writes, decompressed on the fly when the name ends in .gz.

    Refused in one line unless it is a regular file; a gzipped file stops past
    GZIP_MAX_BYTES. Reading a damaged .gz raises one of GZIP_ERRORS.
    """
    regular_file(path, name=name, error=DataError)
    if not path.name.lower().endswith(".gz"):
        return open(path, encoding="utf-8-sig", newline="")
    raw = _Capped(gzip.GzipFile(path, "rb"), GZIP_MAX_BYTES, name)
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8-sig", newline="")


def read_reviews_table(name: str, path: Path) -> tuple[list[str], list[int]]:
    """Read the text and 0/1 label of every row, reporting the first bad row by line number."""
    delimiter = "\t" if table_kind(path) == "TSV" else ","
    # Real reviews reach 13,000+ characters; the csv module's default field limit is 131,072,
    # raised so that any single review fits.
    csv.field_size_limit(2**31 - 1)
    texts: list[str] = []
    labels: list[int] = []
    try:
        with open_table(name, path) as handle:
            reader = csv.reader(handle, delimiter=delimiter)
            header = next(reader, None)
            if header is None:
                raise DataError(f"{name}: empty file; expected a header with text and label")
            text_col, label_col = find_columns(name, header)
            needed = max(text_col, label_col) + 1
            line = reader.line_num
            for row in reader:
                # A quoted review may span several physical lines: report where the row starts.
                start, line = line + 1, reader.line_num
                if not row:
                    continue
                if len(row) < needed:
                    raise DataError(
                        f"{name}:{start}: expected at least {needed} fields, found {len(row)}"
                    )
                value = row[label_col].strip().lower()
                if value not in _LABELS:
                    raise DataError(
                        f"{name}:{start}: label {row[label_col]!r} is not one of "
                        "0, 1, negative, positive, neg, pos"
                    )
                if not row[text_col].strip():
                    raise DataError(f"{name}:{start}: empty review text")
                texts.append(row[text_col])
                labels.append(_LABELS[value])
    except UnicodeDecodeError as exc:
        raise DataError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise DataError(f"{name}: not a readable CSV/TSV file ({exc})") from None
    except GZIP_ERRORS as exc:
        raise DataError(f"{name}: damaged gzip data ({exc})") from None
    except OSError as exc:
        raise DataError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if not texts:
        raise DataError(f"{name}: no reviews after the header")
    return texts, labels


def find_columns(name: str, header: list[str]) -> tuple[int, int]:
    """The text and label column numbers of a header; `embtui doctor` checks big files with it."""
    columns = {column.strip().lower(): i for i, column in reversed(list(enumerate(header)))}
    found = []
    for kind, choices in (("text", _TEXT_COLUMNS), ("label", _LABEL_COLUMNS)):
        for choice in choices:
            if choice in columns:
                found.append(columns[choice])
                break
        else:
            raise DataError(
                f"{name}:1: no {kind} column; expected one named {' or '.join(choices)}, "
                f"found {', '.join(header) or 'none'}"
            )
    return found[0], found[1]


# --- aclImdb folder -------------------------------------------------------------------------


def _load_aclimdb(name: str, root: Path, vocab_size: int, maxlen: int, val_size: int) -> Dataset:
    train_read = _read_acl_split(name, root, "train")
    test_read = _read_acl_split(name, root, "test")
    train_order, test_order = acl_orders(len(train_read[0]), len(test_read[0]))
    train = _in_order(train_read, train_order)
    test_texts, test_labels = _in_order(test_read, test_order)
    if val_size > len(test_texts):
        raise DataError(
            f"val_size {val_size} is more than the {len(test_texts)} reviews in {name}/test"
        )
    n_train = len(train[0])
    return _text_dataset(
        train,
        (test_texts[:val_size], test_labels[:val_size]),
        vocab_size,
        maxlen,
        f"aclImdb {name} ({n_train} train / {val_size} val)",
    )


def _in_order(read: tuple[list[str], list[int]], order: np.ndarray) -> tuple[list[str], np.ndarray]:
    texts, labels = read
    return [texts[i] for i in order], np.asarray(labels, dtype=np.int32)[order]


def _read_acl_split(name: str, root: Path, split: str) -> tuple[list[str], list[int]]:
    texts: list[str] = []
    labels: list[int] = []
    for label_name, label in (("pos", 1), ("neg", 0)):
        for file in acl_reviews(name, root, f"{split}/{label_name}"):
            texts.append(file.read_text(encoding="utf-8-sig", errors="replace"))
            labels.append(label)
    if not texts:
        raise DataError(f"{name}: no .txt reviews in {split}/pos or {split}/neg")
    return texts, labels


def acl_reviews(name: str, root: Path, folder: str) -> list[Path]:
    """The review files of one aclImdb folder ("train/pos"...), sorted by name.

    Every entry named *.txt must be a regular file of at most REVIEW_MAX_BYTES: a folder, a
    FIFO, a device or a broken link among the reviews is refused in one line naming it,
    before any is opened. `embtui doctor` counts reviews with it.
    """
    path = root / folder
    if not path.is_dir():
        raise DataError(
            f"{name}: missing folder {folder}; an aclImdb folder holds "
            "train/pos, train/neg, test/pos and test/neg with one review per .txt file"
        )
    files = sorted(path.glob("*.txt"))
    for file in files:
        shown = os.path.join(name, folder, file.name)
        if file.is_symlink() and not file.exists():
            raise DataError(
                f"{shown}: a symbolic link to {os.readlink(file)}, which does not exist"
            )
        regular_file(file, name=shown, max_bytes=REVIEW_MAX_BYTES, error=DataError)
    return files


# --- Keras imdb: the download and .npz files in its format ------------------------------------


def _load_keras_imdb(vocab_size: int, maxlen: int, val_size: int) -> Dataset:
    from embtui.engine.keras_cache import cache_mismatches, keras_datasets_dir, mismatch_message

    # Keras deletes a cached file whose hash it does not expect: never let it near one.
    folder = keras_datasets_dir()
    problems = cache_mismatches(folder)
    if problems:
        raise DataError(mismatch_message(folder, problems))
    try:
        from keras.datasets import imdb

        (x_train, y_train), (x_test, y_test) = imdb.load_data(num_words=vocab_size)
        ranks = imdb.get_word_index()
    except Exception:
        # Whatever failed (no network, a bad cached file, keras missing), there is no data;
        # the message points at the offline sources.
        raise DataError(
            "keras-imdb: could not download the IMDB dataset (offline?); use local reviews "
            "(dataset = a CSV/TSV file, a Keras imdb.npz or an aclImdb folder), or try "
            "`embtui demo`, which trains on 2,000 real IMDB reviews that ship with embtui"
        ) from None
    if val_size > len(x_test):
        raise DataError(
            f"val_size {val_size} is more than the {len(x_test)} keras-imdb test reviews"
        )
    # load_data already prepended the start token, shifted ranks and applied the OOV cut.
    return Dataset(
        x_train=pad_pre(x_train, maxlen, start=None),
        y_train=np.asarray(y_train, dtype=np.int32),
        x_val=pad_pre(x_test[:val_size], maxlen, start=None),
        y_val=np.asarray(y_test[:val_size], dtype=np.int32),
        word_index=_shift_ranks(ranks, vocab_size),
        vocab_size=vocab_size,
        source=f"keras-imdb ({len(x_train)} train / {val_size} val)",
        # Words past num_words become the OOV index, so only the lengths and labels of the
        # reviews are the same whatever vocab_size: with the source, they name the set.
        val_reviews=reviews_digest(
            ["keras-imdb test"],
            np.array([len(r) for r in x_test[:val_size]]),
            np.asarray(y_test[:val_size], dtype=np.int32),
        ),
    )


def _shift_ranks(ranks: dict[str, int], vocab_size: int) -> dict[str, int]:
    # get_word_index() gives frequency ranks; the sequences use rank + index_from.
    shifted = ((word, rank + INDEX_FROM) for word, rank in ranks.items())
    return {word: index for word, index in shifted if index < vocab_size}


def _load_npz(
    name: str,
    path: Path,
    vocab_size: int,
    maxlen: int,
    val_size: int,
    word_index_path: str | None,
) -> Dataset:
    """Read a Keras-format imdb.npz and transform it exactly as keras' load_data does."""
    arrays = read_npz(name, path)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        if key not in arrays:
            raise DataError(
                f"{name}: no {key} array; a Keras imdb .npz holds x_train, y_train, x_test, y_test"
            )
    check_npz_shapes(name, {key: array.shape for key, array in arrays.items()})
    ranks = _read_ranks(name, path, word_index_path)
    x_train, y_train = arrays["x_train"], _labels(name, "y_train", arrays["y_train"])
    x_test, y_test = arrays["x_test"], _labels(name, "y_test", arrays["y_test"])
    for x_key, x, y in (("x_train", x_train, y_train), ("x_test", x_test, y_test)):
        if len(x) != len(y):
            raise DataError(f"{name}: {x_key} has {len(x)} reviews but its labels {len(y)}")
    if val_size > len(x_test):
        raise DataError(
            f"val_size {val_size} is more than the {len(x_test)} test reviews in {name}"
        )

    # The same shuffle as keras.datasets.imdb.load_data: one RandomState, train then test.
    rng = np.random.RandomState(KERAS_IMDB_SEED)
    train_order = np.arange(len(x_train))
    rng.shuffle(train_order)
    test_order = np.arange(len(x_test))
    rng.shuffle(test_order)
    val_order = test_order[:val_size]

    return Dataset(
        x_train=_ranks_to_sequences(name, "x_train", x_train, train_order, vocab_size, maxlen),
        y_train=y_train[train_order],
        x_val=_ranks_to_sequences(name, "x_test", x_test, val_order, vocab_size, maxlen),
        y_val=y_test[val_order],
        word_index=_shift_ranks(ranks, vocab_size),
        vocab_size=vocab_size,
        source=f"Keras npz {name} ({len(x_train)} train / {val_size} val)",
        val_reviews=reviews_digest(
            [x_test[i] for i in val_order.tolist()], y_test[val_order].astype(np.int32)
        ),
    )


def _ranks_to_sequences(
    name: str, key: str, reviews: np.ndarray, order: np.ndarray, vocab_size: int, maxlen: int
) -> np.ndarray:
    """Shift raw ranks by index_from, cut at vocab_size to OOV, prepend start, pad 'pre'."""
    picked = [reviews[i] for i in order.tolist()]
    try:
        lengths = np.fromiter(map(len, picked), dtype=np.int64, count=len(picked))
        flat = np.fromiter(
            itertools.chain.from_iterable(picked), dtype=np.int64, count=int(lengths.sum())
        )
    except (TypeError, ValueError):
        raise DataError(
            f"{name}: {key} must hold one list of integer word ranks per review"
        ) from None
    if flat.size and flat.min() < 1:
        raise DataError(f"{name}: {key} holds rank {flat.min()}; word ranks start at 1")
    flat += INDEX_FROM
    flat[flat >= vocab_size] = OOV
    return _pad_flat(flat, lengths, maxlen, START)


def check_npz_shapes(name: str, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Refuse arrays of the wrong rank in one line; `embtui doctor` passes header shapes.

    Reviews are one per row: x_* 1-d (of lists of word ranks, as Keras saves them) or 2-d
    (a padded matrix of ranks); labels y_* are 1-d.
    """
    for key in ("x_train", "x_test"):
        if key in shapes and len(shapes[key]) not in (1, 2):
            raise DataError(
                f"{name}: {key} is a {len(shapes[key])}-d array; expected one review per row "
                "(1-d, of lists of word ranks, or a 2-d matrix of ranks)"
            )
    for key in ("y_train", "y_test"):
        if key in shapes and len(shapes[key]) != 1:
            raise DataError(
                f"{name}: {key} is a {len(shapes[key])}-d array; expected a 1-d array of 0/1 labels"
            )


def _labels(name: str, key: str, values: np.ndarray) -> np.ndarray:
    labels = np.asarray(values)
    if labels.ndim != 1 or labels.dtype.kind not in "iub" or not np.isin(labels, (0, 1)).all():
        raise DataError(f"{name}: {key} must be a 1-d array of 0/1 labels")
    return labels.astype(np.int32)


def _read_ranks(name: str, path: Path, word_index_path: str | None) -> dict[str, int]:
    source = Path(os.path.expanduser(word_index_path)) if word_index_path else None
    if source is None:
        source = path.with_name("imdb_word_index.json")
        if not source.exists():
            raise DataError(
                f"{name}: no imdb_word_index.json beside it; put it there or set "
                "word_index_path to the JSON file (word -> frequency rank)"
            )
    regular_file(
        source, name=f"word_index {source}", max_bytes=WORD_INDEX_MAX_BYTES, error=DataError
    )
    try:
        ranks = json.loads(source.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise DataError(f"word_index {source}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise DataError(f"{source}: not valid JSON ({exc})") from None
    if not isinstance(ranks, dict) or not all(
        isinstance(rank, int) and not isinstance(rank, bool) for rank in ranks.values()
    ):
        raise DataError(f"{source}: expected a JSON object mapping each word to its integer rank")
    return ranks


# Rebuilding the ragged object arrays of a Keras imdb.npz needs only these globals (the same
# set as keras/src/datasets/npz_utils.py, plus numpy's scalar constructor for files whose
# reviews hold numpy integers). numpy < 2 spells the module numpy.core, numpy >= 2 numpy._core.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }
)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, so a crafted .npz cannot run code."""

    def __init__(self, file: io.BytesIO, where: str) -> None:
        super().__init__(file)
        self._where = where

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise DataError(f"{self._where}: refusing to unpickle {module}.{name} (not a numpy array)")


def read_npz(name: str, path: Path) -> dict[str, np.ndarray]:
    """Load every array of an .npz without ever running a pickled callable.

    Object arrays (the ragged reviews) are pickle streams, and ``np.load(allow_pickle=True)``
    would execute whatever a tampered file asks for; here numeric arrays load with pickling
    off and object arrays through an unpickler that only rebuilds numpy arrays. Before any
    member is read, `npz_members` checks what each declares.
    """
    regular_file(path, name=name, error=DataError)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in npz_members(name, archive):
                if not info.filename.endswith(".npy"):
                    continue
                key = info.filename[: -len(".npy")]
                buffer = io.BytesIO(_member_bytes(name, archive, info))
                arrays[key] = _read_npy(f"{name}: {key}", buffer)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(f"{name}: not a readable .npz archive ({exc})") from None
    return arrays


def npz_members(name: str, archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members of an .npz, refused in one line, before any is read, when one is
    encrypted or compressed in a way zipfile cannot read, or when together they declare
    more than NPZ_MAX_BYTES uncompressed (a zip bomb). zipfile never returns more than a
    member declares, so the declared sizes bound what reading can take.
    `embtui doctor` checks .npz files with it.
    """
    members = archive.infolist()
    for info in members:
        if info.flag_bits & 0x1:
            raise DataError(
                f"{name}: {info.filename} is encrypted; embtui reads only unencrypted .npz "
                "files (as numpy.savez writes them)"
            )
        if info.compress_type not in _ZIP_METHODS:
            raise DataError(
                f"{name}: {info.filename} is compressed with method {info.compress_type}, "
                "which Python's zipfile cannot read; save it again with numpy.savez or "
                "numpy.savez_compressed"
            )
    total = sum(info.file_size for info in members)
    if total > NPZ_MAX_BYTES:
        largest = max(members, key=lambda info: info.file_size)
        raise DataError(
            f"{name}: its members expand to {total:,} bytes ({largest.filename} "
            f"{largest.file_size:,}), more than the {NPZ_MAX_BYTES:,} "
            f"({NPZ_MAX_BYTES / 1024**3:g} GiB) embtui reads from an .npz"
        )
    return members


def _member_bytes(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    try:
        with archive.open(info) as raw:
            return raw.read()
    except zipfile.BadZipFile:
        raise
    except Exception as exc:
        # zlib, bz2 and lzma raise their own errors on damaged bytes (zlib.error,
        # EOFError, OSError, LZMAError), zipfile a RuntimeError or NotImplementedError.
        raise DataError(f"{name}: {info.filename}: damaged compressed data ({exc})") from None


def _read_npy(where: str, buffer: io.BytesIO) -> np.ndarray:
    try:
        version = np.lib.format.read_magic(buffer)
        if version == (1, 0):
            _, _, dtype = np.lib.format.read_array_header_1_0(buffer)
        elif version in ((2, 0), (3, 0)):
            # Format 3.0 only changes the header's text encoding; 2.0's reader skips it fine.
            _, _, dtype = np.lib.format.read_array_header_2_0(buffer)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if not dtype.hasobject:
            buffer.seek(0)
            return np.lib.format.read_array(buffer, allow_pickle=False)
        array = _NumpyOnlyUnpickler(buffer, where).load()
    except DataError:
        raise
    except Exception as exc:
        # pickle and numpy raise many different exceptions on damaged bytes.
        raise DataError(f"{where}: not a readable numpy array ({type(exc).__name__})") from None
    if not isinstance(array, np.ndarray):
        raise DataError(f"{where}: holds a {type(array).__name__}, not a numpy array")
    return array


def validation_texts(dataset: str, val_size: int, expected: str) -> list[str] | None:
    """The validation reviews' texts, read back from a CSV/TSV or aclImdb source by the same
    split rule that chose them, or None: for sources without text (keras-imdb, .npz), and
    when the source no longer gives the reviews the experiment recorded (`expected`, their
    `val_reviews` digest), so an edited file never shows another review's text."""
    if not expected or dataset == "keras-imdb":
        return None
    path = Path(os.path.expanduser(dataset))
    try:
        if table_kind(path) and path.is_file():
            texts, labels = read_reviews_table(dataset, path)
            order = csv_split(len(texts), val_size)[0]
        elif path.is_dir():  # the train reviews are only counted: the order depends on it
            n_train = sum(len(acl_reviews(dataset, path, f"train/{s}")) for s in ("pos", "neg"))
            texts, labels = _read_acl_split(dataset, path, "test")
            order = acl_orders(n_train, len(texts))[1][:val_size]
        else:
            return None
        val = [texts[i] for i in order]
        y = np.asarray(labels, dtype=np.int32)[order]
    except (DataError, OSError):
        return None
    return val if reviews_digest(val, y) == expected else None
