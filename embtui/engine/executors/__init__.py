"""Who trains an experiment's runs: one interface, several ways.

An executor is handed the queued runs of an experiment its store connection owns and trains
each with `embtui.engine.run.train_one`, telling the sink every event in order. The runner
chooses one from the configuration and never knows which it got:

* `InProcess` (`workers = 1`): runs one after another in this process, sharing one
  compiled graph per shape.
* `InThreads` (`workers = K`, fused engine): K threads of this process; the fused kernel
  releases the GIL, so they train on K cores without starting processes or TensorFlow.
* `ProcessPool` (`workers = K`, TensorFlow engine): K worker processes on this machine, one
  GPU each where there are GPUs.
* `RayCluster` (`cluster = "ray"`): one Ray task per run on a cluster of machines, the
  store still here.

Results per (size, arm, seed) are identical whichever executor trains them and however
many workers it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from embtui.engine.events import Sink, StopFlag
from embtui.store import RunRow, Store

if TYPE_CHECKING:
    from embtui.config import ExperimentConfig
    from embtui.engine.run import Prepared
    from embtui.sysmetrics import Sampler


class Executor(Protocol):
    """Trains `runs` of an experiment; returns when all are finished or stopped. `meter`,
    this process's sampler, meters the runs trained in this process (workers meter their
    own)."""

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
    ) -> None: ...


def executor_for(config: ExperimentConfig, queued: int, engine: str = "tensorflow") -> Executor:
    """The executor a configuration asks for: a Ray cluster (`cluster = "ray"`); when there
    are several workers and several runs to share, threads of this process for the fused
    engine (`engine`, the one the experiment recorded), else worker processes; else this
    process, one run at a time."""
    if config.cluster == "ray":
        from embtui.engine.executors.ray import RayCluster

        return RayCluster(config)
    if config.workers > 1 and queued > 1 and engine == "fused":
        from embtui.engine.executors.threads import InThreads

        return InThreads(config.workers)
    if config.workers > 1 and queued > 1:
        from embtui.engine.executors.pool import ProcessPool

        return ProcessPool(config.workers)
    from embtui.engine.executors.local import InProcess

    return InProcess()


__all__ = ["Executor", "executor_for"]
