"""What the console shows, read from the store in one go: plain data, no widgets.

The main screen rebuilds these on every refresh (at most a few times a second, and only
when the store changed), then hands them to the widgets. Keeping them free of Textual
makes the arithmetic (progress, latest and best values, grouping, filtering, sorting,
smoothing, per-size means) easy to test.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from embtui.config import applicable, arm_keys, arm_name, level_text
from embtui.display import fit_number, short_reason, status_with_reason
from embtui.engine.events import RunFinished, RunStarted, Stage
from embtui.engine.listeners import GridListener, InFlight
from embtui.errors import EmbtuiError, printable
from embtui.store import EpochMetrics, ExperimentRow, RunRow, Store


@dataclass(frozen=True)
class Activity:
    """What the console is doing for one experiment (None: one not yet recorded), as the
    status line says it while that experiment is on screen."""

    experiment_id: int | None
    text: str
    error: bool = False


class TrainingLine(GridListener):
    """The status line's words while the console trains, kept up to date from the engine's
    events: the run and its progress ("run 2/4 (+1 more running): epoch 3/10 val_acc
    0.8123"), what it trains ("size 1000, learned, seed 1 on CPU"), the stage under way.
    Progress comes first: a narrow terminal (80 columns) cuts the end of the line. With
    several runs at once (worker processes, Ray), each epoch is named with its own run and
    that run's epochs."""

    def __init__(self) -> None:
        self.runs = InFlight()
        self.run = ""
        self.detail = ""
        self.stage = ""

    def text(self, *, stopping: bool = False) -> str:
        """The line; "stopping…" first once a stop was asked for (a narrow line cuts the
        end)."""
        parts = [self.run, self.detail, self.stage]
        if stopping:
            parts.insert(0, parts.pop())
        return "  ·  ".join(p for p in parts if p)

    def _name(self, run_id: int) -> str:
        run = self.runs.get(run_id)
        if run is None:
            return ""
        others = self.runs.others(run_id)
        return f"{run.name} (+{others} more running)" if others > 0 else run.name

    @staticmethod
    def _what(run: RunStarted) -> str:
        return f"size {run.size}, {run.label}, seed {run.seed} on {run.device}"

    def on_stage(self, event: Stage) -> None:
        self.stage = f"{event.text.strip()}…"

    def on_run_begin(self, event: RunStarted) -> None:
        self.runs.on_run_begin(event)
        self.run = f"{self._name(event.run_id)}: {self._what(event)}"
        self.detail = self.stage = ""

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        run = self.runs.get(metrics.run_id)
        total = f"/{run.epochs}" if run is not None and run.epochs else ""
        progress = f"epoch {metrics.epoch}{total} val_acc {metrics.val_acc:.4f}"
        self.run = f"{self._name(metrics.run_id)}: {progress}" if run is not None else progress
        self.detail = self._what(run.started) if run is not None else ""
        self.stage = ""

    def on_run_end(self, event: RunFinished) -> None:
        self.runs.on_run_end(event)


@dataclass(frozen=True)
class ExperimentView:
    row: ExperimentRow
    done: int
    total: int
    failed: int = 0

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def progress(self) -> str:
        return f"{self.done}/{self.total}"

    @property
    def name(self) -> str:
        """The name with control characters escaped (safe to draw)."""
        return printable(self.row.name)

    def describe(self) -> str:
        """One line for the status bar: what this experiment is and what can be done."""
        row = self.row
        text = f"#{row.id} {self.name} · {row.status} · {self.progress} runs done"
        if self.failed:
            text += f" · {self.failed} failed"
        if row.status == "running":
            text += f" · trained by pid {row.pid} on {row.host}"
        elif row.status in ("interrupted", "cancelled", "failed"):
            text += " · r resumes"
        return text


@dataclass(frozen=True)
class RunView:
    run: RunRow
    epochs: tuple[EpochMetrics, ...]
    total_epochs: int
    arm: str = ""  # named by the factors that vary, as the report names it ("glove lr=0.01")

    def __post_init__(self) -> None:
        if not self.arm:
            object.__setattr__(self, "arm", self.run.embedding)

    @property
    def id(self) -> int:
        return self.run.id

    @property
    def running(self) -> bool:
        return self.run.status == "running"

    @property
    def latest(self) -> EpochMetrics | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def best_val_acc(self) -> float | None:
        return max(e.val_acc for e in self.epochs) if self.epochs else None

    @property
    def label(self) -> str:
        """Short enough for a chart legend: run id, size, arm and seed."""
        return f"#{self.run.id} {self.run.size}/{self.arm}/s{self.run.seed}"

    @property
    def status_text(self) -> str:
        """`failed: NaN` for a failed run (the reason in five characters), else the status."""
        return status_with_reason(self.run.status, self.run.error)

    @property
    def note(self) -> str | None:
        """What the epoch pane says under a run's epochs: why it failed or stopped."""
        status, error = self.run.status, self.run.error
        done = len(self.epochs)
        if status == "failed":
            return f"✗ failed after {done} of {self.total_epochs} epochs: {error or 'no reason'}"
        if status in ("cancelled", "interrupted"):
            return f"{status} after {done} of {self.total_epochs} epochs · r resumes"
        return None

    def values(self) -> dict[str, str]:
        """Each column's value as plain text: what a filter matches and `y` copies."""
        last = self.latest
        return {
            "size": str(self.run.size),
            "arm": self.arm,
            "seed": str(self.run.seed),
            "status": self.run.status,
            "reason": short_reason(self.run.error),
            "epoch": f"{len(self.epochs)}/{self.total_epochs}",
            "loss": fit_number(last.loss if last else None),
            "acc": fit_number(last.acc if last else None),
            "val_loss": fit_number(last.val_loss if last else None),
            "val_acc": fit_number(last.val_acc if last else None),
            "best": fit_number(self.best_val_acc),
        }

    def sort_value(self, column: str) -> float | str | None:
        last = self.latest
        values: dict[str, float | str | None] = {
            "size": self.run.size,
            "arm": self.arm,
            "seed": self.run.seed,
            "status": self.run.status,
            "epoch": len(self.epochs),
            "loss": last.loss if last else None,
            "acc": last.acc if last else None,
            "val_loss": last.val_loss if last else None,
            "val_acc": last.val_acc if last else None,
            "best": self.best_val_acc,
            "wall_s": self.run.wall_s,
            "peak_rss": self.run.peak_rss,
            "peak_gpu_mem": self.run.peak_gpu_mem,
            "mean_gpu_util": self.run.mean_gpu_util,
        }
        return values.get(column)


@dataclass(frozen=True)
class GroupView:
    """All seeds of one (size, arm) cell, for the grouped runs table; grouped by a factor,
    the runs of one (size, that factor's value) cell, pooled over the other factors, and
    `arm` is that value as an arm's name shows it (`glove`, `lr=0.01`)."""

    size: int
    arm: str
    runs: tuple[RunView, ...]

    @property
    def finals(self) -> list[float]:
        """The final val_acc of each finished run."""
        return [r.latest.val_acc for r in self.runs if r.run.status == "done" and r.latest]

    @property
    def key(self) -> str:
        return f"{self.size}/{self.arm}"

    @property
    def status(self) -> str:
        counts: dict[str, int] = {}
        for r in self.runs:
            counts[r.run.status] = counts.get(r.run.status, 0) + 1
        return ", ".join(f"{n} {s}" for s, n in counts.items())

    @property
    def running(self) -> bool:
        return any(r.running for r in self.runs)

    def sort_value(self, column: str) -> float | str | None:
        finals = self.finals
        bests = [b for r in self.runs if (b := r.best_val_acc) is not None]
        values: dict[str, float | str | None] = {
            "size": self.size,
            "arm": self.arm,
            "status": self.status,
            "val_acc": sum(finals) / len(finals) if finals else None,
            "best": sum(bests) / len(bests) if bests else None,
        }
        if column in ("wall_s", "mean_gpu_util"):
            known = [v for r in self.runs if (v := getattr(r.run, column)) is not None]
            return sum(known) / len(known) if known else None
        if column in ("peak_rss", "peak_gpu_mem"):
            return max(
                (v for r in self.runs if (v := getattr(r.run, column)) is not None), default=None
            )
        return values.get(column)


def load_experiments(store: Store) -> list[ExperimentView]:
    """Every experiment with its run counts: two queries, however many runs there are."""
    counts = {c.id: c for c in store.experiment_summaries()}
    out = []
    for exp in store.experiments():
        c = counts.get(exp.id)
        done, total, failed = (c.runs_done, c.runs_total, c.runs_failed) if c else (0, 0, 0)
        out.append(ExperimentView(exp, done, total, failed))
    return out


def epochs_of(run: RunRow, config: Mapping[str, Any]) -> int:
    """How many epochs a run trains: its own factor value in a sweep over epochs."""
    value = run.factors.get("epochs", config.get("epochs", 0))
    if isinstance(value, list):
        value = value[0] if value else 0
    return int(value)


def load_runs(store: Store, experiment: ExperimentRow) -> list[RunView]:
    epochs = store.epochs(experiment.id)
    rows = store.runs(experiment.id)
    # As the report names them: a factor that does not apply to an arm (an older GloVe
    # run's embedding_dim) is no part of its name.
    keys = arm_keys([experiment.config], [applicable(r.factors) for r in rows])
    return [
        RunView(
            r,
            tuple(epochs.get(r.id, ())),
            epochs_of(r, experiment.config),
            arm_name(applicable(r.factors), keys) if keys and r.factors else r.embedding,
        )
        for r in rows
    ]


def group_runs(runs: Sequence[RunView], by: str = "arm") -> list[GroupView]:
    """Runs grouped by (size, arm), or by (size, the value of factor `by`) pooling the
    other factors, in the order of their first run."""
    cells: dict[tuple[int, str], list[RunView]] = {}
    for r in runs:
        factors = applicable(r.run.factors)
        label = r.arm if by == "arm" else level_text(by, factors.get(by, r.run.embedding))
        cells.setdefault((r.run.size, label), []).append(r)
    return [GroupView(size, arm, tuple(rs)) for (size, arm), rs in cells.items()]


def groupings(experiment: ExperimentRow, runs: Sequence[RunView]) -> list[str]:
    """What `g` groups the runs by, in turn: "arm", then each factor that names the arms
    (`arm_keys`) whose groups are not the arms' own (the only varying factor's are)."""
    keys = arm_keys([experiment.config], [applicable(r.run.factors) for r in runs])
    arms = len(group_runs(runs))
    return ["arm", *(k for k in keys if len(group_runs(runs, k)) != arms)]


# -- filtering and sorting ------------------------------------------------------------

T = TypeVar("T")

FILTER_COLUMNS: tuple[str, ...] = (
    "size",
    "arm",
    "seed",
    "status",
    "reason",
    "epoch",
    "loss",
    "acc",
    "val_loss",
    "val_acc",
    "best",
)
_TERM = re.compile(r"^(?P<key>[a-z_]+)(?P<op>[:=])(?P<value>.*)$")


@dataclass(frozen=True)
class RunFilter:
    """What `/` typed: words that must each match.

    `glove` matches a run with "glove" in any column; `status:fail` a run whose status
    contains "fail"; `size=100` a run whose size is exactly 100 (case is ignored).
    """

    text: str
    terms: tuple[tuple[str | None, str, bool], ...]  # (column or None, value, exact)

    @classmethod
    def parse(cls, text: str) -> RunFilter:
        terms: list[tuple[str | None, str, bool]] = []
        for word in text.lower().split():
            m = _TERM.match(word)
            if m is None:
                terms.append((None, word, False))
                continue
            key, value = m["key"], m["value"]
            if key not in FILTER_COLUMNS:
                raise EmbtuiError(
                    f"filter {word!r}: no column {key!r}; columns: {', '.join(FILTER_COLUMNS)}"
                )
            terms.append((key, value, m["op"] == "="))
        return cls(text.strip(), tuple(terms))

    def matches(self, run: RunView) -> bool:
        values = {k: v.lower() for k, v in run.values().items()}
        for key, value, exact in self.terms:
            cells = [values[key]] if key else list(values.values())
            if not any((c == value) if exact else (value in c) for c in cells):
                return False
        return True


def filter_runs(runs: Sequence[RunView], run_filter: RunFilter | None) -> list[RunView]:
    if run_filter is None or not run_filter.terms:
        return list(runs)
    return [r for r in runs if run_filter.matches(r)]


def sort_rows(
    rows: Sequence[T], value: Callable[[T], float | str | None], descending: bool
) -> list[T]:
    """Stable sort by `value`; rows without a value go last in either direction."""
    keyed = [(value(r), r) for r in rows]
    known = [(v, r) for v, r in keyed if v is not None]
    unknown = [r for v, r in keyed if v is None]
    known.sort(key=lambda pair: pair[0], reverse=descending)
    return [r for _, r in known] + unknown


# -- charts ---------------------------------------------------------------------------


def ema(values: Sequence[float], factor: float) -> tuple[float, ...]:
    """Exponential moving average, as TensorBoard's smoothing slider: each point is
    `factor` of the previous smoothed point plus `1 - factor` of its own value; the first
    point is itself. `factor` 0 leaves the values as they are."""
    out: list[float] = []
    for v in values:
        out.append(v if not out else factor * out[-1] + (1 - factor) * v)
    return tuple(out)


# arm -> [(size, mean, half_width or None, n)]
SizeSeries = dict[str, list[tuple[int, float, float | None, int]]]


def size_means(runs: Sequence[RunView], arms: Sequence[str] = ()) -> SizeSeries:
    """Final val_acc per (size, arm), mean over the done runs: what the by-size chart can
    draw at once, before the statistics (which import scipy) have been computed."""
    cells: dict[tuple[int, str], list[float]] = {}
    for r in runs:
        if r.run.status == "done" and r.latest is not None:
            cells.setdefault((r.run.size, r.arm), []).append(r.latest.val_acc)
    order = list(arms) + sorted({a for _, a in cells} - set(arms))
    out: SizeSeries = {}
    for arm in order:
        points: list[tuple[int, float, float | None, int]] = [
            (size, sum(vs) / len(vs), None, len(vs))
            for (size, a), vs in sorted(cells.items())
            if a == arm
        ]
        if points:
            out[arm] = points
    return out
