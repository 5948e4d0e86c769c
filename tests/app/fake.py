"""A stand-in for the training engine that writes scripted epochs to the real store.

It follows `embtui.engine.runner` step for step (the same store writes in the same order,
the same events, the same stop semantics: the current run ends `cancelled` after its epoch,
the rest of the grid is cancelled, epochs are kept; a diverging run ends `failed` with the
engine's own reason), but the numbers come from a formula, so console tests run in
milliseconds and can assert exact values. `hold_after` parks the engine after that many
epochs (of this engine, over all its runs) until `advance(to)` moves the mark on,
`release()` lifts it, or a stop; `held` is set while it is parked, so a test can act
mid-training without racing it. Each run that ends records what it cost
(`scripted_cost`), as the engine does. A resumed run continues after the epochs it had, with the
engine's own "continuing from the checkpoint after epoch k" stage, as the real one does.

A learning rate of 1000 or more diverges as a real one does: the first epoch's loss is
huge (294264872.96), the second is NaN and the run fails with "loss became NaN at epoch 2".
"""

from __future__ import annotations

import hashlib
import math
import threading
from dataclasses import dataclass
from typing import Any

from embtui.config import ExperimentConfig, from_mapping
from embtui.engine.events import ExperimentFinished, RunFinished, RunStarted, Stage
from embtui.errors import DataError, EmbtuiError
from embtui.store import DeviceSample, EpochMetrics, RunCost, Store, experiment_status

#: The first epoch's loss of a diverging run (learning_rate >= DIVERGES_AT).
HUGE_LOSS = 294264872.96
DIVERGES_AT = 1000.0


def scripted_metrics(size: int, arm: str, seed: int, epoch: int) -> tuple[float, ...]:
    """(loss, acc, val_loss, val_acc) of one scripted epoch: deterministic and plausible."""
    arm_bonus = {"learned": 0.0, "glove": 0.04, "glove-tuned": 0.06}.get(arm, 0.0)
    level = 0.5 + 0.3 * (1 - math.exp(-size / 100)) + arm_bonus + 0.003 * seed
    val_acc = round(level + 0.01 * epoch, 6)
    acc = round(min(0.99, val_acc + 0.05 * epoch), 6)
    loss = round(0.7 / (1 + 0.5 * epoch), 6)
    val_loss = round(0.7 / (1 + 0.3 * epoch) + 0.01 * seed, 6)
    return loss, acc, val_loss, val_acc


def scripted_cost(size: int, seed: int, epochs: int) -> RunCost:
    """What one scripted run cost, as the engine records it after a run: as if it trained
    on a GPU, the larger sizes longer and with more memory."""
    return RunCost(
        wall_s=round(0.75 * epochs * (1 + size / 10), 3),
        peak_rss=(600 + 2 * size) * 1e6,
        peak_gpu_mem=(1.5 + size / 100) * 1e9,
        mean_gpu_util=60.0 + 5 * seed,
    )


@dataclass(frozen=True)
class FakePrepared:
    config: ExperimentConfig


@dataclass(frozen=True)
class FakeSession:
    """What `FakeEngine.new_session` and `resume_session` give: `Session`'s calls."""

    engine: FakeEngine
    store: Store
    experiment_id: int
    prepared: FakePrepared
    resuming: bool = False

    def train(self, sink: Any, stop: threading.Event) -> str:
        train = self.engine.resume if self.resuming else self.engine.run
        return train(self.store, self.experiment_id, self.prepared, sink, stop)


class FakeEngine:
    """Same calls as `embtui.app.engine.RunnerEngine`; no TensorFlow."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        hold_after: int | None = None,
        fail_prepare: str | None = None,
        fail_kind: type[EmbtuiError] = DataError,
    ) -> None:
        self.delay = delay
        self.hold_after = hold_after
        self.fail_prepare = fail_prepare
        self.fail_kind = fail_kind
        self.epochs_done = 0
        self.held = threading.Event()  # set while the engine is parked at `hold_after`
        self._gate = threading.Condition()

    def advance(self, to: int | None) -> None:
        """Let the engine go on until it has trained `to` epochs (None: to the end)."""
        with self._gate:
            self.hold_after = to
            self.held.clear()
            self._gate.notify_all()

    def release(self) -> None:
        self.advance(None)

    def warm_up(self) -> None:
        """Nothing to load: the fake engine has no TensorFlow."""

    def new_session(self, store: Store, config: ExperimentConfig, sink: Any) -> FakeSession:
        prepared = self.prepare(config, sink)
        return FakeSession(self, store, self.create(store, prepared), prepared)

    def resume_session(self, store: Store, experiment_id: int, sink: Any) -> FakeSession:
        prepared = self.prepare_resume(store, experiment_id, sink)
        return FakeSession(self, store, experiment_id, prepared, resuming=True)

    def prepare(self, config: ExperimentConfig, sink: Any) -> FakePrepared:
        sink(Stage(None, f"loading data: {config.dataset}"))
        if self.fail_prepare:
            raise self.fail_kind(self.fail_prepare)
        return FakePrepared(config)

    def create(self, store: Store, prepared: FakePrepared) -> int:
        cfg = prepared.config
        # The validation reviews' identity, as the engine's fingerprint records it: the
        # same data file and validation size give the same reviews.
        val = hashlib.sha256(f"{cfg.dataset}|{cfg.val_size}".encode()).hexdigest()[:32]
        return store.create_experiment(
            cfg.name,
            cfg.to_dict(),
            cfg.run_cells(),
            meta={"chance": 0.5, "fingerprint": {"val_reviews": val}},
        )

    def prepare_resume(self, store: Store, experiment_id: int, sink: Any) -> FakePrepared:
        config = from_mapping(store.experiment(experiment_id).config)
        claim = store.claim(experiment_id, resume=True)
        try:
            return self.prepare(config, sink)
        except BaseException:
            store.release(claim)
            raise

    def resume(
        self, store: Store, experiment_id: int, prepared: Any, sink: Any, stop: threading.Event
    ) -> str:
        store.claim(experiment_id, resume=True)
        store.reopen_runs(experiment_id)
        return self.run(store, experiment_id, prepared, sink, stop)

    def run(
        self, store: Store, experiment_id: int, prepared: Any, sink: Any, stop: threading.Event
    ) -> str:
        cfg = prepared.config
        runs = [r for r in store.runs(experiment_id) if r.status == "queued"]
        total = len(store.runs(experiment_id))
        store.claim(experiment_id)
        sink(Stage(experiment_id, "loading TensorFlow"))
        for row in runs:
            if stop.is_set():
                break
            arm = cfg.arm(row.factors)
            kept = len(store.run_epochs(row.id))
            kept = kept if kept < arm.epochs else 0
            store.start_run(row.id, device="fake", params=1000, coverage=None, keep_epochs=kept)
            sink(
                RunStarted(
                    experiment_id,
                    row.id,
                    row.position,
                    total,
                    row.size,
                    row.embedding,
                    row.seed,
                    "fake",
                    epochs=arm.epochs,
                )
            )
            if kept:
                sink(Stage(experiment_id, f"  continuing from the checkpoint after epoch {kept}"))
            finished, failed = kept, False
            for epoch in range(kept + 1, arm.epochs + 1):
                self._pause(stop)
                loss, acc, val_loss, val_acc = scripted_metrics(
                    row.size, row.embedding, row.seed, epoch
                )
                if arm.learning_rate >= DIVERGES_AT:
                    loss = HUGE_LOSS if epoch == 1 else float("nan")
                m = EpochMetrics(row.id, epoch, loss, acc, val_loss, val_acc, 0.01)
                if problem := m.divergence():
                    store.finish_run(row.id, "failed", problem)
                    sink(RunFinished(experiment_id, row.id, "failed", problem))
                    failed = True
                    break
                store.add_epoch(m)
                sink(m)
                finished = epoch
                self.epochs_done += 1
                if stop.is_set():
                    break
            if failed:
                continue  # recorded above; the grid goes on, as the engine's does
            status = "done" if finished == arm.epochs else "cancelled"
            store.set_run_cost(row.id, scripted_cost(row.size, row.seed, finished))
            store.finish_run(row.id, status)
            sink(RunFinished(experiment_id, row.id, status))
        store.cancel_queued(experiment_id, "cancelled" if stop.is_set() else "interrupted")
        status = experiment_status(r.status for r in store.runs(experiment_id))
        store.set_experiment_status(experiment_id, status)
        sink(ExperimentFinished(experiment_id, status))
        return status

    def _pause(self, stop: threading.Event) -> None:
        with self._gate:
            while (
                self.hold_after is not None
                and self.epochs_done >= self.hold_after
                and not stop.is_set()
            ):
                self.held.set()
                self._gate.wait(0.01)
        if self.delay:
            stop.wait(self.delay)


#: A recording of one box, as `embtui.sysmetrics.Probe` reads it: a CPU that gets busy and
#: calms down, RAM filling, no GPU (and the probe's own reason why).
def recorded_samples(n: int = 24) -> list[list[DeviceSample]]:
    out = []
    for i in range(n):
        busy = 10 + 80 * math.sin(math.pi * i / (n - 1))
        out.append(
            [
                DeviceSample(
                    "cpu",
                    "CPU (2 cores)",
                    util=round(busy, 1),
                    mem_used=(6.0 + 0.25 * i) * 1e9,
                    mem_total=16e9,
                    rss=(0.5 + 0.05 * i) * 1e9,
                )
            ]
        )
    return out


NO_DRIVER = "no NVIDIA driver: GPU metrics off"


class RecordedProbe:
    """Same calls as `embtui.sysmetrics.Probe`, answering from a recording: each `sample()`
    is the next recorded one, and once the recording is over, nothing (as a device that
    does not answer), so a console shows exactly the recording however long it runs."""

    def __init__(
        self, recording: list[list[DeviceSample]] | None = None, gpu_problem: str | None = NO_DRIVER
    ) -> None:
        self.recording = list(recording if recording is not None else recorded_samples())
        self.gpu_problem = gpu_problem
        self.cpu_problem: str | None = None
        self.calls = 0
        self.closed = False

    @property
    def done(self) -> bool:
        return self.calls >= len(self.recording)

    def sample(self) -> list[DeviceSample]:
        self.calls += 1
        return self.recording[self.calls - 1] if self.calls <= len(self.recording) else []

    def close(self) -> None:
        self.closed = True
