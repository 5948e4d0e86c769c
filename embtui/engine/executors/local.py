"""Train an experiment's runs one after another in this process (`workers = 1`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from embtui.engine.events import Sink, Stage, StopFlag
from embtui.store import RunRow, Store
from embtui.versions import framework_versions

if TYPE_CHECKING:
    from embtui.engine.run import Prepared, Trainers
    from embtui.sysmetrics import Sampler


class InProcess:
    """One trainer cache for the whole grid: each graph is built and traced once.

    Args:
        trainers: makes the grid's trainer cache; by default an
            `embtui.engine.trainer.TrainerCache` (TensorFlow's trainers or the fused
            kernel's, as the experiment recorded). Any other `embtui.engine.run.Trainers`
            trains the same runs through the same `train_one` (the same store writes,
            checkpoints, events and stop rules) with its own arithmetic: the console's
            tests give one whose epochs are scripted numbers (tests/app/fake.py).
    """

    def __init__(self, trainers: Callable[[], Trainers] | None = None) -> None:
        self.trainers = trainers

    def run(
        self,
        store: Store,
        experiment_id: int,
        prepared: Prepared,
        runs: list[RunRow],
        *,
        total: int,
        sink: Sink,
        stop: StopFlag,
        meter: Sampler | None = None,
    ) -> None:
        from embtui.engine.fused import recorded_engine, run_device
        from embtui.engine.run import train_one

        engine = recorded_engine(store.experiment(experiment_id).meta)
        if self.trainers is not None:
            cache = self.trainers()
        else:
            from embtui.engine.trainer import TrainerCache

            cache = TrainerCache()
        # Set up once for the recorded engine (TensorFlow loads here, the fused kernel
        # needs nothing), then record where the runs train.
        device, threads = cache.start(engine, lambda text: sink(Stage(experiment_id, text)))
        store.update_meta(
            experiment_id,
            **framework_versions(),
            device=run_device(device, engine),
            threads_per_op=threads,
        )
        for run_row in runs:
            if stop.is_set():
                break
            train_one(
                store, experiment_id, prepared, run_row, total, cache, device, sink, stop, meter
            )
