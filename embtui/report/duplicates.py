"""Runs that are the same computation count once.

embtui's training is deterministic: a run's result depends only on the data it saw, its
settings, its size and its seed. Two experiments on the same data with the same seeds
therefore hold identical runs, and a pool that counted both would report n=6 where there
are three distinct results, shrinking intervals and p-values with nothing but copies. So
a report keys every finished run by what it computed and keeps one of each key (the run of
the lowest experiment id, then run id, so the choice does not depend on the order the
experiments are named in); the others are *set aside*: they
stay in the per-run tables, marked, and out of every statistic.

The key of a run (`run_key`):

* the training and validation data of its shape (vocab_size x maxlen): the per-shape
  hashes the experiment recorded (`fingerprint()["shapes"]`); an experiment of one shape
  recorded before those existed has them anyway (its whole-data hash is its shape's hash);
  an older sweep of several shapes has only a hash over all its shapes, so its runs match
  only runs of an experiment with that same hash, and the report says so;
* the GloVe vectors, for an arm that starts from them;
* the training-subset rule, the size and the seed;
* every factor value that applies to the run (a GloVe run's `embedding_dim` does not, see
  `embtui.config.APPLIES_TO`), and the training engine where one is recorded.

Not in the key: the device, the threads per op and the library versions. They change
only the last bits of a result; the report names the largest difference between a set-aside
run's final values and the kept run's. Runs recorded by `EmbtuiCallback` carry no data
fingerprint and are never merged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from embtui.config import CALLBACK_SOURCE, FACTOR_KEYS, applicable
from embtui.engine.fingerprint import shape_key
from embtui.store import EpochMetrics, ExperimentRow, RunRow

#: The final values compared between a set-aside run and the run it repeats.
FINAL_VALUES = ("loss", "acc", "val_loss", "val_acc")


@dataclass(frozen=True)
class SetAside:
    """A finished run left out of the statistics: it repeats `kept`."""

    run: RunRow
    kept: RunRow
    largest_difference: float | None  # over FINAL_VALUES; None when either has no epoch


@dataclass(frozen=True)
class Duplicates:
    """What a report set aside, and what it could not check."""

    set_aside: tuple[SetAside, ...] = ()
    #: Experiments whose runs have no data fingerprint (EmbtuiCallback, or an embtui before
    #: fingerprints): never merged with anything.
    unchecked: tuple[int, ...] = ()
    #: Older sweeps matched on a hash over all their shapes, not per shape.
    whole_data: tuple[int, ...] = ()
    #: Finished runs that repeat a run of another engine (the same data, settings, size
    #: and seed; fused against TensorFlow): not merged (the engine is part of what a run
    #: computed, and a factor of the pool), but said, since they agree to the last bits.
    other_engine: tuple[SetAside, ...] = ()

    def of(self, run_id: int) -> SetAside | None:
        return self._by_run.get(run_id)

    @property
    def _by_run(self) -> dict[int, SetAside]:
        cached = self.__dict__.get("_by_run_cache")
        if cached is None:
            cached = {d.run.id: d for d in self.set_aside}
            object.__setattr__(self, "_by_run_cache", cached)
        return cached

    @property
    def largest_difference(self) -> float | None:
        known = [d.largest_difference for d in self.set_aside if d.largest_difference is not None]
        return max(known) if known else None

    def lines(self, experiments: Sequence[ExperimentRow], finished: Mapping[int, int]) -> list[str]:
        """What the report says about them, one sentence each. `finished` counts each
        experiment's finished runs. Runs that could not be checked are named in a pool
        only: alone, an experiment's runs are its own distinct cells."""
        out = []
        pairs: dict[tuple[int, int], int] = {}
        for d in self.set_aside:
            key = (d.run.experiment_id, d.kept.experiment_id)
            pairs[key] = pairs.get(key, 0) + 1
        for exp in experiments:
            from_here = {k: n for k, n in pairs.items() if k[0] == exp.id}
            total = sum(from_here.values())
            if not total:
                continue
            sources = _join([_source(kept, exp.id) for (_, kept) in from_here])
            if total == finished.get(exp.id, 0) and all(k[1] != exp.id for k in from_here):
                out.append(
                    f"Experiment {exp.id} adds no runs: all {total} of its finished runs "
                    f"repeat runs of {sources}, so each is counted once."
                )
            else:
                out.append(
                    f"{_runs(total).capitalize()} of experiment {exp.id} repeat runs of "
                    f"{sources} (the same data, settings, size and seed) and are set aside."
                )
        if self.set_aside:
            diff = self.largest_difference
            out.append(
                "The largest difference between a set-aside run's final values and the "
                "kept run's is "
                + ("unknown" if diff is None else "0 (identical)" if diff == 0 else f"{diff:.2g}")
                + "."
            )
        if self.other_engine:
            engines: dict[tuple[int, int], int] = {}
            for d in self.other_engine:
                engines.setdefault((d.run.experiment_id, d.kept.experiment_id), 0)
                engines[(d.run.experiment_id, d.kept.experiment_id)] += 1
            which = _join(
                [
                    f"{n} of experiment {a} repeat runs of experiment {b}"
                    for (a, b), n in engines.items()
                ]
            )
            diff = max((d.largest_difference or 0.0) for d in self.other_engine)
            out.append(
                f"Runs trained by another engine: {which} (the same data, settings, size and "
                f"seed; final values within {diff:.2g}). They are kept as their own arms "
                "(engine is a factor), so an effect pooled over both engines counts each "
                "such pair twice: compare one engine at a time for honest intervals."
            )
        if self.whole_data:
            ids = ", ".join(map(str, self.whole_data))
            out.append(
                f"Experiment{'s' if len(self.whole_data) > 1 else ''} {ids} recorded one data "
                "hash over all the shapes of its sweep (an earlier embtui), so its runs were "
                "matched only against runs with that same hash."
            )
        if self.unchecked and len(experiments) > 1:
            ids = ", ".join(map(str, self.unchecked))
            out.append(
                f"The runs of experiment{'s' if len(self.unchecked) > 1 else ''} {ids} have no "
                "data fingerprint (recorded by EmbtuiCallback or an earlier embtui): none was "
                "merged with another run."
            )
        return out


def find_duplicates(
    runs: Sequence[tuple[ExperimentRow, RunRow, Sequence[EpochMetrics]]],
) -> Duplicates:
    """Set aside every finished run that repeats another (see the module docstring). The
    run kept is the one of the lowest experiment id, then run id: the same whatever order
    the experiments were named in. Only `done` runs with epochs take part."""
    kept: dict[tuple[Any, ...], tuple[RunRow, Sequence[EpochMetrics]]] = {}
    by_engine: dict[tuple[Any, ...], tuple[tuple[Any, ...], RunRow, Sequence[EpochMetrics]]] = {}
    aside: list[SetAside] = []
    other: list[SetAside] = []
    unchecked: list[int] = []
    whole: list[int] = []
    for exp, run, epochs in sorted(runs, key=lambda t: (t[0].id, t[1].id)):
        key = run_key(exp, run)
        if key is None:
            if exp.id not in unchecked:
                unchecked.append(exp.id)
            continue
        if key[0][0] == "whole" and exp.id not in whole:
            whole.append(exp.id)
        if run.status != "done" or not epochs:
            continue
        if key in kept:
            first, first_epochs = kept[key]
            aside.append(SetAside(run, first, _difference(epochs, first_epochs)))
            continue
        kept[key] = (run, epochs)
        same = key[:-1]  # everything but the engine
        if same in by_engine and by_engine[same][0] != key:
            _, twin, twin_epochs = by_engine[same]
            other.append(SetAside(run, twin, _difference(epochs, twin_epochs)))
        else:
            by_engine.setdefault(same, (key, run, epochs))
    return Duplicates(tuple(aside), tuple(unchecked), tuple(whole), tuple(other))


def run_key(exp: ExperimentRow, run: RunRow) -> tuple[Any, ...] | None:
    """What a run computed, as a hashable key; None when that cannot be known."""
    fp = exp.meta.get("fingerprint") or {}
    if exp.config.get("source") == CALLBACK_SOURCE or not fp.get("train"):
        return None
    factors = run_factors(exp, run)
    data = shape_data(exp, factors["vocab_size"], factors["maxlen"])
    if None in data[1:]:
        return None  # this shape's hashes were not recorded: unknown, never "alike"
    glove: Any = None
    if factors["embeddings"] != "learned":
        glove = (fp.get("gloves") or {}).get(str(factors["vocab_size"])) or fp.get("glove")
        if glove is None:
            return None
    settings = tuple(sorted((k, repr(v)) for k, v in factors.items()))
    return (
        data,
        glove,
        exp.config.get("subset", "random"),
        run.size,
        run.seed,
        settings,
        engine_of(exp),
    )


def engine_of(exp: ExperimentRow) -> str:
    """The engine that trained an experiment's runs: TensorFlow, unless it recorded another."""
    return str(exp.meta.get("engine") or "tensorflow")


def run_factors(exp: ExperimentRow, run: RunRow) -> dict[str, Any]:
    """Every factor value of a run, as it applies: a value an older store did not record is
    the experiment's first (as training used it), one that does not apply is None."""
    out = {}
    for key in FACTOR_KEYS:
        if key in run.factors:
            out[key] = run.factors[key]
        else:
            value = exp.config.get(key)
            out[key] = value[0] if isinstance(value, list) and value else value
    return applicable(out)


def shape_data(exp: ExperimentRow, vocab_size: Any, maxlen: Any) -> tuple[Any, ...]:
    """The hashes of the training and validation data one shape of an experiment saw:
    `("shape", train, val)`, or `("whole", train, val)` for an older sweep that recorded
    only one hash over all its shapes."""
    fp = exp.meta.get("fingerprint") or {}
    shapes = fp.get("shapes")
    if isinstance(shapes, dict) and None not in (vocab_size, maxlen):
        one = shapes.get(shape_key(vocab_size, maxlen)) or {}
        return ("shape", one.get("train"), one.get("val"))
    if _one_shape(exp.config):
        # The hash over all shapes of a one-shape experiment is that shape's hash.
        return ("shape", fp.get("train"), fp.get("val"))
    return ("whole", fp.get("train"), fp.get("val"))


def same_training_data(a: ExperimentRow, b: ExperimentRow) -> bool:
    """Whether two experiments trained on the same reviews and labels: every shape both
    prepared has the same training hash (an older sweep: the same hash over all shapes).
    Experiments with no shape in common (a sweep over maxlen split in two) are the same
    when they read the same source, unchanged (keras-imdb, or one file of the same size and
    modification time); anything that cannot be checked counts as different."""
    prints = []
    for exp in (a, b):
        fp = exp.meta.get("fingerprint") or {}
        shapes = fp.get("shapes")
        if isinstance(shapes, dict):
            prints.append({k: v.get("train") for k, v in shapes.items() if isinstance(v, dict)})
        elif _one_shape(exp.config) and None not in (shape := _shape(exp.config)):
            prints.append({shape_key(*shape): fp.get("train")})
        else:
            prints.append({"all": fp.get("train")})
    common = prints[0].keys() & prints[1].keys()
    if not common:
        return _same_source(a, b)
    return all(prints[0][k] is not None and prints[0][k] == prints[1][k] for k in common)


def _same_source(a: ExperimentRow, b: ExperimentRow) -> bool:
    if a.config.get("dataset") == b.config.get("dataset") == "keras-imdb":
        return True
    files = [(exp.meta.get("fingerprint") or {}).get("file") for exp in (a, b)]
    return files[0] is not None and files[0] == files[1]


def _one_shape(config: Mapping[str, Any]) -> bool:
    return all(
        not isinstance(config.get(k), list) or len(config[k]) == 1 for k in ("vocab_size", "maxlen")
    )


def _shape(config: Mapping[str, Any]) -> tuple[Any, Any]:
    """(vocab_size, maxlen) of a one-shape configuration (None where it is not recorded)."""
    vocab, maxlen = (config.get(k) for k in ("vocab_size", "maxlen"))
    return (
        vocab[0] if isinstance(vocab, list) else vocab,
        maxlen[0] if isinstance(maxlen, list) else maxlen,
    )


def _difference(a: Sequence[EpochMetrics], b: Sequence[EpochMetrics]) -> float | None:
    if not a or not b:
        return None
    last_a, last_b = a[-1], b[-1]
    return max(abs(float(getattr(last_a, k)) - float(getattr(last_b, k))) for k in FINAL_VALUES)


def _source(exp_id: int, this: int) -> str:
    return "other runs of the same experiment" if exp_id == this else f"experiment {exp_id}"


def _runs(n: int) -> str:
    return f"{n} finished run" + ("" if n == 1 else "s")


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
