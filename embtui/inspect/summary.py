""" "What the models learned": the reports' section, from the runs' kept arrays.

At the largest training size where runs kept arrays, for each arm: the words its model reads
as most positive and most negative and the neighbours of a few probe words (from the arm's
first-seed run, whose table is kept by default), its validation errors (mean over the
seeds' kept logits) and, between arms, how often their first-seed runs agree. Runs set
aside as repeats are not read. Nothing trains; a report without kept arrays has no section.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from embtui.inspect import analysis as an
from embtui.inspect.kept import learned_path, load
from embtui.inspect.text import how_scored
from embtui.inspect.view import RunView, load_run
from embtui.store import RunRow, Store, StoreError

#: The probe words whose neighbours the section shows.
PROBES = ("good", "bad", "boring", "acting")
TOP_WORDS = 8
NEIGHBOURS = 5


@dataclass(frozen=True)
class ArmLearned:
    arm: str
    run_id: int  # the run whose words are shown (the arm's lowest seed with a table)
    seed: int
    positive: tuple[an.Scored, ...]
    negative: tuple[an.Scored, ...]
    neighbours: dict[str, tuple[an.Neighbour, ...]]  # probe -> its nearest words
    errors_mean: float  # validation errors, mean over the arm's runs with kept logits
    runs: int  # those runs
    reviews: int  # validation reviews per run
    how_scored: str


@dataclass(frozen=True)
class Learned:
    size: int
    arms: tuple[ArmLearned, ...]
    agreement: dict[tuple[str, str], float] = field(default_factory=dict)  # share agreeing


def learned_summary(store: Store, runs: Sequence[tuple[RunRow, str]]) -> Learned | None:
    """The section's contents for these counted runs (each with its arm's name), or None
    when none of them kept arrays."""
    kept = [
        (run, arm)
        for run, arm in runs
        if run.status == "done" and learned_path(store.path, run.id).exists()
    ]
    if not kept:
        return None
    size = max(run.size for run, _ in kept)
    shapes: dict = {}
    at_size: list[tuple[str, RunView]] = []
    for run, arm in kept:
        if run.size != size:
            continue
        try:  # the logits alone: a table is read only for the run each arm shows
            at_size.append((arm, load_run(store, run.id, texts=False, table=False, shapes=shapes)))
        except StoreError:  # a file that cannot be read is left out
            continue
    if not at_size:
        return None
    arms: list[ArmLearned] = []
    firsts: dict[str, RunView] = {}
    for arm in dict.fromkeys(a for a, _ in at_size):
        mine = sorted((v for a, v in at_size if a == arm), key=lambda v: (v.seed, v.run_id))
        shown = _with_table(store, mine)
        firsts[arm] = mine[0]
        errors = [an.confusion(v.kept.logits, v.shape.y_val).errors for v in mine]
        scores = shown.scores()
        up, down = an.extremes(scores, shown.words, TOP_WORDS) if scores is not None else ([], [])
        neighbours: dict[str, tuple[an.Neighbour, ...]] = {}
        if shown.table is not None:
            for probe in PROBES:
                try:
                    neighbours[probe] = tuple(
                        an.neighbours(shown.table, shown.words, probe, NEIGHBOURS)
                    )
                except KeyError:
                    continue
        arms.append(
            ArmLearned(
                arm,
                shown.run_id,
                shown.seed,
                tuple(up),
                tuple(down),
                neighbours,
                float(np.mean(errors)),
                len(mine),
                len(mine[0].shape.y_val),
                how_scored(shown) if scores is not None else "",
            )
        )
    agreement: dict[tuple[str, str], float] = {}
    names = list(firsts)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            va, vb = firsts[a], firsts[b]
            if len(va.kept.logits) == len(vb.kept.logits):
                same = an.predictions(va.kept.logits) == an.predictions(vb.kept.logits)
                agreement[(a, b)] = float(np.mean(same))
    return Learned(size, tuple(arms), agreement)


def _with_table(store: Store, runs: list[RunView]) -> RunView:
    """The first of an arm's runs (lowest seed) that kept its table, with its table read
    (they were read without); else the first run (a frozen-GloVe arm's table is the GloVe
    matrix)."""
    for view in runs:
        if view.arm == "glove":
            return view
        kept = load(store.path, view.run_id)
        if kept is not None and kept.table is not None:
            return replace(view, kept=kept)
    return runs[0]
