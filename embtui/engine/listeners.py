"""Who listens to a grid: hooks with empty defaults, a list that calls them all, and the
runs in flight.

A `GridListener` has one hook per event of `embtui.engine.events` (as Keras' `Callback`
has one per point of `fit`); a listener overrides the hooks it needs. `Listeners` calls
a list of them in order and is itself a sink (`Listeners(...)(event)` hands the event to
its hook), so a front end passes one to the runner and never takes events apart itself.
The CLI's progress display and log, the console's status line and, inside one run, the
store, the TensorBoard files and the checkpoints are listeners (`embtui.engine.run`).

`InFlight` is the listener that keeps the runs training now (several at once with worker
processes or Ray): their "run k/N", what each trains and its epochs. The CLI and the
console read it instead of keeping lists of their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from embtui.engine.events import (
    EpochMetrics,
    Event,
    ExperimentFinished,
    RunFinished,
    RunStarted,
    Sink,
    Stage,
)


class GridListener:
    """Hooks called as an experiment's grid trains; each does nothing unless overridden.

    Called on the training thread (or the thread that drains worker processes): a hook
    must be quick and must not block.
    """

    def on_stage(self, event: Stage) -> None:
        """A slow preparation step is under way (loading TensorFlow, data, GloVe)."""

    def on_run_begin(self, event: RunStarted) -> None:
        """A run starts training (or continues from its checkpoint)."""

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        """A run's epoch ended: its metrics, already checked for divergence."""

    def on_run_end(self, event: RunFinished) -> None:
        """A run ended `done`, `cancelled` or `failed` (then with the reason)."""

    def on_grid_end(self, event: ExperimentFinished) -> None:
        """The experiment ended with this status; nothing more comes."""

    def __call__(self, event: Event) -> None:
        """The listener as a sink: `event` goes to its hook."""
        if isinstance(event, EpochMetrics):
            self.on_epoch_end(event)
        elif isinstance(event, RunStarted):
            self.on_run_begin(event)
        elif isinstance(event, RunFinished):
            self.on_run_end(event)
        elif isinstance(event, Stage):
            self.on_stage(event)
        elif isinstance(event, ExperimentFinished):
            self.on_grid_end(event)


class SinkListener(GridListener):
    """A plain sink (any callable of events) as a listener: every hook hands it the event."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def __call__(self, event: Event) -> None:
        self.sink(event)

    def on_stage(self, event: Stage) -> None:
        self.sink(event)

    def on_run_begin(self, event: RunStarted) -> None:
        self.sink(event)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.sink(metrics)

    def on_run_end(self, event: RunFinished) -> None:
        self.sink(event)

    def on_grid_end(self, event: ExperimentFinished) -> None:
        self.sink(event)


class Listeners(GridListener):
    """Listeners called in the order given (as Keras' `CallbackList`); a plain sink in the
    list is wrapped in a `SinkListener`."""

    def __init__(self, listeners: Iterable[GridListener | Sink] = ()) -> None:
        self.listeners: list[GridListener] = [
            item if isinstance(item, GridListener) else SinkListener(item) for item in listeners
        ]

    def on_stage(self, event: Stage) -> None:
        for listener in self.listeners:
            listener.on_stage(event)

    def on_run_begin(self, event: RunStarted) -> None:
        for listener in self.listeners:
            listener.on_run_begin(event)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        for listener in self.listeners:
            listener.on_epoch_end(metrics)

    def on_run_end(self, event: RunFinished) -> None:
        for listener in self.listeners:
            listener.on_run_end(event)

    def on_grid_end(self, event: ExperimentFinished) -> None:
        for listener in self.listeners:
            listener.on_grid_end(event)


@dataclass
class RunInFlight:
    """One run training now, as its `RunStarted` said, and its latest epoch."""

    started: RunStarted
    last: EpochMetrics | None = None

    @property
    def run_id(self) -> int:
        return self.started.run_id

    @property
    def name(self) -> str:
        """Its place in the grid: "run 3/20"."""
        return f"run {self.started.position + 1}/{self.started.total}"

    @property
    def epochs(self) -> int:
        """The epochs it trains (its own in a sweep over epochs; 0: not known)."""
        return self.started.epochs


class InFlight(GridListener):
    """The runs training now, in the order they started.

    With one run at a time there is at most one; with worker processes or Ray, several,
    whose epochs arrive interleaved. A run leaves when it ends. `latest` is the run that
    started last (what a single-run display shows)."""

    def __init__(self) -> None:
        self._runs: dict[int, RunInFlight] = {}
        self.latest: RunInFlight | None = None

    def on_run_begin(self, event: RunStarted) -> None:
        self.latest = self._runs[event.run_id] = RunInFlight(event)

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        run = self._runs.get(metrics.run_id)
        if run is not None:
            run.last = metrics

    def on_run_end(self, event: RunFinished) -> None:
        self._runs.pop(event.run_id, None)

    def get(self, run_id: int) -> RunInFlight | None:
        return self._runs.get(run_id)

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunInFlight]:
        return iter(list(self._runs.values()))

    def others(self, run_id: int) -> int:
        """How many other runs train beside this one."""
        return len(self._runs) - (run_id in self._runs)

    def name_of(self, run_id: int) -> str:
        """The run's "run k/N", or "run id 7" for a run not seen starting."""
        run = self._runs.get(run_id)
        return run.name if run is not None else f"run id {run_id}"

    def alone(self, run_id: int) -> bool:
        """Whether this run is the only one in flight and the last one started: lines
        about it need not say whose they are."""
        return len(self._runs) <= 1 and (self.latest is None or self.latest.run_id == run_id)


__all__ = ["GridListener", "InFlight", "Listeners", "RunInFlight", "SinkListener"]
