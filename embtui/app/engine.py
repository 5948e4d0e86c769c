"""The console's view of the training engine: six calls, swappable for tests.

`RunnerEngine` forwards to `embtui.engine.runner`, importing it inside each call: the module
pulls in numpy and, when training starts, TensorFlow, which must never delay the first paint.
Tests pass a `FakeEngine` (tests/app/fake.py) with the same calls, which writes scripted epochs
to the real store, so most of the console is tested without TensorFlow.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

from embtui.config import ExperimentConfig
from embtui.store import Store

Sink = Any  # Callable[[event], None]; events from embtui.engine.events


class Engine(Protocol):
    def warm_up(self) -> None: ...

    def prepare(self, config: ExperimentConfig, sink: Sink) -> Any: ...

    def create(self, store: Store, prepared: Any) -> int: ...

    def run(
        self, store: Store, experiment_id: int, prepared: Any, sink: Sink, stop: threading.Event
    ) -> str: ...

    def prepare_resume(self, store: Store, experiment_id: int, sink: Sink) -> Any: ...

    def resume(
        self, store: Store, experiment_id: int, prepared: Any, sink: Sink, stop: threading.Event
    ) -> str: ...


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

    def prepare(self, config: ExperimentConfig, sink: Sink) -> Any:
        from embtui.engine import runner

        return runner.prepare(config, sink)

    def create(self, store: Store, prepared: Any) -> int:
        from embtui.engine import runner

        return runner.create(store, prepared)

    def run(
        self, store: Store, experiment_id: int, prepared: Any, sink: Sink, stop: threading.Event
    ) -> str:
        from embtui.engine import runner

        return runner.run(store, experiment_id, prepared, sink=sink, stop=stop)

    def prepare_resume(self, store: Store, experiment_id: int, sink: Sink) -> Any:
        from embtui.engine import runner

        return runner.prepare_resume(store, experiment_id, sink)

    def resume(
        self, store: Store, experiment_id: int, prepared: Any, sink: Sink, stop: threading.Event
    ) -> str:
        from embtui.engine import runner

        return runner.resume(store, experiment_id, prepared, sink=sink, stop=stop)
