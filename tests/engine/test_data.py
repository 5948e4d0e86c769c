"""Dataset sources: index convention, padding, splits, label parsing and safe .npz reading."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np
import pytest

from embtui.engine.data import (
    OOV,
    START,
    build_word_index,
    load_dataset,
    load_dataset_cached,
    pad_pre,
    tokenize,
)
from embtui.errors import DataError, EmbtuiError
from tests import bad_files
from tests.helpers import ragged


def content(row: np.ndarray) -> list[int]:
    """A padded row without its leading zeros."""
    return row[np.argmax(row != 0) :].tolist() if row.any() else []


def all_rows(ds) -> list[tuple[list[int], int]]:
    x = np.concatenate([ds.x_train, ds.x_val])
    y = np.concatenate([ds.y_train, ds.y_val])
    return [(content(row), int(label)) for row, label in zip(x, y, strict=True)]


# --- text preprocessing ---------------------------------------------------------------------


def test_tokenize_drops_html_breaks_case_and_punctuation():
    text = "Great<br /><br />film! It's GOOD<br>really<BR/>(10/10) well-made"
    assert tokenize(text) == ["great", "film", "its", "good", "really", "1010", "wellmade"]


def test_word_index_ranks_by_frequency_ties_by_first_occurrence_from_index_4():
    tokens = [["b", "a", "c", "a"], ["c", "d", "a"]]
    # a: 3, then b, c and d by count (c: 2), then b before d (first seen earlier).
    assert build_word_index(tokens, vocab_size=100) == {"a": 4, "c": 5, "b": 6, "d": 7}
    assert build_word_index(tokens, vocab_size=6) == {"a": 4, "c": 5}


# --- padding --------------------------------------------------------------------------------


def test_pad_pre_prepends_start_and_pads_at_the_front():
    out = pad_pre([[5, 6, 7], [], [9]], maxlen=5)
    assert out.dtype == np.int32
    assert out.tolist() == [[0, 1, 5, 6, 7], [0, 0, 0, 0, 1], [0, 0, 0, 1, 9]]


def test_pad_pre_truncates_at_the_front_like_keras():
    # Keras' 'pre' truncation keeps the end of the review, dropping the start token too.
    assert pad_pre([[5, 6, 7, 8, 9, 10]], maxlen=4).tolist() == [[7, 8, 9, 10]]
    assert pad_pre([[5, 6, 7]], maxlen=4).tolist() == [[1, 5, 6, 7]]
    assert pad_pre([[1, 5, 6]], maxlen=2, start=None).tolist() == [[5, 6]]


# --- CSV / TSV ------------------------------------------------------------------------------


def test_csv_labels_accept_words_and_digits_in_any_case(csv_file):
    labels = ["negative", "POSITIVE", "0", "1", "neg", " Pos "]
    # Review k has k + 1 words, so its padded length tells which row it was.
    rows = [("movie " * (k + 1), label) for k, label in enumerate(labels)]
    ds = load_dataset(str(csv_file(rows)), vocab_size=50, maxlen=20, val_size=1)
    expected = [0, 1, 0, 1, 0, 1]
    seen = {len(seq) - 2: label for seq, label in all_rows(ds)}
    assert seen == dict(enumerate(expected))
    assert ds.y_train.dtype == np.int32 and ds.x_train.dtype == np.int32


def test_csv_split_sizes_and_source(csv_file):
    rows = [(f"movie number {k}", k % 2) for k in range(10)]
    path = csv_file(rows)
    ds = load_dataset(str(path), vocab_size=50, maxlen=8, val_size=3)
    assert ds.x_train.shape == (7, 8) and ds.x_val.shape == (3, 8)
    assert ds.y_train.shape == (7,) and ds.y_val.shape == (3,)
    assert ds.source == f"CSV {path} (7 train / 3 val)"
    # The split is a fixed permutation: loading twice gives the same arrays.
    again = load_dataset(str(path), vocab_size=50, maxlen=8, val_size=3)
    assert np.array_equal(ds.x_val, again.x_val) and np.array_equal(ds.y_train, again.y_train)


def test_csv_review_and_sentiment_columns_and_tsv(csv_file):
    rows = [("good film", "positive"), ("bad film", "negative")] * 2
    path = csv_file(rows, name="reviews.tsv", header=("review", "sentiment"))
    ds = load_dataset(str(path), vocab_size=50, maxlen=4, val_size=1)
    assert ds.source.startswith("TSV ")
    assert set(ds.word_index) == {"film", "good", "bad"}
    assert ds.word_index["film"] == 4  # the most frequent word gets index 4


def test_csv_sequences_use_word_index_and_keep_words_in_order(csv_file):
    rows = [("The movie was GOOD, the end.", 1)] * 4
    ds = load_dataset(str(csv_file(rows)), vocab_size=50, maxlen=10, val_size=2)
    wi = ds.word_index
    words = ["the", "movie", "was", "good", "the", "end"]
    assert content(ds.x_train[0]) == [START] + [wi[w] for w in words]
    assert wi["the"] == 4


def test_csv_vocab_restriction_turns_rare_words_into_oov(csv_file):
    rows = [("the the the a a movie", 1), ("the the the a a movie", 0)] * 2
    ds = load_dataset(str(csv_file(rows)), vocab_size=6, maxlen=8, val_size=1)
    assert ds.word_index == {"the": 4, "a": 5}
    assert content(ds.x_train[0]) == [START, 4, 4, 4, 5, 5, OOV]
    assert ds.x_train.max() < 6


def test_csv_truncates_long_reviews_at_the_front(csv_file):
    text = " ".join(["the"] * 20 + ["a", "movie"])
    ds = load_dataset(str(csv_file([(text, 1), (text, 0)])), vocab_size=50, maxlen=3, val_size=1)
    assert ds.x_train[0].tolist() == [4, ds.word_index["a"], ds.word_index["movie"]]


def test_csv_val_size_over_half_is_refused(csv_file):
    path = csv_file([("movie", 1)] * 6)
    with pytest.raises(DataError) as err:
        load_dataset(str(path), vocab_size=50, maxlen=5, val_size=4)
    assert str(err.value) == f"val_size 4 is more than half of the 6 reviews in {path}"


def test_csv_bad_label_names_file_line_and_value(csv_file):
    # The first review spans three physical lines; the bad row starts on line 5.
    path = csv_file([("line one\nline two\nline three", 1), ("fine", "maybe")])
    with pytest.raises(DataError) as err:
        load_dataset(str(path), vocab_size=50, maxlen=5, val_size=1)
    message = str(err.value)
    assert message.startswith(f"{path}:5: label 'maybe'")
    assert "negative, positive" in message and "\n" not in message


def test_csv_missing_column_is_named(csv_file):
    path = csv_file([("good", 1)], header=("body", "label"))
    with pytest.raises(DataError, match=r"no text column; expected one named text or review"):
        load_dataset(str(path), vocab_size=50, maxlen=5, val_size=1)


def test_real_csv_has_5000_balanced_reviews(real_dataset):
    ds = real_dataset
    assert ds.x_train.shape == (4000, 200) and ds.x_val.shape == (1000, 200)
    assert 0.4 < ds.y_train.mean() < 0.6 and 0.4 < ds.y_val.mean() < 0.6
    assert len(ds.word_index) == 10_000 - 4 and max(ds.word_index.values()) == 9_999
    assert ds.word_index["the"] == 4 and ds.x_train.max() == 9_999


# --- aclImdb folder -------------------------------------------------------------------------


def test_aclimdb_reads_splits_mixes_labels_and_validates_on_test(acl_folder):
    root = acl_folder(
        {
            "train": {"pos": ["good film"] * 3, "neg": ["bad film"] * 3},
            "test": {"pos": ["good great film"] * 2, "neg": ["bad great film"] * 2},
        }
    )
    ds = load_dataset(str(root), vocab_size=50, maxlen=6, val_size=3)
    wi = ds.word_index
    assert ds.x_train.shape == (6, 6) and ds.x_val.shape == (3, 6)
    assert ds.source == f"aclImdb {root} (6 train / 3 val)"
    # Labels follow the folder: pos reviews hold "good", neg ones "bad".
    for seq, label in all_rows(ds):
        assert (wi["good"] in seq) == (label == 1) and (wi["bad"] in seq) == (label == 0)
    # Shuffled: the train labels are not one block of positives then negatives.
    assert ds.y_train.tolist() not in ([1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1])
    # "great" occurs only in test, and the vocabulary comes from train only.
    assert "great" not in wi and all(seq[2] == OOV for seq, _ in all_rows(ds)[6:])


def test_aclimdb_missing_subfolder_is_named(acl_folder):
    root = acl_folder({"train": {"pos": ["good"], "neg": ["bad"]}, "test": {"pos": ["good"]}})
    with pytest.raises(DataError, match=r"missing folder test/neg"):
        load_dataset(str(root), vocab_size=50, maxlen=5, val_size=1)


# --- Keras-format .npz ----------------------------------------------------------------------


def test_npz_shifts_ranks_prepends_start_and_cuts_vocab(keras_npz):
    ranks = {"the": 1, "a": 2, "movie": 3, "bad": 4, "good": 5}
    path = keras_npz([[1, 2, 5]], [1], [[3, 4]], [0], ranks)
    ds = load_dataset(str(path), vocab_size=8, maxlen=5, val_size=1)
    # rank r -> index r + 3; "good" (rank 5 -> 8) reaches vocab_size 8 and becomes OOV.
    assert ds.x_train.tolist() == [[0, 1, 4, 5, OOV]]
    assert ds.x_val.tolist() == [[0, 0, 1, 6, 7]]
    assert ds.word_index == {"the": 4, "a": 5, "movie": 6, "bad": 7}
    assert ds.y_train.tolist() == [1] and ds.y_val.tolist() == [0]


def test_npz_shuffles_like_keras_load_data(keras_npz):
    # Review k is the single word of rank k, so its index k + 3 shows where it went.
    n_train, n_test = 12, 9
    train = [[k] for k in range(1, n_train + 1)]
    test = [[k] for k in range(1, n_test + 1)]
    ranks = {f"w{k}": k for k in range(1, 20)}
    path = keras_npz(train, [k % 2 for k in range(n_train)], test, [0] * n_test, ranks)
    ds = load_dataset(str(path), vocab_size=100, maxlen=2, val_size=4)
    # keras.datasets.imdb.load_data: one RandomState(113) shuffles train, then test.
    rng = np.random.RandomState(113)
    train_order, test_order = np.arange(n_train), np.arange(n_test)
    rng.shuffle(train_order)
    rng.shuffle(test_order)
    assert ds.x_train[:, 1].tolist() == (train_order + 1 + 3).tolist()
    assert ds.y_train.tolist() == [k % 2 for k in train_order]
    assert ds.x_val[:, 1].tolist() == (test_order[:4] + 1 + 3).tolist()


def test_npz_word_index_path_and_missing_json(keras_npz, tmp_path):
    path = keras_npz([[1]], [1], [[1]], [0], ranks=None)
    with pytest.raises(DataError, match=r"no imdb_word_index.json beside it"):
        load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1)
    elsewhere = tmp_path / "ranks.json"
    elsewhere.write_text('{"movie": 1}', encoding="utf-8")
    ds = load_dataset(
        str(path), vocab_size=10, maxlen=3, val_size=1, word_index_path=str(elsewhere)
    )
    assert ds.word_index == {"movie": 4} and ds.x_train.tolist() == [[0, 1, 4]]


class _Gadget:
    """Pickles as a call to os.system: what a tampered imdb.npz would hide in x_train."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_npz_refuses_to_unpickle_anything_but_numpy_arrays(tmp_path):
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Gadget(f"touch {marker}")
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=evil, y_train=np.array([1]), x_test=evil, y_test=np.array([0]))
    (tmp_path / "imdb_word_index.json").write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1)
    assert "refusing to unpickle" in str(err.value) and "system" in str(err.value)
    assert "(not a numpy array)" in str(err.value)
    assert not marker.exists()


def test_npz_accepts_reviews_holding_numpy_integers(keras_npz, tmp_path):
    x = np.empty(1, dtype=object)
    x[0] = np.array([1, 2], dtype=np.int64)
    path = tmp_path / "imdb.npz"
    np.savez(path, x_train=x, y_train=np.array([1]), x_test=x, y_test=np.array([0]))
    (tmp_path / "imdb_word_index.json").write_text('{"a": 1, "b": 2}', encoding="utf-8")
    ds = load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1)
    assert ds.x_train.tolist() == [[1, 4, 5]]


def test_npz_not_a_zip_is_a_data_error(tmp_path):
    path = tmp_path / "imdb.npz"
    path.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match=r"not a readable .npz archive"):
        load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1)


# --- choosing the source --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dataset", "pattern"),
    [
        ("nowhere/reviews.csv", r"no such file; use 'keras-imdb', a Keras imdb .npz file"),
        ("nowhere/thing", r"no such file or folder; use 'keras-imdb'"),
    ],
)
def test_unknown_dataset_lists_the_allowed_forms(tmp_path, dataset, pattern):
    with pytest.raises(DataError, match=pattern):
        load_dataset(str(tmp_path / dataset), vocab_size=10, maxlen=3, val_size=1)


def test_unknown_file_type_is_refused(tmp_path):
    path = tmp_path / "reviews.parquet"
    path.write_bytes(b"x")
    with pytest.raises(DataError, match=r"unknown file type"):
        load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1)


def test_errors_are_one_line_embtui_errors(csv_file):
    path = csv_file([("good", 1)] * 4)
    with pytest.raises(EmbtuiError) as err:
        load_dataset(str(path), vocab_size=3, maxlen=5, val_size=1)
    assert str(err.value).startswith("vocab_size 3: must be at least 5")
    assert "\n" not in str(err.value)


def _keras_imdb_cached() -> bool:
    homes = [Path.home() / ".keras", Path(os.environ.get("KERAS_HOME", "/nonexistent"))]
    return any((home / "datasets" / "imdb.npz").exists() for home in homes)


@pytest.mark.tensorflow
@pytest.mark.skipif(_keras_imdb_cached(), reason="imdb.npz is in the Keras cache: not offline")
def test_keras_imdb_offline_is_a_one_line_data_error(monkeypatch):
    # Offline for sure, even on a machine with network: name resolution fails.
    def no_network(*args, **kwargs):
        raise socket.gaierror("no network in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    with pytest.raises(DataError) as err:
        load_dataset("keras-imdb", vocab_size=1000, maxlen=50, val_size=10)
    assert str(err.value) == (
        "keras-imdb: could not download the IMDB dataset (offline?); use local reviews "
        "(dataset = a CSV/TSV file, a Keras imdb.npz or an aclImdb folder), or try "
        "`embtui demo`, which trains on 2,000 real IMDB reviews that ship with embtui"
    )


def test_a_cached_keras_file_keras_would_replace_is_refused_and_left_alone(tmp_path, monkeypatch):
    """keras.datasets.imdb deletes a cached file whose hash it does not expect and
    downloads again (offline: the file is gone). embtui refuses first and keeps it."""
    folder = tmp_path / "datasets"
    folder.mkdir()
    mine = folder / "imdb.npz"
    mine.write_bytes(b"PK" + bytes(1000))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as err:
        load_dataset("keras-imdb", vocab_size=1000, maxlen=50, val_size=10)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"keras-imdb: {mine} has sha256 ")
    assert "not the 69664113be75… Keras expects" in message
    assert f'dataset = "{mine}"' in message
    assert mine.read_bytes() == b"PK" + bytes(1000)


def test_embtui_run_on_a_cache_keras_would_replace_exits_2_and_keeps_the_file(
    tmp_path, monkeypatch, capsys
):
    from embtui.cli import main

    folder = tmp_path / "keras" / "datasets"
    folder.mkdir(parents=True)
    mine = folder / "imdb.npz"
    mine.write_bytes(b"PK" + bytes(1000))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    store = tmp_path / "store.sqlite"
    code = main(["run", "--plain", "--store", str(store), "--sizes", "10", "--seeds", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith(f"embtui: error: keras-imdb: {mine} has sha256 ")
    assert mine.read_bytes() == b"PK" + bytes(1000)
    if store.exists():  # refused before anything was recorded
        from embtui.store import Store

        with Store(store, create=False) as s:
            assert s.experiments() == []


# --- the dataset cache ------------------------------------------------------------------


ARRAYS = ("x_train", "y_train", "x_val", "y_val")


def _same(a, b) -> bool:
    return (
        all(
            np.array_equal(getattr(a, k), getattr(b, k))
            for k in ("x_train", "y_train", "x_val", "y_val")
        )
        and a.word_index == b.word_index
        and a.source == b.source
        and a.vocab_size == b.vocab_size
    )


def test_cached_csv_reads_back_exactly_what_tokenizing_gave(csv_file, tmp_path):
    rows = [(f"a good film number {i}", 1) for i in range(6)]
    rows += [(f"a bad film number {i}", 0) for i in range(6)]
    path = csv_file(rows)
    cache_dir = str(tmp_path / "cache")
    kw = dict(vocab_size=30, maxlen=8, val_size=4, cache_dir=cache_dir)
    first = load_dataset_cached(str(path), **kw)
    assert len(list((tmp_path / "cache").glob("data-*.npz"))) == 1
    second = load_dataset_cached(str(path), **kw)
    assert _same(first, second)
    assert _same(first, load_dataset(str(path), vocab_size=30, maxlen=8, val_size=4))
    # Another maxlen is another entry, not a stale hit.
    other = load_dataset_cached(str(path), **{**kw, "maxlen": 5})
    assert other.x_train.shape[1] == 5
    assert len(list((tmp_path / "cache").glob("data-*.npz"))) == 2


def test_cached_csv_is_rebuilt_when_the_file_changes(csv_file, tmp_path):
    cache_dir = str(tmp_path / "cache")
    path = csv_file([("good", 1), ("bad", 0), ("good good", 1), ("bad bad", 0)])
    kw = dict(vocab_size=20, maxlen=4, val_size=2, cache_dir=cache_dir)
    before = load_dataset_cached(str(path), **kw)
    assert "fine" not in before.word_index
    csv_file([("fine", 1), ("bad", 0), ("fine fine", 1), ("bad bad", 0), ("fine", 1), ("x", 0)])
    os.utime(path, ns=(1, 1))  # a different mtime even on a coarse clock
    after = load_dataset_cached(str(path), **kw)
    assert "fine" in after.word_index and len(after.y_train) == 4


def test_cached_aclimdb_matches_a_fresh_load(acl_folder, tmp_path):
    root = acl_folder(
        {
            "train": {"pos": ["good film"] * 3, "neg": ["bad film"] * 3},
            "test": {"pos": ["good great film"] * 2, "neg": ["bad great film"] * 2},
        }
    )
    kw = dict(vocab_size=50, maxlen=6, val_size=3)
    cached = load_dataset_cached(str(root), cache_dir=str(tmp_path / "c"), **kw)
    again = load_dataset_cached(str(root), cache_dir=str(tmp_path / "c"), **kw)
    assert _same(cached, again) and _same(cached, load_dataset(str(root), **kw))


# --- files that would hang, exhaust memory or crash a reader ---------------------------------


def _load(path: Path | str, **kw) -> object:
    return load_dataset(str(path), vocab_size=10, maxlen=3, val_size=1, **kw)


def _one_line_data_error(exc: BaseException, *fragments: str) -> str:
    assert isinstance(exc, DataError), repr(exc)
    message = str(exc)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv", "reviews.csv.gz", "imdb.npz"])
def test_a_fifo_as_the_dataset_is_refused_before_it_is_opened(tmp_path, name):
    path = bad_files.fifo(tmp_path / name)
    exc = bad_files.raised_within(5, lambda: _load(path), path)
    _one_line_data_error(exc, str(path), "a FIFO (named pipe), not a regular file")


@pytest.mark.parametrize("name", ["reviews.csv", "imdb.npz", "reviews.tsv.gz"])
def test_a_device_as_the_dataset_is_refused_before_it_is_opened(tmp_path, name):
    path = tmp_path / name
    path.symlink_to("/dev/zero")
    exc = bad_files.raised_within(5, lambda: _load(path))
    _one_line_data_error(exc, str(path), "a character device, not a regular file")


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_word_index_that_is_a_fifo_or_a_device_is_refused(keras_npz, tmp_path, kind):
    npz = keras_npz([[1]], [1], [[1]], [0], ranks=None)
    if kind == "fifo":
        ranks = bad_files.fifo(tmp_path / "ranks.json")
        what = "a FIFO (named pipe)"
    else:
        ranks = tmp_path / "ranks.json"
        ranks.symlink_to("/dev/null")
        what = "a character device"
    exc = bad_files.raised_within(5, lambda: _load(npz, word_index_path=str(ranks)), ranks)
    _one_line_data_error(exc, str(ranks), what)


def test_a_word_index_over_100_mb_is_refused_naming_the_limit(keras_npz, tmp_path):
    from embtui.engine.data import WORD_INDEX_MAX_BYTES

    npz = keras_npz([[1]], [1], [[1]], [0], ranks=None)
    assert WORD_INDEX_MAX_BYTES == 100 * 1024 * 1024
    ranks = bad_files.sparse(tmp_path / "ranks.json", WORD_INDEX_MAX_BYTES + 1)
    with pytest.raises(DataError) as err:
        _load(npz, word_index_path=str(ranks))
    _one_line_data_error(err.value, str(ranks), "104,857,601 bytes", "104,857,600")


def _acl_with(acl_folder, make) -> tuple[Path, Path]:
    root = acl_folder({split: {"pos": ["good"], "neg": ["bad"]} for split in ("train", "test")})
    entry = root / "train" / "pos" / "x.txt"
    make(entry)
    return root, entry


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("folder", "a folder, not a regular file"),
        ("fifo", "a FIFO (named pipe), not a regular file"),
        ("device", "a character device, not a regular file"),
        ("broken link", "a symbolic link to"),
    ],
)
def test_aclimdb_entries_that_are_not_regular_files_are_named(acl_folder, kind, what):
    makers = {
        "folder": lambda p: p.mkdir(),
        "fifo": bad_files.fifo,
        "device": lambda p: p.symlink_to("/dev/null"),
        "broken link": lambda p: p.symlink_to(p.parent / "gone.txt"),
    }
    root, entry = _acl_with(acl_folder, makers[kind])
    exc = bad_files.raised_within(5, lambda: _load(root), entry)
    message = _one_line_data_error(exc, f"{root}/train/pos/x.txt: ", what)
    if kind == "broken link":
        assert message.endswith("gone.txt, which does not exist")


def test_an_aclimdb_review_over_10_mb_is_refused_naming_the_limit(acl_folder):
    from embtui.engine.data import REVIEW_MAX_BYTES

    assert REVIEW_MAX_BYTES == 10 * 1024 * 1024
    root, _ = _acl_with(acl_folder, lambda p: bad_files.sparse(p, REVIEW_MAX_BYTES + 1))
    with pytest.raises(DataError) as err:
        _load(root)
    _one_line_data_error(err.value, f"{root}/train/pos/x.txt: ", "10,485,761", "10,485,760")


def test_an_npz_zip_bomb_is_refused_at_once_from_its_declared_sizes(tmp_path):
    import tracemalloc

    from embtui.engine.data import NPZ_MAX_BYTES

    assert NPZ_MAX_BYTES == 2 * 1024**3
    path = bad_files.zip_bomb(tmp_path / "bomb.npz")
    assert path.stat().st_size < 4_000_000  # 3 MB on disk, 3.1 GB expanded
    tracemalloc.start()
    try:
        with bad_files.inflated() as inflated, pytest.raises(DataError) as err:
            _load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Nothing decompressed (at most a member's header), nothing held in memory.
    assert inflated[0] < 1_000_000 and peak < 20_000_000
    _one_line_data_error(
        err.value, str(path), "x_train.npy", "3,145,728,000 bytes", "2,147,483,648 (2 GiB)"
    )


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("corrupt", "x_train.npy: damaged compressed data (Error -3 "),
        ("encrypted", "x_train.npy is encrypted"),
        ("deflate64", "x_train.npy is compressed with method 9"),
    ],
)
def test_npz_members_zipfile_cannot_decompress_are_one_line_errors(tmp_path, kind, what):
    path = bad_files.damaged_npz(tmp_path / f"{kind}.npz", kind)
    with pytest.raises(DataError) as err:
        _load(path)
    _one_line_data_error(err.value, str(path), what)


@pytest.mark.parametrize(
    ("arrays", "what"),
    [
        ({"x_train": np.int64(5)}, "x_train is a 0-d array"),
        ({"x_test": np.zeros((2, 2, 2), dtype=np.int64)}, "x_test is a 3-d array"),
        ({"y_train": np.ones((3, 1), dtype=np.int64)}, "y_train is a 2-d array"),
        ({"y_test": np.int64(1)}, "y_test is a 0-d array"),
    ],
)
def test_npz_arrays_of_the_wrong_rank_are_one_line_errors(tmp_path, arrays, what):
    fine = {
        "x_train": ragged([[1, 2], [3], [1]]),
        "y_train": np.array([1, 0, 1]),
        "x_test": ragged([[1], [2]]),
        "y_test": np.array([0, 1]),
    }
    path = bad_files.npz_of(tmp_path / "ranked.npz", **{**fine, **arrays})
    with pytest.raises(DataError) as err:
        _load(path)
    _one_line_data_error(err.value, str(path), what)


def test_npz_of_2d_rank_matrices_reads_like_the_ragged_lists(tmp_path):
    """A padded 2-d integer x is one review per row, as keras' load_data treats it."""
    matrix = bad_files.npz_of(
        tmp_path / "m" / "imdb.npz",
        x_train=np.array([[1, 2], [3, 1]]),
        y_train=np.array([1, 0]),
        x_test=np.array([[2, 2]]),
        y_test=np.array([0]),
    )
    lists = bad_files.npz_of(
        tmp_path / "l" / "imdb.npz",
        x_train=ragged([[1, 2], [3, 1]]),
        y_train=np.array([1, 0]),
        x_test=ragged([[2, 2]]),
        y_test=np.array([0]),
    )
    a, b = _load(matrix), _load(lists)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.x_val, b.x_val)


# --- Excel's byte-order mark ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv"])
def test_a_csv_with_a_bom_reads_exactly_like_one_without(tmp_path, name):
    sep = "\t" if name.endswith(".tsv") else ","
    rows = [("good film", 1), ("bad film", 0), ("great good film", 1), ("awful bad", 0)] * 2
    text = f"text{sep}label\r\n" + "".join(f"{t}{sep}{y}\r\n" for t, y in rows)
    plain = tmp_path / "plain" / name
    plain.parent.mkdir()
    plain.write_text(text, encoding="utf-8", newline="")
    excel = bad_files.with_bom(tmp_path / "excel" / name, text)
    kw = dict(vocab_size=20, maxlen=5, val_size=2)
    a, b = load_dataset(str(plain), **kw), load_dataset(str(excel), **kw)
    for key in ("x_train", "y_train", "x_val", "y_val"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.word_index == b.word_index and "\ufeff" not in "".join(b.word_index)


def test_a_word_index_with_a_bom_is_read(keras_npz, tmp_path):
    npz = keras_npz([[1, 2]], [1], [[2]], [0], ranks=None)
    ranks = bad_files.with_bom(tmp_path / "ranks.json", '{"movie": 1, "good": 2}')
    ds = _load(npz, word_index_path=str(ranks))
    assert ds.word_index == {"movie": 4, "good": 5}


# --- gzipped CSV/TSV ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.tsv"])
def test_a_gzipped_csv_or_tsv_gives_the_same_dataset_as_the_plain_file(csv_file, name):
    rows = [(f"a good film number {i}", 1) for i in range(6)]
    rows += [(f"a bad film, number {i}\nover two lines", 0) for i in range(6)]
    plain = csv_file(rows, name=name)
    packed = plain.with_name(name + ".gz")
    packed.write_bytes(bad_files.gzip_bytes(plain.read_bytes()))
    kw = dict(vocab_size=30, maxlen=8, val_size=4)
    a, b = load_dataset(str(plain), **kw), load_dataset(str(packed), **kw)
    for key in ("x_train", "y_train", "x_val", "y_val"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    assert a.word_index == b.word_index
    kind = "TSV" if name.endswith(".tsv") else "CSV"
    assert b.source == f"{kind} {packed} (8 train / 4 val)"


def test_a_gzipped_csv_is_cached_under_its_own_identity(csv_file, tmp_path):
    rows = [("good film", 1), ("bad film", 0)] * 4
    packed = tmp_path / "reviews.csv.gz"
    packed.write_bytes(bad_files.gzip_bytes(csv_file(rows).read_bytes()))
    kw = dict(vocab_size=20, maxlen=4, val_size=2, cache_dir=str(tmp_path / "cache"))
    first = load_dataset_cached(str(packed), **kw)
    assert len(list((tmp_path / "cache").glob("data-*.npz"))) == 1
    assert _same(first, load_dataset_cached(str(packed), **kw))


@pytest.mark.parametrize("how", ["flipped", "truncated", "not gzip"])
def test_a_damaged_gzipped_csv_is_a_one_line_error(csv_file, tmp_path, how):
    rows = [(f"review number {i} " * 20, i % 2) for i in range(200)]
    data = csv_file(rows).read_bytes()
    path = tmp_path / "reviews.csv.gz"
    if how == "not gzip":
        path.write_bytes(data)
    else:
        bad_files.damaged_gzip(path, data, how)
    with pytest.raises(DataError) as err:
        load_dataset(str(path), vocab_size=20, maxlen=4, val_size=2)
    _one_line_data_error(err.value, str(path), "damaged gzip data (")


def test_a_gzipped_csv_that_expands_past_the_limit_is_refused(monkeypatch, tmp_path):
    from embtui.engine import data

    assert data.GZIP_MAX_BYTES == 2 * 1024**3
    # A 3 GB expansion would take seconds to reach the real limit: lower it instead.
    monkeypatch.setattr(data, "GZIP_MAX_BYTES", 4 * 1024 * 1024)
    path = bad_files.gzip_bomb(tmp_path / "reviews.csv.gz")
    with pytest.raises(DataError) as err:
        load_dataset(str(path), vocab_size=20, maxlen=4, val_size=2)
    _one_line_data_error(err.value, str(path), "expands to more than 4,194,304 bytes")
