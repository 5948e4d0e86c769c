"""The console's view of the training engine: a few calls, swappable for tests.

`RunnerEngine` forwards to `embtui.engine.runner`, importing it inside each call: the module
pulls in numpy and, when training starts, TensorFlow, which must never delay the first paint.
The console trains through a `TrainingSession` (the runner's `Session`: prepare -> create,
or prepare_resume, then train), as `embtui run` and `embtui resume` do. Tests pass a
`FakeEngine` (tests/app/fake.py) with the same calls, whose sessions are the runner's own
with scripted inputs, trainers and costs (`runner.Training`), so most of the console is
tested through the real runner without TensorFlow.
"""

from __future__ import annotations

from typing import Any, Protocol

from embtui.config import ExperimentConfig
from embtui.engine.events import Sink, StopFlag
from embtui.store import Store


class TrainingSession(Protocol):
    """An experiment recorded (or claimed again) by this process, ready to train."""

    @property
    def experiment_id(self) -> int: ...

    def train(self, sink: Sink, stop: StopFlag) -> str: ...


class Engine(Protocol):
    def warm_up(self) -> None: ...

    def new_session(self, store: Store, config: ExperimentConfig, sink: Sink) -> TrainingSession:
        """Prepare the experiment (bad input raises, nothing recorded), then record it."""
        ...

    def resume_session(self, store: Store, experiment_id: int, sink: Sink) -> TrainingSession:
        """Claim the experiment (refused while another process trains it) and load what it
        started with."""
        ...


class RunnerEngine:
    """The real engine, loaded lazily on the training thread."""

    def warm_up(self) -> None:
        """Import TensorFlow and the trainer ahead of training (about 3 s of imports).

        The console calls this on a thread once the configure form is on screen: by the
        time the user presses ctrl+s, training can start at once.
        """
        import importlib

        for module in ("tensorflow", "keras", "embtui.engine.runner", "embtui.engine.trainer"):
            importlib.import_module(module)

    def new_session(self, store: Store, config: ExperimentConfig, sink: Sink) -> Any:
        from embtui.engine import runner

        return runner.Session.new(store, runner.prepare(config, sink))

    def resume_session(self, store: Store, experiment_id: int, sink: Sink) -> Any:
        from embtui.engine import runner

        return runner.Session.resumed(store, experiment_id, sink)
