"""`embtui inspect RUN` as text for a terminal: what a run learned (its words) and what it
gets wrong (its reviews), optionally beside a second run.

Words and review text come from data files and the experiment's name from its user: each is
escaped for the terminal (`embtui.escape.terminal`) before it is printed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from embtui.engine.data import tokenize
from embtui.escape import terminal
from embtui.inspect import analysis as an
from embtui.inspect.view import SCORED_HEADS, RunView, reliability, review_text

#: Words whose neighbours the report shows when the user names none: common in reviews,
#: and each with a sentiment or a topic worth comparing across arms.
DEFAULT_PROBES = ("good", "bad", "great", "boring", "acting")


def how_scored(view: RunView) -> str:
    if view.config.head == "flatten":
        return (
            "score: the word's embedding against the Dense kernel averaged over the "
            f"{view.config.maxlen} positions (what one occurrence adds to the logit)"
        )
    return (
        "score: the word's embedding against the Dense kernel (one occurrence adds "
        f"score/{view.config.maxlen} to the logit)"
    )


def as_word(text: str) -> str:
    """A word as the vocabulary holds it: standardised and tokenised as reviews are
    (`Good!` -> `good`); "" when nothing of it is a word."""
    tokens = tokenize(text)
    return tokens[0] if tokens else ""


def _words_line(items: Sequence[an.Scored]) -> str:
    return ", ".join(f"{terminal(s.word)} {s.score:+.3f}" for s in items)


def words_report(
    view: RunView,
    probes: Sequence[str] = DEFAULT_PROBES,
    k: int = 8,
    others: Sequence[RunView] = (),
) -> list[str]:
    """Top words, neighbours of the probe words (beside GloVe and any other runs) and, for
    a tuned-GloVe run, the words that moved most."""
    lines = [f"{view.label}: what its embedding learned"]
    scores = view.scores()
    if scores is None:
        why = (
            f"the {view.config.head} head has no per-word score"
            if view.config.head not in SCORED_HEADS
            else "this run did not keep its embedding table (keep_weights keeps the first "
            "seed's by default)"
        )
        lines.append(f"  words by score: none ({why})")
    else:
        up, down = an.extremes(scores, view.words, k)
        lines.append(f"  most positive: {_words_line(up)}")
        lines.append(f"  most negative: {_words_line(down)}")
        lines.append(f"  ({how_scored(view)})")
    table = view.table
    if table is None:
        lines.append("  neighbours: none (this run did not keep its embedding table)")
        return lines
    # Each table is read with its own run's vocabulary (a marked run may have another).
    columns: list[tuple[str, np.ndarray, list[str]]] = [(view.label, table, view.words)]
    if view.shape.glove is not None and view.arm != "glove":
        columns.append(("GloVe", view.shape.glove, view.words))
    columns += [
        (o.label, o.table, o.words) for o in others if o.table is not None and o is not view
    ]
    lines.append("  nearest neighbours (cosine):")
    for probe in probes:
        word = as_word(probe)
        lines.append(f"    {terminal(word or probe)}")
        for name, t, words in columns:
            try:
                found = an.neighbours(t, words, word, k=6)
                text = ", ".join(f"{terminal(n.word)} {n.similarity:.2f}" for n in found)
            except KeyError:
                text = "(not in the vocabulary)"
            lines.append(f"      {name:<24} {text}")
    if view.arm == "glove-tuned" and view.shape.glove is not None:
        moved = an.moved(table, view.shape.glove, view.words, k)
        lines.append(
            "  moved most from GloVe: "
            + ", ".join(f"{terminal(m.word)} {m.score:.3f}" for m in moved)
        )
    return lines


def reviews_report(view: RunView, other: RunView | None = None, k: int = 5) -> list[str]:
    """Accuracy and loss from the kept logits, the confusion matrix, the calibration table,
    the most confidently wrong reviews and, with a second run, where the two disagree."""
    r = reliability(view)
    c = r.confusion
    n = c.total
    lines = [
        f"{view.label}: its {n} validation reviews",
        f"  accuracy {r.accuracy:.4f}, loss {r.loss:.4f} (from the kept logits)",
        "  confusion       predicted neg  predicted pos",
        f"    negative      {c.true_negative:>13}  {c.false_positive:>13}",
        f"    positive      {c.false_negative:>13}  {c.true_positive:>13}",
        "  calibration     predicted  observed  reviews",
    ]
    for b in r.calibration:
        if b.count:
            lines.append(
                f"    {b.low:.1f}-{b.high:.1f}     {b.mean_predicted:9.3f}  {b.observed:8.3f}"
                f"  {b.count:7}"
            )
    source = (
        "their text from the data file"
        if view.texts is not None
        else "decoded from token ids, ? = not in the vocabulary; the data file is not here "
        "or no longer holds these reviews"
    )
    lines.append(f"  most confidently wrong ({source}):")
    logits, y = view.kept.logits, view.shape.y_val
    for i in an.confident_mistakes(logits, y, k):
        truth = "positive" if y[i] else "negative"
        p = float(an.sigmoid32(logits[i]))
        lines.append(
            f"    review {i} ({truth}, predicted p={p:.3f}): {terminal(review_text(view, i))}"
        )
    if other is not None:
        if len(other.kept.logits) != len(logits) or not view.same_reviews(other):
            lines.append(f"  {other.label} was validated on other reviews: no comparison")
            return lines
        differ = an.disagreements(logits, other.kept.logits)
        lines.append(f"  {view.label} and {other.label} disagree on {len(differ)} of {n} reviews:")
        for i in differ[:k]:
            truth = "positive" if y[i] else "negative"
            pa = float(an.sigmoid32(logits[i]))
            pb = float(an.sigmoid32(other.kept.logits[i]))
            lines.append(
                f"    review {i} ({truth}; p={pa:.3f} vs {pb:.3f}): "
                f"{terminal(review_text(view, i))}"
            )
    return lines
