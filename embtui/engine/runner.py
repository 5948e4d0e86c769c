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

`Session` is these steps as the CLI and the console take them: `Session.new(store,
prepared)` (after `prepare`) or `Session.resumed(store, id)`, then `session.train(sink,
stop)`. A `Training` given to either names another executor or sampler than embtui's own
(the console's tests train scripted epochs so, through this same bookkeeping).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from embtui.config import (
    CALLBACK_SOURCE,
    EXECUTOR_KEYS,
    ExperimentConfig,
    check_sizes_fit,
    from_mapping,
)
from embtui.engine.data import load_dataset_cached
from embtui.engine.events import ExperimentFinished, Sink, Stage, StopFlag, ignore
from embtui.engine.executors import Executor, executor_for
from embtui.engine.fingerprint import changed_inputs, fingerprint
from embtui.engine.fused import recorded_engine
from embtui.engine.run import Prepared, training_subset
from embtui.engine.tfsetup import check_thread_settings
from embtui.errors import EmbtuiError, StoreError
from embtui.store import HEARTBEAT_S, ExperimentStatus, Store, experiment_status
from embtui.sysmetrics import Sampler

__all__ = [
    "Prepared",
    "Session",
    "Training",
    "absolute_paths",
    "create",
    "prepare",
    "prepare_resume",
    "resume",
    "resume_config",
    "run",
    "training_subset",
]


def prepare(config: ExperimentConfig, sink: Sink = ignore) -> Prepared:
    """Load and check everything an experiment needs; raises EmbtuiError on bad input.

    Relative paths left in the configuration (from the command line or the console) are
    made absolute against the current folder here, so the store records where the data
    really was and a resume from another folder reads the same files.
    """
    config = absolute_paths(config, Path.cwd())
    check_thread_settings()
    if config.tensorboard_dir:
        from embtui.export.tensorboard import check_root

        check_root(config.tensorboard_dir, config.name)
    sink(Stage(None, f"loading data: {config.dataset}"))
    datasets = {}
    for vocab_size, maxlen in config.data_shapes():
        datasets[(vocab_size, maxlen)] = load_dataset_cached(
            config.dataset,
            vocab_size=vocab_size,
            maxlen=maxlen,
            val_size=config.val_size,
            word_index_path=config.word_index,
        )
    first = next(iter(datasets.values()))
    check_sizes_fit(config, len(first.y_train))
    gloves = {}
    if any(arm != "learned" for arm in config.embeddings):
        from embtui.engine.glove import glove_matrix

        sink(Stage(None, "loading GloVe vectors"))
        for vocab_size in config.vocab_size:
            # The vocabulary depends on vocab_size alone, not on maxlen.
            words = datasets[(vocab_size, config.maxlen[0])].word_index
            gloves[vocab_size] = glove_matrix(words, vocab_size, config.glove)
    if config.cluster == "ray" and config.ray_address:
        # Before anything is recorded: a cluster that is not there (or not Ray, or wants a
        # token) is bad input, like a missing file. Ray on this machine (no address) starts
        # in the executor, once the experiment is recorded: see `RayCluster.run`.
        from embtui.engine.executors.ray import connect

        connect(config.ray_address, sink)
    return Prepared(config, datasets, gloves)


def absolute_paths(config: ExperimentConfig, base: Path) -> ExperimentConfig:
    """The configuration with each relative path key made absolute against `base`."""
    from embtui.config import path_values

    changes: dict[str, Any] = dict(path_values(config.to_dict(), base))
    return replace(config, **changes) if changes else config


def create(store: Store, prepared: Prepared) -> int:
    """Record the experiment and its queued runs; `store` owns it from here on.

    With a TensorBoard folder, what would be written there is checked inside the same
    transaction: if another experiment's files are in the way, nothing is recorded."""
    cfg = prepared.config
    check = None
    if cfg.tensorboard_dir:
        from embtui.export.tensorboard import check_experiment_folder

        root = cfg.tensorboard_dir

        def check(exp_id: int) -> None:
            check_experiment_folder(root, cfg.name, exp_id, cfg.run_cells(), cfg.varied())

    return store.create_experiment(
        cfg.name, cfg.to_dict(), cfg.run_cells(), meta=prepared.meta(), check=check
    )


@dataclass(frozen=True)
class Training:
    """Who trains an experiment's queued runs and what meters them; None: embtui's own.

    Args:
        executor: trains the runs; by default the executor the configuration asks for
            (`executor_for`: this process, threads, worker processes or Ray).
        sampler: made with the store and the experiment's id, records the machine's
            samples into the store while the grid trains and meters each run's cost; by
            default `embtui.sysmetrics.Sampler`.

    The runner's bookkeeping (claims, heartbeat, store writes, stop rules, final status)
    is the same whichever they are. The console's tests give `InProcess` scripted trainers
    and a sampler that meters scripted costs (tests/app/fake.py).
    """

    executor: Executor | None = None
    sampler: Callable[[Store, int], Sampler] | None = None


#: embtui's own executor and sampler.
DEFAULT_TRAINING = Training()


def run(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    *,
    sink: Sink = ignore,
    stop: StopFlag | None = None,
    training: Training = DEFAULT_TRAINING,
) -> ExperimentStatus:
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
    sampler = (training.sampler or Sampler)(store, experiment_id).start()  # samples, stored
    try:
        engine = recorded_engine(store.experiment(experiment_id).meta)
        executor = training.executor or executor_for(prepared.config, len(runs), engine)
        executor.run(
            store, experiment_id, prepared, runs, total=total, sink=sink, stop=stop, meter=sampler
        )
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
        sampler.stop()
    # Runs still queued here were never trained: stopped (cancelled), or every worker died.
    store.cancel_queued(experiment_id, "cancelled" if stop.is_set() else "interrupted")
    status = experiment_status(r.status for r in store.runs(experiment_id))
    store.set_experiment_status(experiment_id, status)
    sink(ExperimentFinished(experiment_id, status))
    return status


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
        return from_mapping(config, new=False)  # a name recorded under older rules resumes
    except EmbtuiError as exc:
        raise StoreError(
            f"experiment {experiment_id}'s recorded configuration is not valid ({exc})"
        ) from None


def prepare_resume(
    store: Store,
    experiment_id: int,
    sink: Sink = ignore,
    *,
    executor: Mapping[str, Any] | None = None,
    load: Callable[[ExperimentConfig, Sink], Prepared] | None = None,
) -> Prepared:
    """Claim an experiment for this store, then load and check what it was started with.

    The claim comes first, in one transaction, so that two resumes started together never
    both train it (the second is refused at once). The data must be what the experiment
    started with: same training and validation reviews, same GloVe vectors, or results
    would silently mix two datasets. On any failure the claim is given back. `load` loads
    the inputs (None: `prepare`; the console's tests build scripted ones without files).
    """
    config = resume_config(store, experiment_id)
    if executor:
        unknown = set(executor) - set(EXECUTOR_KEYS)
        if unknown:
            raise EmbtuiError(f"a resume may change only {', '.join(EXECUTOR_KEYS)}")
        config = config.replace(**executor)
    claim = store.claim(experiment_id, resume=True)
    try:
        prepared = (load or prepare)(config, sink)
        recorded = store.experiment(experiment_id).meta.get("fingerprint")
        if recorded:
            problem = changed_inputs(
                recorded, fingerprint(prepared.config, prepared.datasets, prepared.gloves)
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
    stop: StopFlag | None = None,
    training: Training = DEFAULT_TRAINING,
) -> str:
    """Finish an interrupted, cancelled or failed experiment: every run not done trains
    again, continuing from its checkpoint where it has one."""
    store.claim(experiment_id, resume=True)
    store.reopen_runs(experiment_id)
    return run(store, experiment_id, prepared, sink=sink, stop=stop, training=training)


@dataclass(frozen=True)
class Session:
    """One experiment to train in this process: recorded just now (`new`) or claimed again
    to finish it (`resumed`); `train` then trains what is queued.

    Example (what `embtui run` and the console do; `embtui resume` starts with `resumed`):

        prepared = prepare(config, sink)            # bad input stops here, nothing written
        session = Session.new(store, prepared)      # recorded; this store owns it
        status = session.train(sink, stop)          # "done", "cancelled", "failed", ...
    """

    store: Store
    experiment_id: int
    prepared: Prepared
    resuming: bool = False
    training: Training = field(default=DEFAULT_TRAINING, kw_only=True)

    @classmethod
    def new(
        cls, store: Store, prepared: Prepared, *, training: Training = DEFAULT_TRAINING
    ) -> Session:
        """Record a prepared experiment and its queued runs (`create`)."""
        return cls(store, create(store, prepared), prepared, training=training)

    @classmethod
    def resumed(
        cls,
        store: Store,
        experiment_id: int,
        sink: Sink = ignore,
        *,
        executor: Mapping[str, Any] | None = None,
        load: Callable[[ExperimentConfig, Sink], Prepared] | None = None,
        training: Training = DEFAULT_TRAINING,
    ) -> Session:
        """Claim an experiment and load what it started with (`prepare_resume`): refused
        while another process trains it, or when its data changed. `executor`: the
        executor settings to change (`EXECUTOR_KEYS`); `load` and `training`: see
        `prepare_resume` and `Training`."""
        prepared = prepare_resume(store, experiment_id, sink, executor=executor, load=load)
        return cls(store, experiment_id, prepared, resuming=True, training=training)

    def train(self, sink: Sink = ignore, stop: StopFlag | None = None) -> str:
        """Train every queued run (every unfinished one when resuming); returns the
        experiment's final status."""
        train = resume if self.resuming else run
        return train(
            self.store,
            self.experiment_id,
            self.prepared,
            sink=sink,
            stop=stop,
            training=self.training,
        )
