"""Validation texts are read back from the source only while it gives the recorded reviews."""

from __future__ import annotations

import csv

import numpy as np

from embtui.engine.data import TEXT_SPLIT_SEED, load_dataset, tokenize, validation_texts


def write_reviews(path, n=40, edit=None, row=0):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["review", "sentiment"])
        for i in range(n):
            text = f"review number {i} was {'great' if i % 2 else 'awful'}"
            w.writerow([edit if edit is not None and i == row else text, i % 2])


def test_texts_come_back_in_validation_order(tmp_path):
    path = tmp_path / "r.csv"
    write_reviews(path)
    data = load_dataset(str(path), vocab_size=100, maxlen=10, val_size=8)
    texts = validation_texts(str(path), 8, data.val_reviews)
    assert texts is not None and len(texts) == 8
    for text, ids in zip(texts, data.x_val, strict=True):  # each text is its row's review
        number = int(text.split()[2])
        index = data.word_index.get(str(number))
        assert index is None or index in ids.tolist()
    assert [("great" in t) for t in texts] == [bool(v) for v in data.y_val]


def test_an_edited_source_gives_no_text(tmp_path):
    path = tmp_path / "r.csv"
    write_reviews(path)
    digest = load_dataset(str(path), vocab_size=100, maxlen=10, val_size=8).val_reviews
    val_row = int(np.random.default_rng(TEXT_SPLIT_SEED).permutation(40)[0])
    train_row = int(np.random.default_rng(TEXT_SPLIT_SEED).permutation(40)[-1])
    write_reviews(path, edit="someone else's words", row=train_row)
    assert validation_texts(str(path), 8, digest) is not None  # a training row changed
    write_reviews(path, edit="someone else's words", row=val_row)
    assert validation_texts(str(path), 8, digest) is None
    assert validation_texts(str(tmp_path / "gone.csv"), 8, digest) is None
    assert validation_texts("keras-imdb", 8, digest) is None


def test_an_aclimdb_folders_validation_texts_in_validation_order(tmp_path):
    from tests.helpers import write_acl

    root = write_acl(tmp_path / "aclImdb")
    data = load_dataset(str(root), vocab_size=100, maxlen=40, val_size=12)
    texts = validation_texts(str(root), 12, data.val_reviews)
    assert texts is not None and len(texts) == 12
    for text, ids in zip(texts, data.x_val, strict=True):  # each text encodes to its row
        expected = [data.word_index.get(w, 2) for w in tokenize(text)]
        assert [i for i in ids.tolist() if i > 1] == expected[-40:]


def test_inspect_refuses_what_is_no_run_id_in_one_line(run_cli, tmp_path):
    """Bad input to `embtui inspect`: one line, exit 2, for a word, zero and an unknown id."""
    store = tmp_path / "s.sqlite"
    for arg, says in (
        ("x", "a run id is a whole number from 1, as `embtui list ID` shows, not 'x'"),
        ("0", "not '0'"),
    ):
        r = run_cli(["inspect", arg, "--store", str(store)])
        assert r.rc == 2 and says in r.stderr and len(r.stderr.splitlines()) == 1, r.stderr
        assert not store.exists()  # nothing created
