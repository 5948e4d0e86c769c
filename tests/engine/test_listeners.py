"""A grid's listeners: hooks called in order, plain sinks among them, the runs in flight."""

from __future__ import annotations

from embtui.engine.events import ExperimentFinished, RunFinished, RunStarted, Stage
from embtui.engine.listeners import GridListener, InFlight, Listeners
from embtui.store import EpochMetrics


def started(run_id: int, position: int, epochs: int = 3) -> RunStarted:
    return RunStarted(1, run_id, position, 4, 10, "learned", 0, "CPU", epochs=epochs)


def epoch(run_id: int, n: int) -> EpochMetrics:
    return EpochMetrics(run_id, n, 0.5, 0.75, 0.625, 0.5, 0.25)


class Recorder(GridListener):
    def __init__(self, name: str, heard: list[str]) -> None:
        self.name = name
        self.heard = heard

    def on_epoch_end(self, metrics: EpochMetrics) -> None:
        self.heard.append(f"{self.name} epoch {metrics.epoch}")

    def on_run_end(self, event: RunFinished) -> None:
        self.heard.append(f"{self.name} {event.status}")


def test_every_listener_hears_each_event_in_the_order_given_and_a_sink_hears_all():
    heard: list[str] = []
    events: list[object] = []
    listeners = Listeners([Recorder("store", heard), events.append, Recorder("tb", heard)])
    grid = [
        Stage(1, "loading TensorFlow"),
        started(7, 0),
        epoch(7, 1),
        RunFinished(1, 7, "done"),
        ExperimentFinished(1, "done"),
    ]
    for event in grid:
        listeners(event)  # the list is itself a sink
    assert heard == ["store epoch 1", "tb epoch 1", "store done", "tb done"]
    assert events == grid  # a plain sink hears every event, unchanged


def test_in_flight_keeps_the_runs_training_now_with_their_place_and_epochs():
    runs = InFlight()
    runs(started(7, 0, epochs=3))
    runs(started(8, 1, epochs=7))
    runs(epoch(8, 2))
    assert [(r.run_id, r.name, r.epochs) for r in runs] == [(7, "run 1/4", 3), (8, "run 2/4", 7)]
    assert runs.get(8).last == epoch(8, 2)
    assert (runs.others(7), runs.alone(7), runs.alone(8)) == (1, False, False)
    runs(RunFinished(1, 7, "done"))
    assert [r.run_id for r in runs] == [8]
    assert runs.alone(8) and not runs.alone(7)  # 7 is no longer the run on screen
    assert runs.name_of(7) == "run id 7"
    runs(RunFinished(1, 8, "cancelled"))
    assert len(runs) == 0
