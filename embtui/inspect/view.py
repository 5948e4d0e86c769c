"""One run's kept arrays with what they mean: the run's row, its arm's settings and the
vocabulary and validation set its experiment kept (`embtui.inspect.kept`).

`load_run` reads them from the store and the files beside it; the analyses
(`embtui.inspect.analysis`) and the text reports below work on the result. Nothing trains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embtui.config import ArmConfig, from_mapping
from embtui.engine.data import validation_texts
from embtui.errors import EmbtuiError, StoreError
from embtui.inspect import analysis as an
from embtui.inspect.kept import Kept, ShapeData, learned_path, load, load_shape
from embtui.store import RunRow, Store

#: Heads for which a word's score against the Dense kernel is defined.
SCORED_HEADS = ("flatten", "avgpool")


@dataclass(frozen=True)
class RunView:
    run_id: int
    experiment_id: int
    experiment_name: str
    arm: str
    size: int
    seed: int
    config: ArmConfig
    shape: ShapeData
    kept: Kept
    #: The validation reviews' texts when the source still gives them (else None: the
    #: reviews are shown decoded from their token ids).
    texts: list[str] | None = None
    #: The fingerprint of the experiment's validation reviews ("" when unknown).
    val_reviews: str = ""

    def same_reviews(self, other: RunView) -> bool:
        """Whether two runs were validated on the same reviews in the same order."""
        if self.val_reviews and other.val_reviews:
            return self.val_reviews == other.val_reviews
        return np.array_equal(self.shape.y_val, other.shape.y_val) and (
            self.experiment_id == other.experiment_id
        )

    @property
    def label(self) -> str:
        """How the console names the run: `#id size/arm/s<seed>`."""
        return f"#{self.run_id} {self.size}/{self.arm}/s{self.seed}"

    @property
    def words(self) -> list[str]:
        return self.shape.words

    @property
    def table(self) -> np.ndarray | None:
        """The run's final embedding table: kept for a trained table, GloVe's for frozen."""
        if self.kept.table is not None:
            return self.kept.table
        if self.arm == "glove":
            return self.shape.glove
        return None

    def scores(self) -> np.ndarray | None:
        """Each word's score (`analysis.word_scores`), or None where it is not defined."""
        table = self.table
        if table is None or self.kept.kernel is None or self.config.head not in SCORED_HEADS:
            return None
        return an.word_scores(table, self.kept.kernel, self.config.head, self.config.maxlen)


def load_run(
    store: Store,
    run_id: int,
    *,
    texts: bool = True,
    table: bool = True,
    shapes: dict[tuple[int, int, int], ShapeData | None] | None = None,
) -> RunView:
    """A run's view; a StoreError in one line when the run is unknown or kept nothing.

    `texts=False` leaves the review texts unread and `table=False` the run's table (a
    report's error counts need neither); `shapes` caches the experiments' shape files
    across calls.
    """
    run = store.run(run_id)
    experiment = store.experiment(run.experiment_id)
    try:
        full = from_mapping(experiment.config, new=False)
        cfg = full.arm(run.factors)
    except EmbtuiError as exc:
        raise StoreError(
            f"run {run_id}: its experiment's configuration is not valid ({exc})"
        ) from None
    kept = load(store.path, run_id, table=table)
    key = (run.experiment_id, cfg.vocab_size, cfg.maxlen)
    if shapes is not None and key in shapes:
        shape = shapes[key]
    else:
        shape = load_shape(store.path, *key)
        if shapes is not None:
            shapes[key] = shape
    if kept is None or shape is None:
        raise StoreError(f"run {run_id} kept no weights or logits ({_why_not(store, run, kept)})")
    read = None
    if texts:
        recorded = (experiment.meta.get("fingerprint") or {}).get("val_reviews") or ""
        read = validation_texts(full.dataset, full.val_size, str(recorded))
    return RunView(
        run_id,
        run.experiment_id,
        experiment.name,
        run.embedding,
        run.size,
        run.seed,
        cfg,
        shape,
        kept,
        read if read is not None and len(read) == len(shape.y_val) else None,
        str((experiment.meta.get("fingerprint") or {}).get("val_reviews") or ""),
    )


def _why_not(store: Store, run: RunRow, kept: Kept | None) -> str:
    """Why a run has nothing to inspect, in a few words."""
    if run.status != "done":
        return f"it is {run.status}: a run keeps its arrays when it finishes"
    if learned_path(store.path, run.id).exists():
        if kept is None:
            return f"its file {learned_path(store.path, run.id)} cannot be read"
        return "its experiment's vocabulary and validation set were not kept"
    return "it was trained before embtui kept what runs learned, or its files were not written"


@dataclass(frozen=True)
class Reliability:
    """What the kept logits say of the validation set: accuracy and loss recomputed, the
    confusion matrix and the calibration bins."""

    accuracy: float
    loss: float
    confusion: an.Confusion
    calibration: list[an.CalibrationBin]


def reliability(view: RunView) -> Reliability:
    logits, y = view.kept.logits, view.shape.y_val
    return Reliability(
        an.accuracy(logits, y),
        an.bce_from_logits(logits, y),
        an.confusion(logits, y),
        an.calibration(logits, y),
    )


def review_text(view: RunView, index: int, limit: int = 300) -> str:
    """A validation review: its text from the source when it still matches, else as the model
    saw it, decoded from its token ids (cut to `limit` characters)."""
    if view.texts is not None:
        text = " ".join(view.texts[index].split())
    else:
        text = an.decode(view.shape.x_val[index], view.words)
    return text if len(text) <= limit else text[: limit - 1] + "…"
