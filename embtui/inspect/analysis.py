"""What a trained run learned, computed in numpy from its stored arrays (nothing trains again).

A run of embtui's model is `Embedding -> head -> Dense(1, sigmoid)`. From its final embedding
table, its Dense kernel and its validation logits this module answers a researcher's
questions about it:

- which words sit nearest a word in this run's embedding (cosine similarity);
- which words the model reads as most positive or negative (`word_scores`);
- which words moved most from their GloVe vectors when GloVe was fine-tuned;
- a 2-D projection (PCA) of chosen words;
- which validation reviews it gets most confidently wrong, where two runs disagree, its
  confusion matrix and its calibration.

Logits, not probabilities, are what a run keeps: Keras computes the loss from the logits
behind the sigmoid, and saturated probabilities round to 1.0 in float32. `val_loss` and
`val_acc` recomputed here from the logits reproduce what the trainer recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Sequence indices below this are not words (0 pad, 1 start, 2 out-of-vocabulary, 3 unused).
FIRST_WORD = 4


def sigmoid32(logits: np.ndarray) -> np.ndarray:
    """The model's predicted probabilities as float32 arithmetic gives them."""
    x = np.asarray(logits, dtype=np.float32)
    return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def predictions(logits: np.ndarray) -> np.ndarray:
    """The predicted class, as the trainer's accuracy counts it (probability above 0.5)."""
    return (sigmoid32(logits) > np.float32(0.5)).astype(np.int8)


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(predictions(logits) == np.asarray(y).astype(np.int8)))


def bce_from_logits(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean binary cross-entropy from logits, computed stably in float64."""
    x = np.asarray(logits, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    return float(np.mean(np.maximum(x, 0.0) - x * t + np.log1p(np.exp(-np.abs(x)))))


def _unit_rows(table: np.ndarray) -> np.ndarray:
    t = np.asarray(table, dtype=np.float64)
    norms = np.linalg.norm(t, axis=1, keepdims=True)
    return np.divide(t, norms, out=np.zeros_like(t), where=norms > 0)


@dataclass(frozen=True)
class Neighbour:
    word: str
    similarity: float


def neighbours(table: np.ndarray, words: Sequence[str], word: str, k: int = 10) -> list[Neighbour]:
    """The k words nearest `word` by cosine similarity in this embedding table.

    `words[i]` is the word of row i ("" for rows that are no word); only word rows are
    candidates, the word itself excluded. Ties keep the lower index (a stable order).
    Raises KeyError when `word` has no row in the table.
    """
    index = word_row(words, word)
    unit = _unit_rows(table)
    similarity = unit @ unit[index]
    candidates = [i for i in range(FIRST_WORD, len(words)) if words[i] and i != index]
    order = sorted(candidates, key=lambda i: (-similarity[i], i))[:k]
    return [Neighbour(words[i], float(similarity[i])) for i in order]


def word_row(words: Sequence[str], word: str) -> int:
    """The table row of `word`; KeyError (naming it) when the vocabulary lacks it."""
    for i in range(FIRST_WORD, len(words)):
        if words[i] == word:
            return i
    raise KeyError(word)


def word_scores(table: np.ndarray, kernel: np.ndarray, head: str, maxlen: int) -> np.ndarray:
    """How strongly each word pushes the logit up (positive) or down (negative).

    For the `flatten` head the Dense kernel has one weight vector per position
    (`maxlen x dim`); a word's score is its embedding against that kernel averaged over the
    positions, i.e. what one occurrence adds to the logit at an average position. For
    `avgpool` the kernel is one vector and the score is the word's embedding against it
    (each occurrence adds score / maxlen to the logit).
    """
    table = np.asarray(table, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64).reshape(-1)
    dim = table.shape[1]
    if head == "flatten":
        direction = k.reshape(maxlen, dim).mean(axis=0)
    elif head == "avgpool":
        direction = k.reshape(dim)
    else:
        raise ValueError(f"word scores are defined for the flatten and avgpool heads, not {head!r}")
    return table @ direction


@dataclass(frozen=True)
class Scored:
    word: str
    score: float


def extremes(
    scores: np.ndarray, words: Sequence[str], k: int = 15
) -> tuple[list[Scored], list[Scored]]:
    """The k most positive and the k most negative words (ties by lower index)."""
    rows = [i for i in range(FIRST_WORD, len(words)) if words[i]]
    up = sorted(rows, key=lambda i: (-scores[i], i))[:k]
    down = sorted(rows, key=lambda i: (scores[i], i))[:k]
    return (
        [Scored(words[i], float(scores[i])) for i in up],
        [Scored(words[i], float(scores[i])) for i in down],
    )


def moved(tuned: np.ndarray, glove: np.ndarray, words: Sequence[str], k: int = 15) -> list[Scored]:
    """The words whose vectors moved furthest (Euclidean) from their GloVe start."""
    distance = np.linalg.norm(
        np.asarray(tuned, dtype=np.float64) - np.asarray(glove, dtype=np.float64), axis=1
    )
    rows = [i for i in range(FIRST_WORD, len(words)) if words[i]]
    order = sorted(rows, key=lambda i: (-distance[i], i))[:k]
    return [Scored(words[i], float(distance[i])) for i in order]


def pca2(vectors: np.ndarray) -> np.ndarray:
    """The rows projected on their first two principal components (n x 2).

    Each component's sign is fixed so that its largest loading is positive, so the same
    vectors always draw the same picture.
    """
    v = np.asarray(vectors, dtype=np.float64)
    centred = v - v.mean(axis=0)
    if len(v) < 2:
        return np.zeros((len(v), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    components = vt[:2]
    for row in components:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    out = centred @ components.T
    if out.shape[1] < 2:
        out = np.hstack([out, np.zeros((len(v), 2 - out.shape[1]))])
    return out


@dataclass(frozen=True)
class Confusion:
    """Counts of (true label, predicted label) over a validation set."""

    true_negative: int
    false_positive: int
    false_negative: int
    true_positive: int

    @property
    def total(self) -> int:
        return self.true_negative + self.false_positive + self.false_negative + self.true_positive

    @property
    def errors(self) -> int:
        return self.false_positive + self.false_negative


def confusion(logits: np.ndarray, y: np.ndarray) -> Confusion:
    predicted = predictions(logits)
    truth = np.asarray(y).astype(np.int8)
    return Confusion(
        int(np.sum((truth == 0) & (predicted == 0))),
        int(np.sum((truth == 0) & (predicted == 1))),
        int(np.sum((truth == 1) & (predicted == 0))),
        int(np.sum((truth == 1) & (predicted == 1))),
    )


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    count: int
    mean_predicted: float | None
    observed: float | None  # the share of positive reviews among those in the bin


def calibration(logits: np.ndarray, y: np.ndarray, bins: int = 10) -> list[CalibrationBin]:
    """Predicted probability against the observed rate of positive reviews, in equal bins
    of [0, 1] (the last bin includes 1.0)."""
    p = sigmoid32(logits).astype(np.float64)
    truth = np.asarray(y, dtype=np.float64)
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        out.append(
            CalibrationBin(
                b / bins,
                (b + 1) / bins,
                n,
                float(p[inside].mean()) if n else None,
                float(truth[inside].mean()) if n else None,
            )
        )
    return out


def confident_mistakes(logits: np.ndarray, y: np.ndarray, k: int = 10) -> list[int]:
    """Indices of the validation reviews predicted wrong with the largest |logit|, most
    confident first (ties by lower index)."""
    x = np.asarray(logits, dtype=np.float64)
    wrong = np.flatnonzero(predictions(x) != np.asarray(y).astype(np.int8))
    return sorted(wrong.tolist(), key=lambda i: (-abs(x[i]), i))[:k]


def disagreements(a: np.ndarray, b: np.ndarray, k: int | None = None) -> list[int]:
    """Indices of the reviews two runs classify differently, the largest combined
    confidence first."""
    xa = np.asarray(a, dtype=np.float64)
    xb = np.asarray(b, dtype=np.float64)
    differ = np.flatnonzero(predictions(xa) != predictions(xb))
    order = sorted(differ.tolist(), key=lambda i: (-(abs(xa[i]) + abs(xb[i])), i))
    return order if k is None else order[:k]


def decode(ids: np.ndarray, words: Sequence[str]) -> str:
    """A review as the model saw it, from its token ids: padding and the start mark dropped,
    out-of-vocabulary words shown as `?`."""
    out = []
    for i in np.asarray(ids).tolist():
        if i <= 1 or i == 3:
            continue
        if i == 2 or i >= len(words) or not words[i]:
            out.append("?")
        else:
            out.append(words[i])
    return " ".join(out)
