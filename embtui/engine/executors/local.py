"""Train an experiment's runs one after another in this process (`workers = 1`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from embtui.engine.events import Sink, Stage, StopFlag
from embtui.store import RunRow, Store
from embtui.versions import framework_versions

if TYPE_CHECKING:
    from embtui.engine.run import Prepared
    from embtui.sysmetrics import Sampler


class InProcess:
    """One trainer cache for the whole grid: each graph is built and traced once."""

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
        from embtui.engine.fused import FUSED, recorded_engine, run_device
        from embtui.engine.run import train_one
        from embtui.engine.tfsetup import threads_per_op, training_device
        from embtui.engine.trainer import TrainerCache

        engine = recorded_engine(store.experiment(experiment_id).meta)
        if engine == FUSED:
            # The fused kernel trains on this CPU: no TensorFlow unless a run's initial
            # weights are not cached yet (that run says so).
            device = "CPU"
        else:
            sink(Stage(experiment_id, "loading TensorFlow"))
            device = training_device()
        store.update_meta(
            experiment_id,
            **framework_versions(),
            device=run_device(device, engine),
            threads_per_op=threads_per_op(here=engine != FUSED),
        )
        cache = TrainerCache()
        for run_row in runs:
            if stop.is_set():
                break
            train_one(
                store, experiment_id, prepared, run_row, total, cache, device, sink, stop, meter
            )
