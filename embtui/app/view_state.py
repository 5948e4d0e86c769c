"""What the console shows, read from the store in one go: plain data, no widgets.

The main screen rebuilds these on every refresh (at most a few times a second, and only
when the store changed), then hands them to the widgets. Keeping them free of Textual
makes the arithmetic (progress, latest and best values, grouping) easy to test.
"""

from __future__ import annotations

from dataclasses import dataclass

from embtui.store import EpochMetrics, ExperimentRow, RunRow, Store


@dataclass(frozen=True)
class ExperimentView:
    row: ExperimentRow
    done: int
    total: int

    @property
    def progress(self) -> str:
        return f"{self.done}/{self.total}"


@dataclass(frozen=True)
class RunView:
    run: RunRow
    epochs: tuple[EpochMetrics, ...]
    total_epochs: int

    @property
    def id(self) -> int:
        return self.run.id

    @property
    def latest(self) -> EpochMetrics | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def best_val_acc(self) -> float | None:
        return max(e.val_acc for e in self.epochs) if self.epochs else None

    @property
    def label(self) -> str:
        """Short enough for a chart legend: run id, size, arm and seed."""
        return f"#{self.run.id} {self.run.size}/{self.run.embedding}/s{self.run.seed}"


@dataclass(frozen=True)
class GroupView:
    """All seeds of one (size, arm) cell, for the grouped runs table."""

    size: int
    arm: str
    runs: tuple[RunView, ...]

    @property
    def key(self) -> str:
        return f"{self.size}/{self.arm}"

    @property
    def status(self) -> str:
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r.run.status] = counts.get(r.run.status, 0) + 1
        return " ".join(f"{n} {s}" for s, n in counts.items())

    @property
    def running(self) -> bool:
        return any(r.run.status == "running" for r in self.runs)


def load_experiments(store: Store) -> list[ExperimentView]:
    out = []
    for exp in store.experiments():
        runs = store.runs(exp.id)
        out.append(ExperimentView(exp, sum(r.status == "done" for r in runs), len(runs)))
    return out


def load_runs(store: Store, experiment: ExperimentRow) -> list[RunView]:
    epochs = store.epochs(experiment.id)
    total = int(experiment.config.get("epochs", 0))
    return [RunView(r, tuple(epochs.get(r.id, ())), total) for r in store.runs(experiment.id)]


def group_runs(runs: list[RunView]) -> list[GroupView]:
    """Runs grouped by (size, arm), in grid order (the order the runs were queued)."""
    cells: dict[tuple[int, str], list[RunView]] = {}
    for r in runs:
        cells.setdefault((r.run.size, r.run.embedding), []).append(r)
    return [GroupView(size, arm, tuple(rs)) for (size, arm), rs in cells.items()]
