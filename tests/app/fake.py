"""A training engine for the console's tests: the real runner, with scripted trainers.

`FakeEngine` has the console's `Engine` calls, and its sessions are the runner's own
(`embtui.engine.runner.Session`): the same claims, `InProcess` executor, `train_one`
listeners (the run's record, checkpoints, kept arrays), store writes, events and stop rules
as `embtui run`. Only what computes numbers is scripted, at the engine's seams, so console
tests never import TensorFlow, run in milliseconds and can assert exact values:

* the inputs (`prepare`): blank reviews in the configuration's shapes, no file read and no
  GloVe vectors (the configuration is recorded as given, `fake.csv` and all); the
  experiment records the validation reviews' identity (the same data file and validation
  size give the same reviews) and a chance level of 0.5;
* the trainers (`ScriptedTrainers`, handed to `InProcess`): each epoch's numbers come from
  `scripted_metrics`, driven by `embtui.engine.models.train_epochs` as both real engines'
  epochs are, so a run stops after the epoch under way, and a stopped run keeps a
  checkpoint and continues from it when resumed ("continuing from the checkpoint after
  epoch k");
* the meter (`ScriptedSampler`): no machine is sampled, and each run that ends records
  what it cost as `scripted_cost` of its size, seed and epochs.

A learning rate of 1000 or more diverges as a real one does: the first epoch's loss is
huge (294264872.96), the second is NaN and the run fails with "loss became NaN at epoch 2".

`hold_after` parks the engine after that many epochs (of this engine, over all its runs)
until `advance(to)` moves the mark on, `release()` lifts it, or a stop; `held` is set while
it is parked, so a test can act mid-training without racing it.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np

from embtui.config import ArmConfig, ExperimentConfig
from embtui.engine import runner
from embtui.engine.data import Dataset
from embtui.engine.events import Sink, Stage, StopFlag
from embtui.engine.executors.local import InProcess
from embtui.engine.models import train_epochs
from embtui.engine.run import Prepared
from embtui.errors import DataError, EmbtuiError
from embtui.store import DeviceSample, EpochMetrics, RunCost, Store
from embtui.sysmetrics import Sampler

#: The first epoch's loss of a diverging run (learning_rate >= DIVERGES_AT).
HUGE_LOSS = 294264872.96
DIVERGES_AT = 1000.0
#: Where scripted runs train, as their device column says.
DEVICE = "scripted"


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


class ScriptedPrepared(Prepared):
    """Scripted inputs: what the experiment records of them (`meta`) is the identity of its
    validation reviews and a chance level of 0.5, nothing about this machine."""

    def meta(self) -> dict[str, Any]:
        cfg = self.config
        val = hashlib.sha256(f"{cfg.dataset}|{cfg.val_size}".encode()).hexdigest()[:32]
        return {"chance": 0.5, "fingerprint": {"val_reviews": val}}


def scripted_inputs(config: ExperimentConfig) -> ScriptedPrepared:
    """Blank reviews in each of the grid's shapes: as many training reviews as its largest
    size, `val_size` validation reviews, half of each positive."""
    n_train, n_val = max(config.sizes), config.val_size
    datasets = {
        (vocab, maxlen): Dataset(
            x_train=np.zeros((n_train, maxlen), np.int32),
            y_train=np.arange(n_train, dtype=np.int32) % 2,
            x_val=np.zeros((n_val, maxlen), np.int32),
            y_val=np.arange(n_val, dtype=np.int32) % 2,
            word_index={},
            vocab_size=vocab,
            source=f"scripted reviews ({config.dataset})",
        )
        for vocab, maxlen in config.data_shapes()
    }
    return ScriptedPrepared(config, datasets)


class FakeEngine:
    """Same calls as `embtui.app.engine.RunnerEngine`, training through the real runner
    with scripted inputs, trainers and costs (see the module docstring); no TensorFlow.

    `fail_prepare`: loading the inputs fails with this message (a `fail_kind`), as a
    missing file or a bad GloVe file does, before anything is recorded."""

    def __init__(
        self,
        *,
        hold_after: int | None = None,
        fail_prepare: str | None = None,
        fail_kind: type[EmbtuiError] = DataError,
    ) -> None:
        self.hold_after = hold_after
        self.fail_prepare = fail_prepare
        self.fail_kind = fail_kind
        self.epochs_done = 0
        self.held = threading.Event()  # set while the engine is parked at `hold_after`
        self._gate = threading.Condition()
        self.training = runner.Training(
            InProcess(trainers=lambda: ScriptedTrainers(self)), sampler=ScriptedSampler
        )

    def advance(self, to: int | None) -> None:
        """Let the engine go on until it has trained `to` epochs (None: to the end)."""
        with self._gate:
            self.hold_after = to
            self.held.clear()
            self._gate.notify_all()

    def release(self) -> None:
        self.advance(None)

    def warm_up(self) -> None:
        """Nothing to load: the scripted trainers need no TensorFlow."""

    def new_session(self, store: Store, config: ExperimentConfig, sink: Sink) -> runner.Session:
        return runner.Session.new(store, self.prepare(config, sink), training=self.training)

    def resume_session(self, store: Store, experiment_id: int, sink: Sink) -> runner.Session:
        return runner.Session.resumed(
            store, experiment_id, sink, load=self.prepare, training=self.training
        )

    def prepare(self, config: ExperimentConfig, sink: Sink) -> Prepared:
        """The experiment's inputs (`runner.prepare`'s part): scripted, or `fail_prepare`."""
        sink(Stage(None, f"loading data: {config.dataset}"))
        if self.fail_prepare:
            raise self.fail_kind(self.fail_prepare)
        return scripted_inputs(config)

    def pause(self, stop: StopFlag) -> None:
        """Before an epoch: wait here while the engine is held (not once it is stopped)."""
        with self._gate:
            while (
                self.hold_after is not None
                and self.epochs_done >= self.hold_after
                and not stop.is_set()
            ):
                self.held.set()
                self._gate.wait(0.01)


class ScriptedTrainers:
    """`embtui.engine.run.Trainers` whose trainers are `ScriptedTrainer`s of one engine,
    on no device and without TensorFlow."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def start(self, engine: str, say: Callable[[str], None]) -> tuple[str, str]:
        return DEVICE, "1"

    def get(self, config: ArmConfig, arm: str, glove: Any, *args: Any) -> ScriptedTrainer:
        return ScriptedTrainer(self.engine, config)

    def clear(self) -> None:
        """Nothing is cached."""


class ScriptedTrainer:
    """One arm's trainer whose epochs are `scripted_metrics` numbers, each said to take
    0.01 s. Its whole state is the epochs it trained; its model is one Embedding column
    and a Dense layer of zeros, for the arrays a finished run keeps."""

    params = 1000

    def __init__(self, engine: FakeEngine, config: ArmConfig) -> None:
        self.engine = engine
        self.config = config
        self.epoch = 0

    def reset(self, seed: int) -> None:
        self.epoch = 0

    def restore(self, state: list[np.ndarray]) -> None:
        self.epoch = int(state[0][0])

    def snapshot(self) -> list[np.ndarray]:
        return [np.array([self.epoch])]

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        *,
        seed: int,
        epochs: int,
        stop: StopFlag | None = None,
        orders: list[np.ndarray] | None = None,
        run_id: int = 0,
        after: tuple[int, list[np.ndarray]] | None = None,
    ) -> Iterator[EpochMetrics]:
        size, cfg = len(y), self.config
        never = threading.Event()

        def step(order: np.ndarray) -> tuple[float, float, float, float]:
            self.engine.pause(stop or never)
            self.epoch += 1
            loss, acc, val_loss, val_acc = scripted_metrics(size, cfg.embedding, seed, self.epoch)
            if cfg.learning_rate >= DIVERGES_AT:
                loss = HUGE_LOSS if self.epoch == 1 else float("nan")
            self.engine.epochs_done += 1
            return loss, acc, val_loss, val_acc

        for metrics in train_epochs(
            self,
            step,
            seed=seed,
            n=size,
            epochs=epochs,
            stop=stop,
            orders=orders,
            run_id=run_id,
            after=after,
        ):
            yield replace(metrics, seconds=0.01)

    def weights(self) -> list[np.ndarray]:
        cfg = self.config
        features = cfg.maxlen if cfg.head == "flatten" else 1
        return [
            np.zeros((cfg.vocab_size, 1), np.float32),
            np.zeros((features, 1), np.float32),
            np.zeros(1, np.float32),
        ]

    def val_logits(self, x_val: np.ndarray) -> np.ndarray:
        return np.zeros(len(x_val), np.float32)


class _NoMachine:
    """A probe that samples nothing: scripted runs train on no machine."""

    def sample(self) -> list[DeviceSample]:
        return []

    def rss(self) -> float | None:
        return None

    def close(self) -> None:
        pass


class ScriptedSampler(Sampler):
    """The runner's sampler for scripted runs: it records no samples, and meters each run
    that ends at `scripted_cost` of its size, seed and the epochs it has in the store."""

    def __init__(self, store: Store, experiment_id: int) -> None:
        super().__init__(probe=_NoMachine())  # records nothing: no store given
        self.store = store

    def finish_run(self, run_id: int, peak_gpu_mem: float | None = None) -> RunCost | None:
        if super().finish_run(run_id, peak_gpu_mem) is None:
            return None
        run = self.store.run(run_id)
        return scripted_cost(run.size, run.seed, len(self.store.run_epochs(run_id)))


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
