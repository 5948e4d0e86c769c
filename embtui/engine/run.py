"""One run of a grid: its training subset, its training, its checkpoints, its record.

`train_one` is what every executor calls for each run it is handed, in this process or in
a worker (`embtui.engine.executors`): it starts the run in the store (only the experiment's
owner may), continues from the run's checkpoint when it has one, trains, writes each epoch
as it ends and finishes the run `done`, `cancelled` (stopped), or `failed` (a NaN loss, an
error, a model that cannot be built; the grid goes on). What hears of the run are grid
listeners (`embtui.engine.listeners`), called in this order: its record (`RunRecord`), its
TensorBoard log, its checkpoints, then the sink (a run trained on a Ray cluster is
recorded, logged and its checkpoints kept by the same listeners, on the machine that holds
the store: `embtui.engine.executors.ray`). A run's result depends only on its
data, factor values, size and seed: never on who trains it, in which order or whether it
was resumed.
"""

from __future__ import annotations

import platform
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from embtui import __version__
from embtui.config import ArmConfig, ExperimentConfig, arm_name
from embtui.engine import keep
from embtui.engine.checkpoint import Checkpoint, RunCheckpoints
from embtui.engine.data import Dataset
from embtui.engine.events import RunFinished, RunStarted, Sink, Stage, StopFlag
from embtui.engine.fingerprint import fingerprint
from embtui.engine.fused import (
    COMPILING,
    FUSED,
    choose_engine,
    must_compile,
    recorded_engine,
    run_device,
)
from embtui.engine.keep import Learned, ShapeFiles
from embtui.engine.listeners import GridListener, Listeners
from embtui.errors import EmbtuiError, StoreError, one_line
from embtui.store import EpochMetrics, ExperimentRow, RunCost, RunRow, RunStatus, Store, now
from embtui.sysmetrics import Sampler, gpu_memory_peak, gpu_memory_reset, visible_gpu

#: The meta key that says an experiment's TensorFlow trainer uses Keras' 1 - rho (0.1).
ONE_MINUS_RHO = "rmsprop_one_minus_rho"


@dataclass(frozen=True)
class Prepared:
    """An experiment's inputs, loaded and checked: ready to train.

    One dataset per (vocab_size, maxlen) the grid trains on and one GloVe matrix per
    vocab_size (when an arm needs GloVe): a sweep over either prepares each value once.
    """

    config: ExperimentConfig
    datasets: Mapping[tuple[int, int], Dataset]
    gloves: Mapping[int, Any] = field(default_factory=dict)  # vocab_size -> GloveMatrix

    @property
    def data(self) -> Dataset:
        """The dataset of the grid's first shape: every shape holds the same reviews."""
        return next(iter(self.datasets.values()))

    @property
    def glove(self) -> Any | None:
        """The GloVe matrix of the grid's first vocab_size, if an arm needs GloVe."""
        return next(iter(self.gloves.values()), None)

    def dataset_for(self, arm: ArmConfig) -> Dataset:
        return self.datasets[(arm.vocab_size, arm.maxlen)]

    def glove_for(self, arm: ArmConfig) -> Any | None:
        """The GloVe matrix an arm starts from (None for a learned embedding)."""
        return self.gloves.get(arm.vocab_size) if arm.embedding != "learned" else None

    @property
    def chance(self) -> float:
        """The validation set's majority-class rate: what always guessing one class scores."""
        positive = float(np.mean(self.data.y_val))
        return max(positive, 1.0 - positive)

    def meta(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "data": self.data.source,
            "n_train": len(self.data.y_train),
            "n_val": len(self.data.y_val),
            "chance": self.chance,
            "python": platform.python_version(),
            "embtui": __version__,
            "fingerprint": fingerprint(self.config, self.datasets, self.gloves),
            "engine": choose_engine(self.config),
            # RMSprop's 1 - rho as Keras computes it (see `Trainer`); experiments recorded
            # without this key resume with the float32 value they started with.
            ONE_MINUS_RHO: "keras",
        }
        if self.glove is not None:
            out["glove"] = self.glove.source
            out["glove_dim"] = self.glove.dim
            out["glove_coverage"] = self.glove.coverage
        return out


def training_subset(
    prepared: Prepared, size: int, seed: int, arm: ArmConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The training examples of one run (in the arm's shape; default the first).

    `random`: a seed-specific permutation of the training split, cut at `size`, so the
    samples of one seed are nested across sizes (a learning curve adds data, it does not
    swap it). `first`: the first `size` examples, as the reference notebook did. The same
    reviews whatever the arm: every shape holds the training split in one order.
    """
    data = prepared.dataset_for(arm) if arm is not None else prepared.data
    if prepared.config.subset == "first":
        return data.x_train[:size], data.y_train[:size]
    rng = np.random.default_rng([seed, 0xDA7A])
    idx = rng.permutation(len(data.y_train))[:size]
    return data.x_train[idx], data.y_train[idx]


class Checkpoints(Protocol):
    """A run's checkpoints, wherever they are kept (see `embtui.engine.checkpoint`)."""

    saved: int

    def load(self) -> Checkpoint | None: ...
    def due(self) -> bool: ...
    def save(self, epoch: int, state: list[np.ndarray]) -> None: ...
    def remove(self) -> None: ...


class Trainers(Protocol):
    """Where a process's runs get their trainers: `embtui.engine.trainer.TrainerCache` (a
    TensorFlow `Trainer` or a `FusedTrainer` per graph, built once).

    `start` sets the process up for the experiment's recorded `engine` once, before its
    first run, and returns (device, threads per TensorFlow op) for the record; `get` gives
    an arm's trainer, whose calls `train_one` makes: `fit` (the run's epochs),
    `snapshot` (its state for a checkpoint), `params`, `weights` and `val_logits` (what it
    keeps), and with the fused engine `tensorflow_note`; `clear` forgets every trainer
    after a run failed inside one.
    """

    def start(self, engine: str, say: Callable[[str], None]) -> tuple[str, str]: ...
    def get(
        self,
        config: ArmConfig,
        arm: str,
        glove: np.ndarray | None,
        engine: str = ...,
        legacy_one_minus_rho: bool = ...,
    ) -> Any: ...
    def clear(self) -> None: ...


class Ledger(Protocol):
    """Where one run's record goes: the run store itself (`StoreLedger`), or, for a run
    trained on another machine, the process that owns the store (the Ray executor's).
    The write methods are the store's; so are their ownership rules."""

    def experiment(self, exp_id: int) -> ExperimentRow: ...
    def run_epochs(self, run_id: int) -> list[EpochMetrics]: ...
    def start_run(
        self,
        run_id: int,
        *,
        device: str,
        params: int | None,
        coverage: float | None,
        keep_epochs: int = 0,
    ) -> None: ...
    def add_epoch(self, m: EpochMetrics) -> None: ...
    def finish_run(self, run_id: int, status: RunStatus, error: str | None = None) -> None: ...
    def set_run_cost(self, run_id: int, cost: RunCost) -> None: ...
    def run_checkpoints(
        self, experiment: ExperimentRow, run_row: RunRow, every_s: float
    ) -> Checkpoints: ...
    def log_failure(self, run_row: RunRow, exc: BaseException) -> str: ...
    def event_log(
        self, cfg: ExperimentConfig, experiment: ExperimentRow, run_row: RunRow
    ) -> Any: ...
    def keep_learned(self, run_row: RunRow, kept: Learned, shape: ShapeFiles) -> None: ...


class StoreLedger:
    """A run recorded straight into the run store (this machine's executors)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def experiment(self, exp_id: int) -> ExperimentRow:
        return self.store.experiment(exp_id)

    def run_epochs(self, run_id: int) -> list[EpochMetrics]:
        return self.store.run_epochs(run_id)

    def start_run(
        self,
        run_id: int,
        *,
        device: str,
        params: int | None,
        coverage: float | None,
        keep_epochs: int = 0,
    ) -> None:
        self.store.start_run(
            run_id, device=device, params=params, coverage=coverage, keep_epochs=keep_epochs
        )

    def add_epoch(self, m: EpochMetrics) -> None:
        self.store.add_epoch(m)

    def finish_run(self, run_id: int, status: RunStatus, error: str | None = None) -> None:
        self.store.finish_run(run_id, status, error)

    def set_run_cost(self, run_id: int, cost: RunCost) -> None:
        self.store.set_run_cost(run_id, cost)

    def run_checkpoints(
        self, experiment: ExperimentRow, run_row: RunRow, every_s: float
    ) -> Checkpoints:
        return RunCheckpoints(self.store, experiment, run_row, every_s)

    def log_failure(self, run_row: RunRow, exc: BaseException) -> str:
        return _log_failure(self.store, run_row, exc)

    def event_log(self, cfg: ExperimentConfig, experiment: ExperimentRow, run_row: RunRow) -> Any:
        return _event_log(cfg, experiment, run_row, self.store)

    def keep_learned(self, run_row: RunRow, kept: Learned, shape: ShapeFiles) -> None:
        keep.write(self.store.path, run_row.experiment_id, run_row.id, kept, shape)


def train_one(
    store: Store | Ledger,
    experiment_id: int,
    prepared: Prepared,
    run_row: RunRow,
    total: int,
    cache: Trainers,
    device: str,
    sink: Sink,
    stop: StopFlag,
    meter: Sampler | None = None,
) -> None:
    """Train one run of the experiment and record it (see the module docstring).

    The run trains with its own factor values (its arm: embedding, head, learning rate,
    ...), recorded with it in the store. With a `meter` (this process's
    `embtui.sysmetrics.Sampler`), what the run cost (wall time, peak memory, GPU use) is
    recorded with it when it ends, however it ends. `store` is the run store, or a `Ledger`
    that carries the record to it from another machine.
    """
    ledger: Ledger = StoreLedger(store) if isinstance(store, Store) else store
    cfg = prepared.config
    arm_cfg = cfg.arm(run_row.factors)
    arm = arm_cfg.embedding
    vectors = prepared.glove_for(arm_cfg)
    glove = vectors.matrix if vectors is not None else None
    coverage = vectors.coverage if vectors is not None else None

    experiment = ledger.experiment(experiment_id)
    # What hears of the run, in order: its record, its TensorBoard files (once open), its
    # checkpoints, then whoever watches the grid (the sink).
    record = RunRecord(ledger, meter, device)
    tensorboard = TensorBoardLog()
    keeper = CheckpointKeeper(
        ledger.run_checkpoints(experiment, run_row, cfg.checkpoint_every), arm_cfg.epochs
    )
    learned = LearnedKeeper(ledger, sink, run_row, cfg, prepared)
    listeners = Listeners([learned, record, tensorboard, keeper, sink])

    def finish(status: RunStatus, error: str | None = None) -> None:
        listeners.on_run_end(RunFinished(experiment_id, run_row.id, status, error))

    engine = recorded_engine(experiment.meta)  # a resumed experiment keeps its engine
    legacy_one_minus_rho = ONE_MINUS_RHO not in experiment.meta
    if engine == FUSED and must_compile(arm_cfg, arm, glove):
        sink(Stage(experiment_id, COMPILING))
    try:
        trainer = cache.get(arm_cfg, arm, glove, engine, legacy_one_minus_rho)
    except Exception as exc:  # a model that cannot be built fails its run, not the grid
        finish("failed", one_line(exc))
        return
    device = record.device = run_device(device, engine)
    resumed = _usable(keeper.checkpoints.load(), ledger, run_row, arm_cfg.epochs)
    kept = keeper.kept = resumed.epoch if resumed else 0
    keeper.snapshot = trainer.snapshot
    learned.trainer = trainer
    ledger.start_run(
        run_row.id, device=device, params=trainer.params, coverage=coverage, keep_epochs=kept
    )
    if meter is not None:
        gpu_memory_reset(device)
        meter.start_run(run_row.id, visible_gpu() if device.startswith("GPU") else None)
    listeners.on_run_begin(
        RunStarted(
            experiment_id,
            run_row.id,
            run_row.position,
            total,
            run_row.size,
            arm,
            run_row.seed,
            device,
            arm_name(run_row.factors, cfg.varied())
            if cfg.varied() not in ([], ["embeddings"])
            else arm,
            arm_cfg.epochs,
        )
    )
    if resumed:
        sink(Stage(experiment_id, f"  continuing from the checkpoint after epoch {kept}"))
    if engine == FUSED and (note := trainer.tensorflow_note(run_row.seed)):
        sink(Stage(experiment_id, note))  # initial weights not cached yet: a pause to say
    x, y = training_subset(prepared, run_row.size, run_row.seed, arm_cfg)
    data = prepared.dataset_for(arm_cfg)
    finished = kept
    try:
        tensorboard.start(ledger, cfg, experiment, run_row, continued=resumed is not None)
    except (OSError, EmbtuiError) as exc:  # the folder changed under the grid: say so
        tensorboard.close()
        finish("failed", f"cannot write its TensorBoard files: {one_line(exc)}")
        return
    try:
        for metrics in trainer.fit(
            x,
            y,
            data.x_val,
            data.y_val,
            seed=run_row.seed,
            epochs=arm_cfg.epochs,
            stop=stop,
            run_id=run_row.id,
            after=(resumed.epoch, resumed.state) if resumed else None,
        ):
            if problem := metrics.divergence():
                finish("failed", problem)
                return
            listeners.on_epoch_end(metrics)
            finished = metrics.epoch
    except StoreError:
        raise  # nothing more can be recorded: stop the grid, not just this run
    except Exception as exc:  # out of memory, a bad model: this run fails, the grid goes on
        cache.clear()  # the failed trainer's state is unknown; build afresh for the next run
        finish("failed", ledger.log_failure(run_row, exc))
        return
    finally:
        tensorboard.close()
    if finished < arm_cfg.epochs:  # stopped: the trainer holds the state after `finished`
        keeper.keep_stopped(finished)
        finish("cancelled")
    else:
        finish("done")


class LearnedKeeper(GridListener):
    """What a run learned, kept beside the store when it ends `done` (`embtui.engine.keep`:
    its validation logits and, as `keep_weights` says, its trained table), before the run
    is recorded done, so whoever hears that it ended finds the files. A run whose arrays
    cannot be written is still done (its numbers are in the store); the grid's watcher is
    told why."""

    def __init__(
        self, ledger: Ledger, sink: Sink, run_row: RunRow, cfg: ExperimentConfig, prepared: Prepared
    ) -> None:
        self.ledger = ledger
        self.sink = sink
        self.run_row = run_row
        self.cfg = cfg
        self.prepared = prepared
        self.trainer: Any = None

    def on_run_end(self, event: RunFinished) -> None:
        if event.status != "done" or self.trainer is None:
            return
        run_row, cfg = self.run_row, self.cfg
        arm_cfg = cfg.arm(run_row.factors)
        data = self.prepared.dataset_for(arm_cfg)
        vectors = self.prepared.gloves.get(arm_cfg.vocab_size)  # every shape file holds GloVe
        try:
            kept = keep.learned(
                self.trainer, arm_cfg, data.x_val, run_row.seed, cfg.keep_weights, cfg.first_seed
            )
            shape = keep.shape_files(arm_cfg, data, vectors.matrix if vectors else None)
            self.ledger.keep_learned(run_row, kept, shape)
        except Exception as exc:  # any failure: the run is done all the same, and said so
            self.sink(
                Stage(
                    run_row.experiment_id,
                    f"  run {run_row.id}: its weights and logits were not kept ({one_line(exc)})",
                )
            )


class RunRecord(GridListener):
    """A run's record (in the store, or the ledger that carries it there): each epoch as it
    ends; when the run ends, what it cost (with a `meter`) and how it ended."""

    def __init__(self, ledger: Ledger, meter: Sampler | None, device: str) -> None:
        self.ledger = ledger
        self.meter = meter
        self.device = device

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.ledger.add_epoch(metrics)

    def on_run_end(self, event: RunFinished) -> None:
        if self.meter is not None:
            cost = self.meter.finish_run(event.run_id, gpu_memory_peak(self.device))
            if cost is not None:
                self.ledger.set_run_cost(event.run_id, cost)
        self.ledger.finish_run(event.run_id, event.status, event.error)


class TensorBoardLog(GridListener):
    """A run's TensorBoard event log, when the experiment keeps one (`tensorboard_dir`):
    opened once the run is started in the store (`start`), each epoch written as it ends,
    the file closed when the run ends. The Ray executor's driver keeps one per run too, on
    the machine that holds the store, fed with what the run's task sends back."""

    def __init__(self, log: Any = None) -> None:
        self.log = log

    def start(
        self,
        ledger: Ledger,
        cfg: ExperimentConfig,
        experiment: ExperimentRow,
        run_row: RunRow,
        *,
        continued: bool,
    ) -> None:
        """Open the run's log where its ledger writes one (none for a run recorded from
        another machine), closing the log of an earlier attempt at the run. The log starts
        afresh, so a run that `continued` from its checkpoint first writes the epochs it
        kept, as recorded (call it after `start_run`, which drops the others)."""
        self.close()
        self.log = ledger.event_log(cfg, experiment, run_row)
        if self.log is not None and continued:
            for earlier in ledger.run_epochs(run_row.id):
                self.log.write(earlier)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self.log is not None:
            self.log.write(metrics)

    def on_run_end(self, event: RunFinished) -> None:
        self.close()

    def close(self) -> None:
        if self.log is not None:
            log, self.log = self.log, None
            log.close()


class CheckpointKeeper(GridListener):
    """A run's checkpoints: saved after an epoch when one is due (never after the last),
    removed once the run is `done` or `failed` (a cancelled run keeps its own to continue
    from). `snapshot` is the trainer's, once it is built; `kept` the epoch it continued
    after."""

    def __init__(self, checkpoints: Checkpoints, epochs: int) -> None:
        self.checkpoints = checkpoints
        self.epochs = epochs
        self.kept = 0
        self.snapshot: Callable[[], list[np.ndarray]] | None = None

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        if self.snapshot is not None and metrics.epoch < self.epochs and self.checkpoints.due():
            self.checkpoints.save(metrics.epoch, self.snapshot())

    def keep_stopped(self, finished: int) -> None:
        """Stopped after epoch `finished`: save the state there unless it is saved already
        (or nothing was trained since the run continued)."""
        saved = self.checkpoints.saved == finished
        if self.snapshot is not None and finished > self.kept and not saved:
            self.checkpoints.save(finished, self.snapshot())

    def on_run_end(self, event: RunFinished) -> None:
        if event.status in ("done", "failed"):
            self.checkpoints.remove()


def _event_log(
    cfg: ExperimentConfig, experiment: ExperimentRow, run_row: RunRow, store: Store
) -> Any:
    """The run's TensorBoard event log when the experiment asks for one (tensorboard_dir)."""
    if not cfg.tensorboard_dir:
        return None
    from embtui.export.tensorboard import RunEventLog

    return RunEventLog(cfg.tensorboard_dir, experiment, run_row, store=store.path)


def _usable(
    checkpoint: Checkpoint | None, store: Store | Ledger, run_row: RunRow, epochs: int
) -> Checkpoint | None:
    """A checkpoint to continue from: its epochs 1..k must all be in the store."""
    if checkpoint is None or not 0 < checkpoint.epoch < epochs:
        return None
    stored = [e.epoch for e in store.run_epochs(run_row.id)]
    if stored[: checkpoint.epoch] != list(range(1, checkpoint.epoch + 1)):
        return None
    return checkpoint


def _log_failure(store: Store, run_row: RunRow, exc: BaseException) -> str:
    """Append the full traceback to the store's log; the run's error names that log."""
    message = one_line(exc)
    try:
        with open(store.log_path, "a", encoding="utf-8") as log:
            log.write(
                f"--- {now()} experiment {run_row.experiment_id} run {run_row.id} "
                f"(size {run_row.size}, {run_row.embedding}, seed {run_row.seed}) failed\n"
            )
            log.write("".join(traceback.format_exception(exc)))
    except OSError:
        return message
    return f"{message} (traceback in {store.log_path})"
