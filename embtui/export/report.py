"""Everything an export says about one experiment, read once from the store.

The Markdown, CSV and JSON writers and the console's compare view all render a `Report`, so
they cannot disagree: the numbers come from the store's per-epoch rows and the statistics
from `embtui.stats`, computed here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from embtui import stats
from embtui.store import EpochMetrics, ExperimentRow, RunRow, Store


@dataclass(frozen=True)
class RunReport:
    run: RunRow
    epochs: tuple[EpochMetrics, ...]

    @property
    def final_val_acc(self) -> float | None:
        return self.epochs[-1].val_acc if self.epochs else None

    @property
    def best_val_acc(self) -> float | None:
        return max(e.val_acc for e in self.epochs) if self.epochs else None

    def value(self, metric: str) -> float | None:
        return stats.metric_value([e.as_dict() for e in self.epochs], metric)

    def cost(self) -> dict[str, float | None]:
        """What the run cost, as every export names it: seconds, MB (10^6 bytes), percent."""
        run = self.run
        return {
            "wall_s": run.wall_s,
            "peak_rss_mb": _mb(run.peak_rss),
            "peak_gpu_mem_mb": _mb(run.peak_gpu_mem),
            "mean_gpu_util": run.mean_gpu_util,
        }


def _mb(value: float | None) -> float | None:
    return None if value is None else value / 1e6


@dataclass(frozen=True)
class CellMeans:
    """The plain per-cell means of the engine's summary (final and best val_acc)."""

    size: int
    embedding: str
    n: int
    final_val_acc_mean: float
    best_val_acc_mean: float


@dataclass(frozen=True)
class Report:
    experiment: ExperimentRow
    runs: tuple[RunReport, ...]
    summary: stats.Summary
    means: tuple[CellMeans, ...]

    @property
    def arms(self) -> tuple[str, ...]:
        return _arms(self.experiment, [r.run for r in self.runs])

    @property
    def done(self) -> tuple[RunReport, ...]:
        """Runs that trained every epoch: the only ones the statistics use."""
        return tuple(r for r in self.runs if r.run.status == "done" and r.epochs)


def build_report(
    store: Store, experiment_id: int, *, metric: str = "final", alpha: float = 0.05
) -> Report:
    experiment = store.experiment(experiment_id)
    epochs = store.epochs(experiment_id)
    runs = tuple(RunReport(r, tuple(epochs.get(r.id, ()))) for r in store.runs(experiment_id))
    done = [r for r in runs if r.run.status == "done" and r.epochs]
    arms = _arms(experiment, [r.run for r in runs]) or None
    summary = stats.summarize(
        [(r.run.size, r.run.embedding, v) for r in done if (v := r.value(metric)) is not None],
        arms=arms,
        metric=metric,
        alpha=alpha,
        chance=experiment.meta.get("chance"),
    )
    return Report(experiment, runs, summary, _means(done, arms or ()))


def _arms(experiment: ExperimentRow, runs: list[RunRow]) -> tuple[str, ...]:
    """The configured arms in their order, then any arm that only the runs name.

    Runs recorded by `embtui.callbacks.EmbtuiCallback` can add arms (a model's name) to an
    experiment after its configuration was written.
    """
    arms = list(experiment.config.get("embeddings", ()))
    arms += dict.fromkeys(r.embedding for r in runs if r.embedding not in arms)
    return tuple(arms)


def _mean(values: Iterable[float | None]) -> float:
    """The mean of the runs' values (finished runs all have one)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known)


def _means(done: list[RunReport], arms: tuple[str, ...]) -> tuple[CellMeans, ...]:
    cells: dict[tuple[int, str], list[RunReport]] = {}
    for r in done:
        cells.setdefault((r.run.size, r.run.embedding), []).append(r)
    order = {arm: i for i, arm in enumerate(arms)}
    out = []
    for (size, arm), rs in sorted(
        cells.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99))
    ):
        out.append(
            CellMeans(
                size,
                arm,
                len(rs),
                _mean(r.final_val_acc for r in rs),
                _mean(r.best_val_acc for r in rs),
            )
        )
    return tuple(out)
