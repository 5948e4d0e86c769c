"""Train an experiment's fused runs K at a time in threads of this process (`workers = K`).

The fused kernel releases the GIL while it trains, so K threads keep K cores busy with no
worker processes to start and no TensorFlow to import in each. Each thread has its own
store connection (the experiment's owner, as a worker process would) and its own trainers;
events come back through a queue to this thread, which tells the sink in the order they
happened. A run's numbers do not depend on which thread trains it, or how many there are.
"""

from __future__ import annotations

import queue
import threading
from typing import TYPE_CHECKING, Any

from embtui.engine.events import Sink, Stage, StopFlag
from embtui.errors import one_line
from embtui.store import RunRow, Store
from embtui.versions import framework_versions

if TYPE_CHECKING:
    from embtui.engine.run import Prepared
    from embtui.sysmetrics import Sampler

#: What a thread puts on the event queue when it has no more runs to train.
_DONE = object()


class InThreads:
    """K threads in this process, for an experiment the fused engine trains."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

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
        from embtui.engine.fused import run_device
        from embtui.engine.tfsetup import threads_per_op

        count = max(1, min(self.workers, len(runs)))
        sink(Stage(experiment_id, f"training {count} runs at once in threads"))
        store.update_meta(
            experiment_id,
            **framework_versions(),
            device=run_device("CPU", "fused"),
            threads_per_op=threads_per_op(here=False),
        )
        tasks: queue.Queue[RunRow | None] = queue.Queue()
        for run_row in runs:
            tasks.put(run_row)
        events: queue.Queue[Any] = queue.Queue()
        either = _Either(stop)
        threads = [
            threading.Thread(
                target=_train,
                args=(store, experiment_id, prepared, total, tasks, events, either),
                name=f"embtui-run-{i + 1}",
                daemon=True,
            )
            for i in range(count)
        ]
        for thread in threads:
            tasks.put(None)  # one end marker per thread
            thread.start()
        running = count
        try:
            while running:
                event = events.get()
                if event is _DONE:
                    running -= 1
                else:
                    sink(event)
        except BaseException:
            # Aborted (a second Ctrl-C, an error in the sink): no thread may go on training
            # behind the caller's back; each stops after its current epoch.
            either.abort.set()
            for thread in threads:
                thread.join(timeout=30)
            raise
        for thread in threads:
            thread.join()


class _Either:
    """Set when the caller's stop flag is, or when this executor is aborted."""

    def __init__(self, stop: StopFlag) -> None:
        self.stop = stop
        self.abort = threading.Event()

    def is_set(self) -> bool:
        return self.abort.is_set() or self.stop.is_set()


def _train(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    total: int,
    tasks: queue.Queue[RunRow | None],
    events: queue.Queue[Any],
    stop: StopFlag,
) -> None:
    """One thread: train runs from `tasks` until the end marker or `stop`."""
    from embtui.engine.run import train_one
    from embtui.engine.trainer import TrainerCache

    try:
        own = Store(store.path, owner=store.owner)
    except Exception as exc:
        events.put(Stage(experiment_id, f"a training thread could not start: {one_line(exc)}"))
        events.put(_DONE)
        return
    cache = TrainerCache()
    try:
        while not stop.is_set():
            run_row = tasks.get()
            if run_row is None:
                break
            train_one(own, experiment_id, prepared, run_row, total, cache, "CPU", events.put, stop)
    except Exception as exc:  # train_one records a run's own failure; this is the thread's
        events.put(Stage(experiment_id, f"a training thread stopped: {one_line(exc)}"))
    finally:
        own.close()
        events.put(_DONE)
