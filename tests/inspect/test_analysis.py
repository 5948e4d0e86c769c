"""The inspect analyses against brute force and against the model's own arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from embtui.inspect import analysis as an

WORDS = ["", "", "", "", "good", "bad", "great", "awful", "film", "plot"]


def table(seed: int = 0, dim: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(len(WORDS), dim)).astype(np.float32)


def test_neighbours_equal_brute_force_cosine() -> None:
    t = table()
    got = an.neighbours(t, WORDS, "good", k=3)
    target = t[4].astype(np.float64)
    brute = []
    for i in range(4, len(WORDS)):
        if i == 4:
            continue
        v = t[i].astype(np.float64)
        brute.append((float(v @ target / np.linalg.norm(v) / np.linalg.norm(target)), WORDS[i]))
    brute.sort(reverse=True)
    assert [n.word for n in got] == [w for _, w in brute[:3]]
    assert [n.similarity for n in got] == pytest.approx([s for s, _ in brute[:3]], abs=1e-12)


def test_neighbours_of_an_unknown_word_name_it() -> None:
    with pytest.raises(KeyError, match="zebra"):
        an.neighbours(table(), WORDS, "zebra")


def test_flatten_score_is_one_occurrences_share_of_the_logit() -> None:
    maxlen, dim = 5, 6
    t = table(dim=dim)
    kernel = np.random.default_rng(1).normal(size=(maxlen * dim, 1))
    scores = an.word_scores(t, kernel, "flatten", maxlen)
    for w in range(4, len(WORDS)):
        flat = np.tile(t[w].astype(np.float64), maxlen)  # a review of maxlen copies of w
        assert flat @ kernel[:, 0] == pytest.approx(maxlen * scores[w], rel=1e-12)


def test_avgpool_score_is_the_logit_of_a_review_of_that_word() -> None:
    t = table()
    kernel = np.random.default_rng(2).normal(size=(6, 1))
    scores = an.word_scores(t, kernel, "avgpool", maxlen=7)
    assert scores[5] == pytest.approx(float(t[5].astype(np.float64) @ kernel[:, 0]))
    with pytest.raises(ValueError, match="lstm"):
        an.word_scores(t, kernel, "lstm", 7)


def test_extremes_and_moved() -> None:
    scores = np.array([9, 9, 9, 9, 3.0, -2.0, 5.0, -4.0, 0.1, 0.0])
    up, down = an.extremes(scores, WORDS, k=2)
    assert [s.word for s in up] == ["great", "good"]  # rows 0-3 are no words
    assert [s.word for s in down] == ["awful", "bad"]
    glove = table()
    tuned = glove.copy()
    tuned[8] += 3.0
    tuned[5] += 1.0
    assert [m.word for m in an.moved(tuned, glove, WORDS, k=2)] == ["film", "bad"]


def test_pca_is_deterministic_and_keeps_the_largest_spread_first() -> None:
    rng = np.random.default_rng(3)
    v = rng.normal(size=(20, 4)) * np.array([10.0, 1.0, 0.1, 0.1])
    p = an.pca2(v)
    assert p.shape == (20, 2)
    assert np.var(p[:, 0]) > np.var(p[:, 1]) > 0
    assert np.array_equal(p, an.pca2(v.copy()))
    assert np.allclose(np.abs(p[:, 0]), np.abs(v[:, 0] - v[:, 0].mean()), rtol=0.05, atol=0.5)


def test_confusion_calibration_mistakes_disagreements() -> None:
    logits = np.array([3.0, -2.0, 0.5, -0.1, 4.0, -5.0], dtype=np.float32)
    y = np.array([1, 0, 0, 1, 0, 0])
    c = an.confusion(logits, y)
    assert (c.true_negative, c.false_positive, c.false_negative, c.true_positive) == (2, 2, 1, 1)
    assert an.accuracy(logits, y) == pytest.approx(3 / 6)
    assert an.confident_mistakes(logits, y) == [4, 2, 3]
    bins = an.calibration(logits, y)
    assert sum(b.count for b in bins) == 6
    top = bins[-1]  # sigmoid(3) and sigmoid(4): one positive, one negative
    assert top.count == 2 and top.observed == pytest.approx(0.5)
    other = np.array([3.0, 2.0, 0.5, -0.1, -4.0, -5.0])
    assert an.disagreements(logits, other) == [4, 1]


def test_loss_from_logits_matches_the_definition() -> None:
    logits = np.array([30.0, -2.0, 0.5])
    y = np.array([1, 0, 1])
    p = 1 / (1 + np.exp(-logits))
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert an.bce_from_logits(logits, y) == pytest.approx(expected, rel=1e-12)


def test_decode_drops_padding_and_marks_unknown_words() -> None:
    assert an.decode(np.array([0, 0, 1, 4, 2, 8, 99]), WORDS) == "good ? film ?"
