"""What a run is judged by: the metrics that summarise its per-epoch history.

One home for their names, so the CLI's `--metric` choices, the statistics, the exports and
the console's compare view list the same ones in the same words. No numpy or scipy here:
`embtui --help` imports it.

* ``final``: validation accuracy of the last epoch;
* ``best``: the highest validation accuracy of any epoch (optimistic: it picks the epoch
  on the validation data it reports);
* ``at_min_val_loss``: validation accuracy at the epoch of lowest validation loss, the
  first such epoch on ties (what early stopping on val_loss would have kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

#: Every metric, in the order they are offered.
METRICS: tuple[str, ...] = ("final", "best", "at_min_val_loss")

#: In sentences: "Metric: final-epoch validation accuracy, ...".
METRIC_LABELS: dict[str, str] = {
    "final": "final-epoch validation accuracy",
    "best": "best-epoch validation accuracy",
    "at_min_val_loss": "validation accuracy at the lowest validation loss",
}


#: In titles and column headers, where space is short.
METRIC_TITLES: dict[str, str] = {
    "final": "final-epoch val_acc",
    "best": "best-epoch val_acc",
    "at_min_val_loss": "val_acc at the epoch of lowest val_loss",
}


def check_metric(metric: str) -> None:
    """Refuse a metric name that is not one of METRICS."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")


def metric_value(epochs: Sequence[Mapping], metric: str = "final") -> float | None:
    """One run's value of `metric` from its epoch history, or None if it has no epochs.

    `epochs` holds dicts with keys epoch, loss, acc, val_loss, val_acc; they are put in
    epoch order (stable) before use. For ``at_min_val_loss``, epochs whose val_loss is not a
    finite number are skipped; if none is finite the result is None.
    """
    check_metric(metric)
    if not epochs:
        return None
    ordered = sorted(epochs, key=lambda e: e["epoch"])
    if metric == "final":
        return float(ordered[-1]["val_acc"])
    if metric == "best":
        return float(max(float(e["val_acc"]) for e in ordered))
    best_loss = math.inf
    chosen: Mapping | None = None
    for e in ordered:
        loss = float(e["val_loss"])
        if math.isfinite(loss) and loss < best_loss:  # strict: first epoch wins ties
            best_loss, chosen = loss, e
    return None if chosen is None else float(chosen["val_acc"])
