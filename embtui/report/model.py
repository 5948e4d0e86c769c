"""Everything the console and the exports say about one experiment, or about several
compared as one pool, read once from the store.

The Markdown, CSV and JSON writers and the console's compare view all render a `Report`, so
they cannot disagree: the numbers come from the store's per-epoch rows and the statistics
from `embtui.stats` (two arms) and `embtui.factors` (more), computed here and nowhere else.

Runs are grouped into arms by their factor values: an arm is named by the values that vary
among the runs compared ("glove avgpool lr=0.01"), so a learned-against-GloVe grid has the
arms `learned` and `glove` as before. Several experiments are compared as one pool, their
arms matched by factor values. What differs between them without being a factor (the
dataset file, the GloVe source, the embtui version, the subset rule) becomes a factor named
after it; experiments validated on different reviews are refused: their numbers do not
measure the same thing. Whether two experiments trained on the same data is decided by the
data's fingerprint, not the file's name: `a/imdb.npz` and `b/imdb.npz` with different labels
are two levels of a `dataset` factor, never one arm.

A run that repeats another (the same data, settings, size and seed: the same computation,
see `embtui.report.duplicates`) is counted once, in one experiment or across a pool; the
report says how many it set aside and from where (`Report.duplicates`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from embtui import stats
from embtui.config import CALLBACK_SOURCE, FACTOR_KEYS, arm_keys, arm_name
from embtui.errors import EmbtuiError
from embtui.report.duplicates import (
    Duplicates,
    engine_of,
    find_duplicates,
    run_factors,
    same_training_data,
)
from embtui.store import EpochMetrics, ExperimentRow, RunRow, Store

#: Settings of an experiment that change its results without being factors: when compared
#: experiments differ in one, it becomes a factor named after it. `dataset` is the training
#: data (told apart by its fingerprint, named by its file); `engine` the training engine,
#: where one is recorded. Library versions, the device and the threads per op change only
#: the last bits of a result: they are in each experiment's environment, not factors.
CONTEXT_KEYS = ("dataset", "glove", "subset", "engine")
#: More arms than this make a learning-curve chart unreadable: it shows the best ones.
CURVE_ARMS = 6


@dataclass(frozen=True)
class RunReport:
    run: RunRow
    epochs: tuple[EpochMetrics, ...]
    arm: str = ""  # the arm's name among the runs compared (default: the run's embedding)
    factors: Mapping[str, Any] = field(default_factory=dict)  # with the context factors
    duplicate_of: int | None = None  # the run this one repeats: set aside, not counted

    def __post_init__(self) -> None:
        if not self.arm:
            object.__setattr__(self, "arm", self.run.embedding)
        if not self.factors:
            object.__setattr__(self, "factors", dict(self.run.factors))

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
    embedding: str  # the arm's name (called `embedding` since arms were embeddings)
    n: int
    final_val_acc_mean: float
    best_val_acc_mean: float


@dataclass(frozen=True)
class Report:
    experiment: ExperimentRow  # the first experiment compared
    runs: tuple[RunReport, ...]
    summary: stats.Summary
    means: tuple[CellMeans, ...]
    experiments: tuple[ExperimentRow, ...] = ()  # every experiment compared (default: one)
    factors: tuple[str, ...] = ()  # the factors that vary among the runs, naming the arms
    sweep: Any = None  # embtui.factors.SweepSummary when more than two arms are compared
    duplicates: Duplicates = field(default_factory=Duplicates)  # runs counted once
    learned: Any = None  # embtui.inspect.summary.Learned: what the kept arrays show

    def __post_init__(self) -> None:
        if not self.experiments:
            object.__setattr__(self, "experiments", (self.experiment,))

    @property
    def arms(self) -> tuple[str, ...]:
        return self.summary.arms or tuple(dict.fromkeys(r.arm for r in self.runs))

    @property
    def done(self) -> tuple[RunReport, ...]:
        """Runs that trained every epoch, each computation once: the only ones the
        statistics use (a run that repeats another is set aside)."""
        return tuple(
            r for r in self.runs if r.run.status == "done" and r.epochs and r.duplicate_of is None
        )

    def duplicate_lines(self) -> list[str]:
        """What the report says about runs it counted once (empty when there were none)."""
        finished: dict[int, int] = {}
        for r in self.runs:
            if r.run.status == "done" and r.epochs:
                finished[r.run.experiment_id] = finished.get(r.run.experiment_id, 0) + 1
        return self.duplicates.lines(self.experiments, finished)

    @property
    def pooled(self) -> bool:
        """Several experiments compared as one."""
        return len(self.experiments) > 1

    def curve_arms(self) -> tuple[list[str], str | None]:
        """The arms a learning-curve chart shows, and a note when it leaves some out: with
        more than CURVE_ARMS arms, the best CURVE_ARMS at the largest size."""
        s = self.summary
        arms = [a for a in s.arms if s.curve(a)]
        if len(arms) <= CURVE_ARMS:
            return arms, None
        largest = max(s.sizes)
        at = {g.arm: g.mean for g in s.groups if g.size == largest}
        best = sorted(arms, key=lambda a: -at.get(a, float("-inf")))[:CURVE_ARMS]
        shown = [a for a in arms if a in best]
        return shown, (
            f"{len(arms)} arms: the chart shows the best {CURVE_ARMS} at {largest} reviews"
        )


def build_report(
    store: Store,
    experiment_id: int | Sequence[int],
    *,
    metric: str = "final",
    alpha: float = 0.05,
    learned: bool = False,
) -> Report:
    """The report of one experiment, or of several pooled (a list of ids). With `learned`,
    also what the runs' kept arrays show (`embtui.inspect.summary`: the Markdown and HTML
    reports' section; it reads files, so only the reports that show it ask for it)."""
    ids = [experiment_id] if isinstance(experiment_id, int) else list(dict.fromkeys(experiment_id))
    experiments = [store.experiment(i) for i in ids]
    context = _comparable(experiments)
    rows: list[tuple[ExperimentRow, RunRow, tuple[EpochMetrics, ...], dict[str, Any]]] = []
    for exp in experiments:
        epochs = store.epochs(exp.id)
        extra = {key: values[exp.id] for key, values in context.items()}
        for r in store.runs(exp.id):
            factors = {**run_factors(exp, r), **extra}
            rows.append((exp, r, tuple(epochs.get(r.id, ())), factors))
    duplicates = find_duplicates([(exp, r, e) for exp, r, e, _ in rows])
    keys = arm_keys([e.config for e in experiments], [f for *_, f in rows], CONTEXT_KEYS)
    runs = tuple(
        RunReport(
            r,
            e,
            arm_name(f, keys) if keys else r.embedding,
            f,
            (d.kept.id if (d := duplicates.of(r.id)) else None),
        )
        for _, r, e, f in rows
    )
    done = [r for r in runs if r.run.status == "done" and r.epochs and r.duplicate_of is None]
    order = _arm_order(experiments, runs, keys)
    chance = experiments[0].meta.get("chance")
    summary = stats.summarize(
        [(r.run.size, r.arm, v) for r in done if (v := r.value(metric)) is not None],
        arms=order or None,
        metric=metric,
        alpha=alpha,
        chance=chance,
    )
    sweep = None
    if len(summary.arms) > 2:
        from embtui.factors import RunValue, summarize_sweep

        sweep = summarize_sweep(
            [
                RunValue(r.run.size, r.run.seed, {k: r.factors.get(k) for k in keys}, v)
                for r in done
                if (v := r.value(metric)) is not None
            ],
            metric=metric,
            alpha=alpha,
            level_order=_level_order(experiments),
        )
    learned_section = None
    if learned:  # the kept arrays' reader (numpy, the data layer) only when asked for
        from embtui.inspect.summary import learned_summary

        learned_section = learned_summary(store, [(r.run, r.arm) for r in done])
    return Report(
        experiments[0],
        runs,
        summary,
        _means(done, summary.arms),
        tuple(experiments),
        tuple(keys),
        sweep,
        duplicates,
        learned_section,
    )


def _comparable(experiments: Sequence[ExperimentRow]) -> dict[str, dict[int, str]]:
    """Refuse experiments validated on different reviews; return the context settings that
    differ between them (each a factor named after it), per experiment."""
    if len(experiments) < 2:
        return {}
    prints = {}
    for exp in experiments:
        if exp.config.get("source") == CALLBACK_SOURCE:
            raise EmbtuiError(
                f"experiment {exp.id} was recorded by EmbtuiCallback: its validation data is "
                "unknown to embtui, so it cannot be compared with another experiment"
            )
        val = (exp.meta.get("fingerprint") or {}).get("val_reviews")
        if not val:
            raise EmbtuiError(
                f"experiment {exp.id} has no record of its validation reviews (run by an "
                "earlier embtui), so a comparison with it cannot be checked; export it alone"
            )
        prints[exp.id] = val
    first = experiments[0]
    for exp in experiments[1:]:
        if prints[exp.id] != prints[first.id]:
            raise EmbtuiError(
                f"experiments {first.id} and {exp.id} were validated on different reviews "
                f"({first.config.get('dataset')}, val_size {first.config.get('val_size')} vs "
                f"{exp.config.get('dataset')}, val_size {exp.config.get('val_size')}): their "
                "accuracies do not measure the same thing"
            )
    out = {}
    for key in CONTEXT_KEYS:
        values = (
            _data_levels(experiments)
            if key == "dataset"
            else {exp.id: _context(exp, key) for exp in experiments}
        )
        if len({v for v in values.values() if v is not None}) > 1:
            out[key] = {i: "–" if v is None else v for i, v in values.items()}
    return out


def _data_levels(experiments: Sequence[ExperimentRow]) -> dict[int, str]:
    """Each experiment's training data as a level of the `dataset` factor: experiments on
    the same data (by fingerprint, whatever the file is called) share a level, named by
    the first one's file; data that differs under one file name is told apart by its
    hash (`imdb.npz#3f2a9c01`)."""
    from pathlib import PurePath

    groups: list[list[ExperimentRow]] = []
    for exp in experiments:
        for group in groups:
            if same_training_data(group[0], exp):
                group.append(exp)
                break
        else:
            groups.append([exp])
    names = [PurePath(str(g[0].config.get("dataset", "?"))).name for g in groups]
    out = {}
    for group, name in zip(groups, names, strict=True):
        label = name
        if names.count(name) > 1:
            train = (group[0].meta.get("fingerprint") or {}).get("train") or "unknown"
            label = f"{name}#{str(train)[:8]}"
        for exp in group:
            out[exp.id] = label
    return out


def _context(exp: ExperimentRow, key: str) -> str | None:
    """One context setting of an experiment; None where it does not apply (the GloVe
    source of an experiment without a GloVe arm)."""
    if key == "engine":
        return engine_of(exp)
    if key == "glove":
        value = exp.meta.get(key)
        return None if value is None else str(value)
    return str(exp.config.get(key, "?"))


def _level_order(experiments: Sequence[ExperimentRow]) -> dict[str, list[Any]]:
    """Each factor's values in the order the experiments list them (the first is the
    baseline of its main effect)."""
    out: dict[str, list[Any]] = {}
    for exp in experiments:
        for key in FACTOR_KEYS:
            value = exp.config.get(key)
            for v in value if isinstance(value, list) else [value]:
                if v is not None and v not in out.setdefault(key, []):
                    out[key].append(v)
    return out


def _arm_order(
    experiments: Sequence[ExperimentRow], runs: Sequence[RunReport], keys: list[str]
) -> tuple[str, ...]:
    """Arms in grid order: the configured ones first (as their experiments list them), then
    any arm that only the runs name (a model recorded by EmbtuiCallback)."""
    arms: list[str] = []
    for exp in experiments:
        if keys == ["embeddings"] or not keys:
            arms += [a for a in exp.config.get("embeddings") or [] if a not in arms]
    arms += [r.arm for r in runs if r.arm not in arms]
    return tuple(dict.fromkeys(arms))


def _mean(values: Iterable[float | None]) -> float:
    """The mean of the runs' values (finished runs all have one)."""
    known = [v for v in values if v is not None]
    return sum(known) / len(known)


def _means(done: list[RunReport], arms: tuple[str, ...]) -> tuple[CellMeans, ...]:
    cells: dict[tuple[int, str], list[RunReport]] = {}
    for r in done:
        cells.setdefault((r.run.size, r.arm), []).append(r)
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
