"""The console application: the store, the engine, the training worker, and quitting safely.

Screens and widgets draw; this class owns what outlives a screen: the store connection the
views read, the engine (the real runner, or a fake in tests), the one training worker and
its stop event, and the message log. Screens ask for things with messages (`NewRequested`,
`ExportRequested`, ... in messages.py) that are handled here with `@on`; the store and the
poll interval reach the screens through their constructors. Training runs in a thread
worker with its own store connection; the engine's events come back as posted messages,
and the main screen re-reads the store to draw them.

Every notification is also kept, in full, in the message log (`l`). A hangup (the SSH
connection or the terminal closing) or a SIGTERM stops training after the current epoch,
as `embtui run` does: the experiment ends `cancelled`, resumable, not `interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.notifications import SeverityLevel
from textual.worker import Worker, WorkerError, WorkerState

from embtui.app.engine import Engine, RunnerEngine
from embtui.app.keys import OrderedKeys
from embtui.app.messages import (
    CancelRequested,
    DeleteRequested,
    EngineEvent,
    ExportDone,
    ExportRequested,
    NewRequested,
    RenameRequested,
    ResumeRequested,
    StartRequested,
    TrainingEnded,
    TrainingStarted,
)
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.screens.log import LogEntry
from embtui.app.screens.main import MainScreen
from embtui.app.view_state import Activity, TrainingLine
from embtui.app.workers import PERIODIC_JOBS, JobFailed, ReportsFailures, background, job_name
from embtui.config import ExperimentConfig, config_keys, from_mapping
from embtui.engine.events import Event, ExperimentFinished, RunFinished, Stage
from embtui.errors import EmbtuiError, printable
from embtui.escape import clipboard, terminal, terminal_lines
from embtui.store import RESUMABLE, Store

if TYPE_CHECKING:  # the form is imported when first opened, not at startup
    from embtui.app.screens.configure import ConfigureScreen

#: Signals that stop training after the current epoch and close the console.
STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class EmbtuiApp(ReportsFailures, OrderedKeys[int]):
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
        Binding(
            "l",
            "message_log",
            "Log",
            show=False,
            id="log",
            tooltip="The message log: every message of this session, in full",
        ),
        Binding(
            "ctrl+l",
            "message_log",
            "Log",
            show=False,
            priority=True,
            id="log-ctrl",
            tooltip="The message log (also where l is typed into a field)",
        ),
        Binding(
            "y",
            "copy",
            "Copy",
            show=False,
            id="copy",
            tooltip="Copy the row (or value) under the cursor to the clipboard (OSC 52)",
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
        clock: Callable[[], datetime] | None = None,
        probe: Callable[[], Any] | None = None,
        sample_every_s: float = 1.0,
    ) -> None:
        super().__init__()
        # Browsing never upgrades an older store (an older embtui may be training in it);
        # training here opens its own connection, which does.
        self.store = Store(store_path, migrate=False)
        self.config = config or ExperimentConfig()
        self.cwd = Path(cwd) if cwd is not None else Path(os.getcwd())
        self.engine: Engine = engine or RunnerEngine()
        self.poll_interval = poll_interval
        self.clock = clock or datetime.now
        self._open_configure_first = (
            config is not None if open_configure is None else open_configure
        )
        # `probe` makes what the system pane samples when nothing trains (default: an
        # `embtui.sysmetrics.Probe` of this machine; the snapshots use recorded samples).
        self.main = MainScreen(
            self.store,
            poll_interval=poll_interval,
            cwd=self.cwd,
            probe=probe,
            sample_every_s=sample_every_s,
        )
        self.messages: list[LogEntry] = []
        self.form: ConfigureScreen | None = None
        self.training: Worker[None] | None = None
        self.training_experiment: int | None = None
        self.stop_event = threading.Event()
        self.exit_signal: int | None = None
        #: Set by run_console: points the terminal's descriptors at /dev/null after a hangup.
        self.detach_terminal: Callable[[], None] | None = None
        self._quitting = False
        self._closer: Worker[None] | None = None  # waits for training, then exits
        self._failed_jobs: set[str] = set()  # periodic jobs whose failure was reported
        #: What `run_console` prints to the shell once the console has closed: which
        #: experiment quitting stopped, and how to resume it.
        self.farewell: str | None = None
        #: The status line while training, and the runs in flight.
        self.line = TrainingLine()

    # -- lifecycle --------------------------------------------------------------------

    def on_mount(self) -> None:
        self.store.recover()
        self.push_screen(self.main)
        self._install_signal_handlers()
        if self._open_configure_first:
            self.open_configure(self.config)

    def on_unmount(self) -> None:
        # However the app ends, training stops after its current epoch (see run_console);
        # the training thread has a connection of its own.
        self.stop_event.set()
        self._remove_signal_handlers()
        self.store.close()

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in STOP_SIGNALS:
            # Not available off the main thread or on Windows: then the default applies.
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._stop_signal, sig)

    def _remove_signal_handlers(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        for sig in STOP_SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    def _stop_signal(self, signum: int) -> None:
        """SIGHUP (the terminal or SSH connection closed) or SIGTERM: stop training after
        the current epoch (the experiment ends `cancelled`) and close the console."""
        if self.exit_signal is not None:
            return
        self.exit_signal = signum
        if signum == signal.SIGHUP and self.detach_terminal is not None:
            self.detach_terminal()  # nobody is left to draw for
        self._quitting = True
        self.stop_event.set()
        self.log_message(
            f"{signal.Signals(signum).name}: stopping after the current epoch, then closing",
            "warning",
        )
        self._exit_after_training()

    def _exit_after_training(self) -> None:
        """Close the console once the training worker has ended (at once when nothing
        trains): its epoch finished and recorded, its store connection closed. The exit
        code is 0, or 128 + the signal that asked to close."""
        if self._closer is None:
            self._closer = self.run_worker(
                self._wait_then_exit(self.training),
                name="closing",
                group="closing",
                exit_on_error=False,
            )

    async def _wait_then_exit(self, training: Worker[None] | None) -> None:
        if training is not None:
            while training.state == WorkerState.PENDING:  # not started yet: it will be
                await asyncio.sleep(0.01)
            with contextlib.suppress(WorkerError):  # failed or cancelled: ended all the same
                await training.wait()
        code = 128 + self.exit_signal if self.exit_signal else 0
        self.exit(code, return_code=code)

    @property
    def is_training(self) -> bool:
        return self.training is not None and self.training.state in (
            WorkerState.PENDING,
            WorkerState.RUNNING,
        )

    # -- messages: the log and the toasts ---------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """A toast, and the same message in full in the message log (`l`).

        Never markup, whatever `markup` says (`Screen.notify` passes True): messages quote
        names, paths, arms and errors, whose brackets must show as typed (`[x=']` would
        crash Textual's parser, `[@click=app.quit]` would become an action); control and
        bidi characters show as escapes."""
        del markup
        text, title = terminal_lines(str(message)), terminal(title)
        self.log_message(text, severity, title)
        super().notify(text, title=title, severity=severity, timeout=timeout, markup=False)

    def log_message(
        self, text: str, severity: SeverityLevel = "information", title: str = ""
    ) -> None:
        """Keep a message in the log without a toast (the form shows it where it belongs)."""
        self.messages.append(LogEntry(self.clock(), severity, text, title or None))

    def _set_activity(self, text: str | None = None, *, error: bool = False) -> None:
        """Tell the main screen what training is doing; `text` replaces the composed line
        (the run and its progress, what it trains, the stage under way) with a final word
        or an error."""
        if text is None:
            text = self.line.text(stopping=self.stop_event.is_set())
        self.main.activity = Activity(self.training_experiment, text, error)

    # -- starting, cancelling, resuming -----------------------------------------------

    def open_configure(self, config: ExperimentConfig, source: str | None = None) -> None:
        from embtui.app.screens.configure import ConfigureScreen

        if self.form is not None:
            return
        self.form = ConfigureScreen(config, source=source)

        def closed(_: None) -> None:
            self.form = None
            # A form given up after a refused start leaves no "not started" behind: that
            # experiment was never recorded, and the next look at the console is about what is.
            act = self.main.activity
            if act is not None and act.experiment_id is None and act.error:
                self.main.activity = None

        self.push_screen(self.form, closed)
        self.call_after_refresh(self.warm_up_engine)

    @on(NewRequested)
    def _new(self, message: NewRequested) -> None:
        config, source = self.config, None
        if message.from_experiment is not None:
            exp = self.store.experiment(message.from_experiment)
            known = {k: v for k, v in exp.config.items() if k in config_keys()}
            known["name"] = exp.name  # as it is called now, renamed or not
            try:
                config = from_mapping(known, new=False)  # the form checks it as new input
                source = f"#{exp.id} {printable(exp.name)}"
            except EmbtuiError as exc:
                self.notify(
                    f"experiment {exp.id}'s configuration does not read as one this version "
                    f"accepts ({exc}); the form starts from the last one used",
                    severity="warning",
                )
        self.open_configure(config, source)

    @on(StartRequested)
    def _start(self, message: StartRequested) -> None:
        if self.is_training:
            text = "an experiment is already training here; cancel it first (x)"
            if self.form is not None:
                self.form.show_start_error(text)
            self.notify(text, severity="warning")
            return
        self.config = message.config
        self.stop_event = threading.Event()
        self.training_experiment = None
        self.line = TrainingLine()
        self._set_activity(f"preparing {printable(message.config.name)}…")
        self.training = self._train(message.config, None)

    @on(ResumeRequested)
    def _resume(self, message: ResumeRequested) -> None:
        if message.experiment_id is None:
            self.notify("no experiment selected", severity="warning")
            return
        self.store.recover()
        row = self.store.experiment(message.experiment_id)
        if self.is_training:
            self.notify("an experiment is already training here", severity="warning")
        elif row.status == "done":
            self.notify(f"experiment {row.id} is already done")
        elif row.status not in RESUMABLE:
            self.notify(
                f"experiment {row.id} is {row.status} (pid {row.pid} on {row.host}); "
                "only interrupted, cancelled or failed ones resume",
                severity="warning",
            )
        else:
            self.stop_event = threading.Event()
            self.training_experiment = row.id
            self.line = TrainingLine()
            self._set_activity(f"resuming experiment {row.id}…")
            self.training = self._train(None, row.id)

    @on(CancelRequested)
    def _cancel(self, message: CancelRequested) -> None:
        if self.is_training:
            exp = self.training_experiment
            self.push_screen(
                ConfirmScreen(
                    f"Cancel experiment {exp if exp is not None else '(starting)'}?\n"
                    "Training stops after the current epoch; finished epochs are kept."
                ),
                self._cancel_confirmed,
            )
            return
        row = (
            self.store.experiment(message.experiment_id)
            if message.experiment_id is not None
            else None
        )
        if row is not None and row.status == "running":
            self.notify(
                f"experiment {row.id} is trained by another process "
                f"(pid {row.pid} on {row.host}); stop it there",
                severity="warning",
            )
        else:
            self.notify("nothing is training", severity="warning")

    def _cancel_confirmed(self, yes: bool | None) -> None:
        if yes and self.is_training:
            self.stop_event.set()
            self.line.stage = "cancelling: stopping after the current epoch…"
            self._set_activity()

    @background("warm-up", exclusive=True)
    def warm_up_engine(self) -> None:
        """Load TensorFlow while the user looks at the configure form (after it is drawn)."""
        self.engine.warm_up()

    @background("training", exclusive=True)
    def _train(self, config: ExperimentConfig | None, resume_id: int | None) -> None:
        """Prepare, record and train (or resume) on this thread; report by messages."""
        stop = self.stop_event
        sink = self._sink
        experiment_id = resume_id
        store: Store | None = None
        try:
            store = Store(self.store.path)  # its own connection: the UI's poll sees its commits
            if config is not None:
                sink(Stage(None, "loading the engine"))
                session = self.engine.new_session(store, config, sink)
            elif resume_id is not None:
                sink(Stage(resume_id, "loading the engine"))
                # Claims the experiment first: refused while another process trains it.
                session = self.engine.resume_session(store, resume_id, sink)
            else:  # pragma: no cover - callers pass one or the other
                return
            experiment_id = session.experiment_id
            self.post_message(TrainingStarted(experiment_id))
            status = session.train(sink, stop)
            self.post_message(TrainingEnded(experiment_id, status))
        except EmbtuiError as exc:
            self.post_message(TrainingEnded(experiment_id, "error", str(exc), type(exc).__name__))
        except Exception as exc:  # shown, not swallowed: the store says what was kept
            self.post_message(
                TrainingEnded(
                    experiment_id, "error", f"{type(exc).__name__}: {exc}", type(exc).__name__
                )
            )
        finally:
            if store is not None:
                store.close()

    def _sink(self, event: Event) -> None:
        """Called on the training thread: post and return at once."""
        self.post_message(EngineEvent(event))

    # -- what the worker reports ------------------------------------------------------

    def on_training_started(self, message: TrainingStarted) -> None:
        self.training_experiment = message.experiment_id
        if self.form is not None:  # a new experiment, from the form
            self.form.dismiss(None)
            others = self.store.namesakes(message.experiment_id)
            if others:
                self.notify(
                    f"experiment {message.experiment_id} has the name of "
                    + ", ".join(f"#{i}" for i in others)
                    + ": the ids tell them apart (F2 renames)",
                    severity="warning",
                )
        self.main.select_experiment(message.experiment_id)
        self._set_activity()

    def on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        self.line(ev)
        if isinstance(ev, Stage) and self.form is not None and ev.experiment_id is None:
            self.form.show_progress(self.line.stage)
        if isinstance(ev, RunFinished) and ev.status == "failed":
            self.notify(f"run {ev.run_id} failed: {ev.error}", severity="error", timeout=10)
        if self.stop_event.is_set() and not isinstance(ev, ExperimentFinished):
            self.line.stage = "stopping after the current epoch…"
        if isinstance(ev, ExperimentFinished):
            self._set_activity(f"experiment {ev.experiment_id} {ev.status}")
        else:
            self._set_activity()
        self.main.mark_dirty()

    def on_training_ended(self, message: TrainingEnded) -> None:
        if message.error:
            if message.experiment_id is None and self.form is not None:
                # Not started (bad data, a size too large, offline): the form shows why,
                # under the field it concerns, with every edit kept; the log has it too.
                self.log_message(message.error, "error", "not started")
                self.form.show_start_error(message.error, message.kind)
                self._set_activity(f"✗ not started: {message.error}", error=True)
            else:
                self._set_activity(f"✗ {message.error}", error=True)
                self.notify(
                    message.error,
                    title="not started" if message.experiment_id is None else "training stopped",
                    severity="error",
                    timeout=10,
                )
        else:
            self._set_activity(f"experiment {message.experiment_id} {message.status}")
            self.notify(f"experiment {message.experiment_id} {message.status}")
        self.training_experiment = message.experiment_id
        self.main.mark_dirty()
        exp_id = message.experiment_id
        if self._quitting and exp_id is not None and message.status in RESUMABLE:
            # Said in the shell once the console closes (`_exit_after_training`).
            name = printable(self.store.experiment(exp_id).name)
            self.farewell = (
                f"embtui: experiment {exp_id} ({name}) {message.status}; "
                f"resume it with: embtui resume {exp_id}"
            )

    # -- export, delete, rename, copy -------------------------------------------------

    @on(ExportRequested)
    def _export_requested(self, message: ExportRequested) -> None:
        from embtui.app.export_file import ids_text

        what = ids_text(message.experiment_id, " + ")
        self.main.notice = f"exporting experiment {what} as {message.fmt}…"
        self._export(message.experiment_id, message.metric, message.fmt)

    @background("export")
    def _export(self, experiment_id: int | tuple[int, ...], metric: str, fmt: str) -> None:
        from embtui.app.export_file import write_export

        try:
            path = write_export(self.store, experiment_id, self.cwd, fmt, metric)
        except (OSError, EmbtuiError) as exc:
            self.post_message(ExportDone(experiment_id, None, str(exc)))
            return
        self.post_message(ExportDone(experiment_id, path))

    def on_job_failed(self, message: JobFailed) -> None:
        """Every background job's failure, wherever it ran (see embtui.app.workers): in the
        message log with its traceback, and said in a notification; the console stays."""
        error = message.error
        what = job_name(message.group)
        if message.group in PERIODIC_JOBS:  # runs on every poll: said once, not every second
            if message.group in self._failed_jobs:
                return
            self._failed_jobs.add(message.group)
        trace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        self.log_message(trace.rstrip(), "error", f"{what} failed")
        again = " (said once: it runs on every poll)" if message.group in PERIODIC_JOBS else ""
        self.notify(
            f"{what} failed: {type(error).__name__}: {error}{again} (the message log, l, has "
            "the details)",
            severity="error",
            timeout=10,
        )

    def job_failed(self, group: str, error: BaseException) -> None:
        if group == "export":
            self.main.notice = ""  # no "exporting…" left behind
        elif group == "training":
            self._set_activity(f"✗ {type(error).__name__}: {error}", error=True)

    def on_export_done(self, message: ExportDone) -> None:
        if message.path is None:
            self.main.notice = ""
            self.notify(f"export failed: {message.error}", severity="error", timeout=10)
            return
        self.main.notice = f"wrote {message.path}"
        self.notify(f"wrote {message.path}", title="exported")

    @on(DeleteRequested)
    def _delete(self, message: DeleteRequested) -> None:
        exp_id = message.experiment_id
        if self.is_training and self.training_experiment == exp_id:
            self.notify(
                f"experiment {exp_id} is training here; cancel it (x) before deleting it",
                severity="warning",
            )
            return
        try:
            row = self.store.delete_experiment(exp_id)
        except EmbtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.notify(f"deleted experiment {row.id} '{printable(row.name)}'")
        self.main.refresh_data()

    @on(RenameRequested)
    def _rename(self, message: RenameRequested) -> None:
        try:
            self.store.rename_experiment(message.experiment_id, message.name)
        except EmbtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        self.notify(f"experiment {message.experiment_id} is now '{printable(message.name)}'")
        self.main.refresh_data()

    def action_copy(self) -> None:
        widget = self.focused
        copy_text = getattr(widget, "copy_text", None)
        text = copy_text() if callable(copy_text) else None
        if not text:
            self.notify("nothing to copy here", severity="warning")
            return
        text = clipboard(text)  # plain text: nothing in it can end or start an OSC sequence
        self.copy_to_clipboard(text)
        shown = text.replace("\t", " ").replace("\n", " ")
        shown = shown if len(shown) <= 60 else shown[:59] + "…"
        self.notify(f"copied: {shown}", title="clipboard (OSC 52)")
        if self.screen is self.main:
            self.main.notice = f"copied: {shown}"

    # -- help, log, quit --------------------------------------------------------------

    def action_help(self) -> None:
        from embtui.app.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(HelpScreen(self.screen))

    def action_message_log(self) -> None:
        from embtui.app.screens.log import MessageLogScreen

        if isinstance(self.screen, MessageLogScreen):
            self.screen.dismiss(None)
            return
        self.push_screen(MessageLogScreen(self.messages))

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
        self.line.stage = "stopping after the current epoch, then quitting…"
        self._set_activity()
        self._exit_after_training()


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
        with native_stderr_to(app.store.log_path) as terminal:
            app.detach_terminal = terminal.detach
            result = app.run()
    finally:
        # Quitting and the stop signals close the console once its training worker has
        # ended (`_exit_after_training`). However else it ended (a crash), training was
        # told to stop after its epoch when the app unmounted, and `App.run`'s
        # `asyncio.run` waits for the worker's thread before it returns.
        app.stop_event.set()
        app.store.close()
    if app.farewell:
        with contextlib.suppress(OSError):  # a hung-up terminal has nobody to tell
            print(app.farewell, file=sys.stderr)
    if app.exit_signal is not None:
        return 128 + app.exit_signal
    return result if isinstance(result, int) else (app.return_code or 0)
