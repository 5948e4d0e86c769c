"""Run an experiment grid (size x arm x seed) and record everything in the store.

The flow every front end shares:

1. `prepare(config)` loads the data and, when an arm needs them, the GloVe vectors, and
   checks what can only be checked against the data (sizes against the training split,
   the TensorBoard folder). Nothing is written before this succeeds, so bad input never
   leaves a trace in the store.
2. `create(store, prepared)` records the experiment and its queued runs; the store
   connection that creates it owns it.
3. `run(store, experiment_id, prepared, sink=..., stop=...)` trains the queued runs in grid
   order, writing each epoch to the store (one transaction each) and telling the sink.
   Setting `stop` ends training after the current epoch; the runs left are `cancelled`.

Resuming: `prepare_resume(store, id)` first claims the experiment (one transaction that
checks no live process owns it and takes it), then loads its recorded inputs and checks
that they are the data it started with; `resume` then queues again what is unfinished. A
run with a checkpoint continues from it (see `embtui.engine.checkpoint`).
"""

from __future__ import annotations

import platform
import threading
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from embtui import __version__
from embtui.config import CALLBACK_SOURCE, ExperimentConfig, check_sizes_fit, from_mapping
from embtui.engine.checkpoint import Checkpoint, RunCheckpoints
from embtui.engine.data import Dataset, load_dataset_cached
from embtui.engine.events import (
    ExperimentFinished,
    RunFinished,
    RunStarted,
    Sink,
    Stage,
    ignore,
)
from embtui.engine.fingerprint import changed_inputs, fingerprint
from embtui.errors import EmbtuiError, StoreError, one_line
from embtui.store import (
    HEARTBEAT_S,
    ExperimentRow,
    RunRow,
    Store,
    experiment_status,
    now,
)


@dataclass(frozen=True)
class Prepared:
    """An experiment's inputs, loaded and checked: ready to train."""

    config: ExperimentConfig
    data: Dataset
    glove: Any | None  # embtui.engine.glove.GloveMatrix when an arm needs GloVe

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
            "fingerprint": fingerprint(self.config, self.data, self.glove),
        }
        if self.glove is not None:
            out["glove"] = self.glove.source
            out["glove_dim"] = self.glove.dim
            out["glove_coverage"] = self.glove.coverage
        return out


def prepare(config: ExperimentConfig, sink: Sink = ignore) -> Prepared:
    """Load and check everything an experiment needs; raises EmbtuiError on bad input.

    Relative paths left in the configuration (from the command line or the console) are
    made absolute against the current folder here, so the store records where the data
    really was and a resume from another folder reads the same files.
    """
    config = absolute_paths(config, Path.cwd())
    if config.tensorboard_dir:
        from embtui.export.tensorboard import check_root

        check_root(config.tensorboard_dir, config.name)
    sink(Stage(None, f"loading data: {config.dataset}"))
    data = load_dataset_cached(
        config.dataset,
        vocab_size=config.vocab_size,
        maxlen=config.maxlen,
        val_size=config.val_size,
        word_index_path=config.word_index,
    )
    check_sizes_fit(config, len(data.y_train))
    glove = None
    if any(arm != "learned" for arm in config.embeddings):
        from embtui.engine.glove import glove_matrix

        sink(Stage(None, "loading GloVe vectors"))
        glove = glove_matrix(data.word_index, config.vocab_size, config.glove)
    return Prepared(config, data, glove)


def absolute_paths(config: ExperimentConfig, base: Path) -> ExperimentConfig:
    """The configuration with each relative path key made absolute against `base`."""
    from embtui.config import path_values

    changes = path_values(config.to_dict(), base)
    return replace(config, **changes) if changes else config


def create(store: Store, prepared: Prepared) -> int:
    """Record the experiment and its queued runs; `store` owns it from here on.

    With a TensorBoard folder, what would be written there is checked inside the same
    transaction: if another experiment's files are in the way, nothing is recorded."""
    cfg = prepared.config
    check = None
    if cfg.tensorboard_dir:
        from embtui.export.tensorboard import check_experiment_folder

        def check(exp_id: int) -> None:
            check_experiment_folder(cfg.tensorboard_dir, cfg.name, exp_id, cfg.run_cells())

    return store.create_experiment(
        cfg.name, cfg.to_dict(), cfg.run_cells(), head=cfg.head, meta=prepared.meta(), check=check
    )


def training_subset(prepared: Prepared, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The training examples of one run.

    `random`: a seed-specific permutation of the training split, cut at `size`, so the
    samples of one seed are nested across sizes (a learning curve adds data, it does not
    swap it). `first`: the first `size` examples, as the reference notebook did.
    """
    data = prepared.data
    if prepared.config.subset == "first":
        return data.x_train[:size], data.y_train[:size]
    rng = np.random.default_rng([seed, 0xDA7A])
    idx = rng.permutation(len(data.y_train))[:size]
    return data.x_train[idx], data.y_train[idx]


def run(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    *,
    sink: Sink = ignore,
    stop: threading.Event | None = None,
) -> str:
    """Train every queued run of the experiment; returns the experiment's final status.

    `store` must own the experiment (it created or claimed it); a live process that owns
    it elsewhere makes this refuse before anything trains.
    """
    stop = stop or threading.Event()
    store.claim(experiment_id)
    every_run = store.runs(experiment_id)
    runs = [r for r in every_run if r.status == "queued"]
    total = len(every_run)
    heart = _Heartbeat(store, experiment_id)
    try:
        if prepared.config.workers > 1 and len(runs) > 1:
            from embtui.engine.parallel import run_parallel

            sink(Stage(experiment_id, f"starting {prepared.config.workers} worker processes"))
            store.update_meta(experiment_id, **framework_versions())
            run_parallel(
                store,
                experiment_id,
                prepared,
                [r.id for r in runs],
                workers=prepared.config.workers,
                total=total,
                sink=sink,
                stop=stop,
            )
        else:
            sink(Stage(experiment_id, "loading TensorFlow"))
            from embtui.engine.trainer import TrainerCache, describe_device

            device = describe_device()
            store.update_meta(experiment_id, **framework_versions(), device=device)
            cache = TrainerCache()
            for run_row in runs:
                if stop.is_set():
                    break
                train_one(store, experiment_id, prepared, run_row, total, cache, device, sink, stop)
    except BaseException:
        try:
            store.cancel_queued(experiment_id, "interrupted")
            store.set_experiment_status(experiment_id, "interrupted")
        except StoreError:
            pass  # not ours any more, or the store cannot be written: recover() decides
        sink(ExperimentFinished(experiment_id, "interrupted"))
        raise
    finally:
        heart.stop()
    # Runs still queued here were never trained: stopped (cancelled), or every worker died.
    store.cancel_queued(experiment_id, "cancelled" if stop.is_set() else "interrupted")
    status = experiment_status(r.status for r in store.runs(experiment_id))
    store.set_experiment_status(experiment_id, status)
    sink(ExperimentFinished(experiment_id, status))
    return status


def train_one(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    run_row: RunRow,
    total: int,
    cache: Any,
    device: str,
    sink: Sink,
    stop: threading.Event,
) -> None:
    cfg = prepared.config
    arm = run_row.embedding
    glove = prepared.glove.matrix if (arm != "learned" and prepared.glove) else None
    coverage = prepared.glove.coverage if glove is not None else None

    experiment = store.experiment(experiment_id)
    checkpoints = RunCheckpoints(store, experiment, run_row, cfg.checkpoint_every)

    def finish(status: str, error: str | None = None) -> None:
        store.finish_run(run_row.id, status, error)
        if status in ("done", "failed"):
            checkpoints.remove()
        sink(RunFinished(experiment_id, run_row.id, status, error))

    try:
        trainer = cache.get(cfg, arm, glove)
    except Exception as exc:  # a model that cannot be built fails its run, not the grid
        finish("failed", one_line(exc))
        return
    resumed = _usable(checkpoints.load(), store, run_row, cfg.epochs)
    kept = resumed.epoch if resumed else 0
    store.start_run(
        run_row.id, device=device, params=trainer.params, coverage=coverage, keep_epochs=kept
    )
    sink(
        RunStarted(
            experiment_id,
            run_row.id,
            run_row.position,
            total,
            run_row.size,
            arm,
            run_row.seed,
            device,
        )
    )
    if resumed:
        sink(Stage(experiment_id, f"  continuing from the checkpoint after epoch {kept}"))
    x, y = training_subset(prepared, run_row.size, run_row.seed)
    data = prepared.data
    finished = kept
    try:
        events = _event_log(cfg, experiment, run_row, store)
        if events is not None and resumed:
            for earlier in store.run_epochs(run_row.id):  # the log starts afresh: rewrite
                events.write(earlier)
    except (OSError, EmbtuiError) as exc:  # the folder changed under the grid: say so
        finish("failed", f"cannot write its TensorBoard files: {one_line(exc)}")
        return
    try:
        for metrics in trainer.fit(
            x,
            y,
            data.x_val,
            data.y_val,
            seed=run_row.seed,
            epochs=cfg.epochs,
            stop=stop,
            run_id=run_row.id,
            after=(resumed.epoch, resumed.state) if resumed else None,
        ):
            if problem := metrics.divergence():
                finish("failed", problem)
                return
            store.add_epoch(metrics)
            if events is not None:
                events.write(metrics)
            if metrics.epoch < cfg.epochs and checkpoints.due():
                checkpoints.save(metrics.epoch, trainer.snapshot())
            sink(metrics)
            finished = metrics.epoch
    except StoreError:
        raise  # nothing more can be recorded: stop the grid, not just this run
    except Exception as exc:  # out of memory, a bad model: this run fails, the grid goes on
        cache.clear()  # the failed trainer's state is unknown; build afresh for the next run
        finish("failed", _log_failure(store, run_row, exc))
        return
    finally:
        if events is not None:
            events.close()
    if finished < cfg.epochs:  # stopped: the trainer still holds the state after `finished`
        if finished > kept and checkpoints.saved != finished:
            checkpoints.save(finished, trainer.snapshot())
        finish("cancelled")
    else:
        finish("done")


def _event_log(
    cfg: ExperimentConfig, experiment: ExperimentRow, run_row: RunRow, store: Store
) -> Any:
    """The run's TensorBoard event log when the experiment asks for one (tensorboard_dir)."""
    if not cfg.tensorboard_dir:
        return None
    from embtui.export.tensorboard import RunEventLog

    return RunEventLog(cfg.tensorboard_dir, experiment, run_row, store=store.path)


def _usable(
    checkpoint: Checkpoint | None, store: Store, run_row: RunRow, epochs: int
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


class _Heartbeat:
    """Beats the experiment's heartbeat every HEARTBEAT_S while it trains.

    On this host a dead owner is seen from its pid; the heartbeat is what tells viewers on
    other hosts (a store on a shared filesystem) that the training process is still alive,
    even during an epoch that takes minutes.
    """

    def __init__(self, store: Store, experiment_id: int) -> None:
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, args=(store, experiment_id), name="embtui-heartbeat", daemon=True
        )
        self._thread.start()

    def _loop(self, store: Store, experiment_id: int) -> None:
        while not self._done.wait(HEARTBEAT_S):
            try:
                store.beat(experiment_id)
            except StoreError:
                return  # the training thread meets the same error and reports it

    def stop(self) -> None:
        self._done.set()


def resume_config(store: Store, experiment_id: int) -> ExperimentConfig:
    """The configuration an experiment was started with, as recorded in the store."""
    config = store.experiment(experiment_id).config
    if config.get("source") == CALLBACK_SOURCE:
        raise StoreError(
            f"experiment {experiment_id} was recorded by EmbtuiCallback from a training "
            "script; run that script again to add runs"
        )
    try:
        return from_mapping(config)
    except EmbtuiError as exc:
        raise StoreError(
            f"experiment {experiment_id}'s recorded configuration is not valid ({exc})"
        ) from None


def prepare_resume(store: Store, experiment_id: int, sink: Sink = ignore) -> Prepared:
    """Claim an experiment for this store, then load and check what it was started with.

    The claim comes first, in one transaction, so that two resumes started together never
    both train it (the second is refused at once). The data must be what the experiment
    started with: same training and validation reviews, same GloVe vectors, or results
    would silently mix two datasets. On any failure the claim is given back.
    """
    config = resume_config(store, experiment_id)
    claim = store.claim(experiment_id, resume=True)
    try:
        prepared = prepare(config, sink)
        recorded = store.experiment(experiment_id).meta.get("fingerprint")
        if recorded:
            problem = changed_inputs(
                recorded, fingerprint(prepared.config, prepared.data, prepared.glove)
            )
            if problem:
                raise EmbtuiError(
                    f"experiment {experiment_id} cannot resume: {problem} since it started "
                    f"(dataset {config.dataset}); resume needs the same data"
                )
    except BaseException:
        store.release(claim)
        raise
    return prepared


def resume(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    *,
    sink: Sink = ignore,
    stop: threading.Event | None = None,
) -> str:
    """Finish an interrupted, cancelled or failed experiment: every run not done trains
    again, continuing from its checkpoint where it has one."""
    store.claim(experiment_id, resume=True)
    store.reopen_runs(experiment_id)
    return run(store, experiment_id, prepared, sink=sink, stop=stop)


def framework_versions() -> dict[str, str]:
    """Installed TensorFlow and Keras versions, read from package metadata (no import)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for key, dists in (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",))):
        for dist in dists:
            try:
                out[key] = version(dist)
                break
            except PackageNotFoundError:
                continue
    return out
