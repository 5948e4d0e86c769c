"""Per-run checkpoints, so a resumed run continues after its last saved epoch.

A run's whole training state after an epoch is its model weights and its optimizer's
variables: the shuffled order of every epoch is fixed by the seed and the models hold no
other random state. Saved and restored, that state makes the resumed run compute exactly
what the uninterrupted run would have, epoch for epoch.

Writing it costs about as much as a small epoch, so a run saves one only when
`checkpoint_every` seconds have passed since its start or its last save, and when it is
stopped (Ctrl-C, a hangup, `x` in the console) after an epoch. Short runs are cheap to redo;
a long run loses at most that many seconds plus the epoch in flight when it is killed.

Checkpoints live beside the store, in `<store>.checkpoints/run-<id>.npz`, written through
a temporary file and a rename. Each names the experiment (id and creation time) and the
run's cell, so a file left from another store at the same path is never mistaken for this
run's. A run that ends `done` or `failed` removes its checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from embtui.store import ExperimentRow, RunRow, Store


@dataclass(frozen=True)
class Checkpoint:
    epoch: int
    state: list[np.ndarray]


class RunCheckpoints:
    """Saving and loading the checkpoints of one run."""

    def __init__(
        self, store: Store, experiment: ExperimentRow, run: RunRow, every_s: float
    ) -> None:
        self.path = checkpoint_folder(store) / f"run-{run.id}.npz"
        self.every_s = every_s
        self.saved = 0  # the epoch of the last checkpoint written in this process
        self._last = time.monotonic()
        identity = [experiment.id, experiment.created, run.id, run.size, run.embedding, run.seed]
        self._tag = hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    def load(self) -> Checkpoint | None:
        """This run's checkpoint, or None when there is none (or it is not this run's)."""
        try:
            with np.load(self.path, allow_pickle=False) as archive:
                if str(archive["tag"]) != self._tag:
                    return None
                epoch = int(archive["epoch"])
                count = int(archive["count"])
                state = [archive[f"s{i}"] for i in range(count)]
        except (OSError, KeyError, ValueError):
            return None
        return Checkpoint(epoch, state)

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_s

    def save(self, epoch: int, state: list[np.ndarray]) -> None:
        """Write the state after `epoch`; a failed write only costs the checkpoint."""
        arrays = {f"s{i}": a for i, a in enumerate(state)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.stem}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "wb") as handle:
                    np.savez(handle, tag=self._tag, epoch=epoch, count=len(state), **arrays)
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError:
            return
        self.saved = epoch
        self._last = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # the folder goes when no other run has one
            self.path.parent.rmdir()


def checkpoint_folder(store: Store) -> Path:
    return store.path.with_suffix(".checkpoints")
