"""The console application: the store, the engine, the training worker, and quitting safely.

Screens and widgets draw; this class owns what outlives a screen: the store connection the
views read, the engine (the real runner, or a fake in tests), the one training worker and
its stop event. Training runs in a thread worker with its own store connection; the engine's
events come back as posted messages, and the main screen re-reads the store to draw them.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.worker import Worker, WorkerState

from embtui.app.engine import Engine, RunnerEngine
from embtui.app.messages import EngineEvent, TrainingEnded, TrainingStarted
from embtui.app.view_state import ExperimentView
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.screens.main import MainScreen
from embtui.config import ExperimentConfig
from embtui.engine.events import ExperimentFinished, RunFinished, RunStarted, Stage
from embtui.errors import EmbtuiError
from embtui.store import RESUMABLE, EpochMetrics, Store


class EmbtuiApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "embtui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", id="quit", tooltip="Quit (asks first while training)"),
        Binding(
            "ctrl+q",
            "quit",
            "Quit",
            show=False,
            priority=True,
            id="quit-ctrl",
            tooltip="Quit (asks first while training)",
        ),
        Binding(
            "question_mark",
            "help",
            "Help",
            key_display="?",
            id="help",
            tooltip="Every key of this screen",
        ),
        Binding(
            "f1",
            "help",
            "Help",
            show=False,
            priority=True,
            id="help-f1",
            tooltip="Every key of this screen (also where ? is typed into a field)",
        ),
    ]

    def __init__(
        self,
        store_path: str | Path | None = None,
        config: ExperimentConfig | None = None,
        cwd: str | Path | None = None,
        *,
        engine: Engine | None = None,
        poll_interval: float = 1.0,
        open_configure: bool | None = None,
    ) -> None:
        super().__init__()
        self.store = Store(store_path)
        self.config = config or ExperimentConfig()
        self.cwd = Path(cwd) if cwd is not None else Path(os.getcwd())
        self.engine: Engine = engine or RunnerEngine()
        self.poll_interval = poll_interval
        self._open_configure_first = (
            config is not None if open_configure is None else (open_configure)
        )
        self.main = MainScreen()
        self.training: Worker | None = None
        self.training_experiment: int | None = None
        self.training_thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.activity = ""
        self.activity_error = False
        self._quitting = False

    # -- lifecycle --------------------------------------------------------------------

    def on_mount(self) -> None:
        self.store.recover()
        self.push_screen(self.main)
        if self._open_configure_first:
            self.open_configure()

    def on_unmount(self) -> None:
        # However the app ends, training stops after its current epoch (see run_console).
        self.stop_event.set()

    @property
    def is_training(self) -> bool:
        return self.training is not None and self.training.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    def set_activity(self, text: str, *, error: bool = False, defer: bool = False) -> None:
        """Say what the console is doing. `defer`: leave it to the next coalesced redraw
        (per-epoch news arrives many times a second; drawing each would be a redraw storm)."""
        self.activity = text
        self.activity_error = error
        if not defer:
            self.main.set_status(text, error=error)

    # -- starting, cancelling, resuming -----------------------------------------------

    def open_configure(self) -> None:
        from embtui.app.screens.configure import ConfigureScreen

        self.push_screen(ConfigureScreen(self.config), self._configured)
        self.call_after_refresh(self.warm_up_engine)

    def _configured(self, config: ExperimentConfig | None) -> None:
        if config is not None:
            self.config = config
            self.start_experiment(config)

    def start_experiment(self, config: ExperimentConfig) -> Worker | None:
        if self.is_training:
            self.notify(
                "an experiment is already training; cancel it first (x)", severity="warning"
            )
            return None
        self.stop_event = threading.Event()
        self.set_activity(f"preparing {config.name}…")
        self.training = self._train(config, None)
        return self.training

    def request_resume(self, experiment: ExperimentView | None) -> None:
        if experiment is None:
            self.notify("no experiment selected", severity="warning")
            return
        self.store.recover()
        status = self.store.experiment(experiment.row.id).status
        if self.is_training:
            self.notify("an experiment is already training here", severity="warning")
        elif status == "done":
            self.notify(f"experiment {experiment.row.id} is already done")
        elif status not in RESUMABLE:
            row = self.store.experiment(experiment.row.id)
            self.notify(
                f"experiment {row.id} is {status} (pid {row.pid} on {row.host}); "
                "only interrupted, cancelled or failed ones resume",
                severity="warning",
            )
        else:
            self.stop_event = threading.Event()
            self.set_activity(f"resuming experiment {experiment.row.id}…")
            self.training = self._train(None, experiment.row.id)

    def request_cancel(self, experiment: ExperimentView | None) -> None:
        if self.is_training:
            exp = self.training_experiment
            self.push_screen(
                ConfirmScreen(
                    f"Cancel experiment {exp if exp is not None else '(starting)'}?\n"
                    "Training stops after the current epoch; finished epochs are kept."
                ),
                self._cancel_confirmed,
            )
        elif experiment is not None and experiment.row.status == "running":
            self.notify(
                f"experiment {experiment.row.id} is trained by another process "
                f"(pid {experiment.row.pid} on {experiment.row.host}); stop it there",
                severity="warning",
            )
        else:
            self.notify("nothing is training", severity="warning")

    def _cancel_confirmed(self, yes: bool | None) -> None:
        if yes and self.is_training:
            self.stop_event.set()
            self.set_activity("cancelling: stopping after the current epoch…")

    @work(thread=True, exclusive=True, group="warm-up", exit_on_error=False)
    def warm_up_engine(self) -> None:
        """Load TensorFlow while the user looks at the configure form (after it is drawn)."""
        self.engine.warm_up()

    @work(thread=True, exclusive=True, group="training", exit_on_error=False)
    def _train(self, config: ExperimentConfig | None, resume_id: int | None) -> None:
        """Prepare, record and train (or resume) on this thread; report by messages."""
        self.training_thread = threading.current_thread()
        stop = self.stop_event
        sink = self._sink
        experiment_id = resume_id
        store: Store | None = None
        try:
            store = Store(self.store.path)  # its own connection: the UI's poll sees its commits
            if resume_id is None:
                sink(Stage(None, "loading the engine"))
                prepared = self.engine.prepare(config, sink)
                experiment_id = self.engine.create(store, prepared)
                self.post_message(TrainingStarted(experiment_id))
                status = self.engine.run(store, experiment_id, prepared, sink, stop)
            else:
                sink(Stage(resume_id, "loading the engine"))
                # Claims the experiment first: refused while another process trains it.
                prepared = self.engine.prepare_resume(store, resume_id, sink)
                self.post_message(TrainingStarted(resume_id))
                status = self.engine.resume(store, resume_id, prepared, sink, stop)
            self.post_message(TrainingEnded(experiment_id, status))
        except EmbtuiError as exc:
            self.post_message(TrainingEnded(experiment_id, "error", str(exc)))
        except Exception as exc:  # shown, not swallowed: the store says what was kept
            self.post_message(TrainingEnded(experiment_id, "error", f"{type(exc).__name__}: {exc}"))
        finally:
            if store is not None:
                store.close()

    def _sink(self, event: object) -> None:
        """Called on the training thread: post and return at once."""
        self.post_message(EngineEvent(event))

    # -- what the worker reports ------------------------------------------------------

    def on_training_started(self, message: TrainingStarted) -> None:
        self.training_experiment = message.experiment_id
        self.main.select_experiment(message.experiment_id)

    def on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        if isinstance(ev, Stage):
            self.set_activity(f"{ev.text}…")
        elif isinstance(ev, RunStarted):
            self.set_activity(
                f"training run {ev.position + 1}/{ev.total}: size {ev.size}, {ev.embedding}, "
                f"seed {ev.seed} on {ev.device}"
            )
        elif isinstance(ev, EpochMetrics):
            base = self.activity.split("  ·  epoch")[0]
            self.set_activity(f"{base}  ·  epoch {ev.epoch} val_acc {ev.val_acc:.4f}", defer=True)
        elif isinstance(ev, RunFinished) and ev.status == "failed":
            self.notify(f"run {ev.run_id} failed: {ev.error}", severity="error", timeout=10)
        elif isinstance(ev, ExperimentFinished):
            self.set_activity(f"experiment {ev.experiment_id} {ev.status}")
        if self.stop_event.is_set() and not isinstance(ev, ExperimentFinished):
            self.set_activity("stopping after the current epoch…")
        self.main.mark_dirty()

    def on_training_ended(self, message: TrainingEnded) -> None:
        self.training_experiment = None
        if message.error:
            self.set_activity(f"✗ {message.error}", error=True)
            self.notify(
                message.error,
                title="not started" if message.experiment_id is None else "training stopped",
                severity="error",
                timeout=10,
            )
        else:
            self.set_activity(f"experiment {message.experiment_id} {message.status}")
            self.notify(f"experiment {message.experiment_id} {message.status}")
        self.main.mark_dirty()
        if self._quitting:
            self.exit(0)

    # -- export, help, quit -----------------------------------------------------------

    def export(self, experiment_id: int, metric: str = "final") -> None:
        self.set_activity(f"exporting experiment {experiment_id}…")
        self._export(experiment_id, metric)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, experiment_id: int, metric: str) -> None:
        from embtui.app.export import export_markdown

        try:
            path = export_markdown(self.store, experiment_id, self.cwd, metric)
        except (OSError, EmbtuiError) as exc:
            self.call_from_thread(self.notify, f"export failed: {exc}", severity="error")
            return
        self.call_from_thread(self.set_activity, f"wrote {path}")
        self.call_from_thread(self.notify, f"wrote {path}", title="exported")

    def action_help(self) -> None:
        from embtui.app.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        if self._quitting or isinstance(self.screen, ConfirmScreen):
            return
        if not self.is_training:
            self.exit(0)
            return
        self.push_screen(
            ConfirmScreen(
                "Training is running. Stop it after the current epoch and quit?\n"
                "Finished epochs stay in the store; resume later with r or embtui resume."
            ),
            self._quit_confirmed,
        )

    def _quit_confirmed(self, yes: bool | None) -> None:
        if not yes:
            return
        self._quitting = True
        self.stop_event.set()
        self.set_activity("stopping after the current epoch, then quitting…")
        if not self.is_training:
            self.exit(0)


def run_console(
    config: ExperimentConfig | None = None,
    store_path: str | None = None,
    cwd: Path | None = None,
) -> int:
    """`embtui [EXPERIMENT.toml] [--store PATH]`: open the console; returns the exit code.

    TensorFlow's native log lines go to `<store>.log` beside the store (see native_log.py).
    """
    from embtui.app.native_log import native_stderr_to

    app = EmbtuiApp(store_path, config, cwd)
    try:
        with native_stderr_to(app.store.log_path):
            result = app.run()
    finally:
        # If the app ended without the quit flow (a signal, a crash), let the training
        # thread finish its epoch so the store is left consistent.
        app.stop_event.set()
        if app.training_thread is not None and app.training_thread.is_alive():
            app.training_thread.join()
        app.store.close()
    return result if isinstance(result, int) else (app.return_code or 0)
