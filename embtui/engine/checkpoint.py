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
a temporary file that is flushed to disk before the rename, so a crash leaves the old
checkpoint or the new one, never half of one. Each names the experiment (id and creation
time) and the run's cell, so a file left from another store at the same path is never
mistaken for this run's. A checkpoint that cannot be read (empty, truncated, damaged) is
treated as absent: the run starts again from scratch, which gives the same result. A run
that ends `done` or `failed` removes its checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embtui.errors import EmbtuiError
from embtui.files import write_atomically
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
        self.path = store.checkpoint_path(run.id)
        # Where embtui 0.x kept them (`<store stem>.checkpoints`), read for a resume that
        # began before the change; the tag below still tells whose each file is.
        self._legacy = store.path.with_suffix(".checkpoints") / self.path.name
        self.every_s = every_s
        self.saved = 0  # the epoch of the last checkpoint written in this process
        self._last = time.monotonic()
        identity = [experiment.id, experiment.created, run.id, run.size, run.embedding, run.seed]
        self._tag = hashlib.sha256(json.dumps(identity).encode()).hexdigest()

    def load(self) -> Checkpoint | None:
        """This run's checkpoint, or None when there is none (or it is not this run's)."""
        for path in (self.path, self._legacy):
            try:
                with np.load(path, allow_pickle=False) as archive:
                    if str(archive["tag"]) != self._tag:
                        continue
                    epoch = int(archive["epoch"])
                    count = int(archive["count"])
                    state = [archive[f"s{i}"] for i in range(count)]
            except Exception:  # absent, empty, truncated or damaged: as if there were none
                continue
            return Checkpoint(epoch, state)
        return None

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_s

    def save(self, epoch: int, state: list[np.ndarray]) -> None:
        """Write the state after `epoch`; a failed write only costs the checkpoint."""
        arrays: dict[str, Any] = {f"s{i}": a for i, a in enumerate(state)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(
                self.path,
                lambda handle: np.savez(
                    handle, tag=self._tag, epoch=epoch, count=len(state), **arrays
                ),
            )
        except (OSError, EmbtuiError):
            return
        self.saved = epoch
        self._last = time.monotonic()

    def remove(self) -> None:
        """Delete this run's checkpoint (a legacy one only if it is this run's)."""
        for path in (self.path, self._legacy):
            if path == self._legacy and not self._is_mine(path):
                continue
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the folder goes when no other run has one
                path.parent.rmdir()

    def _is_mine(self, path: Path) -> bool:
        try:
            with np.load(path, allow_pickle=False) as archive:
                return str(archive["tag"]) == self._tag
        except Exception:
            return False
