"""Train K runs of a grid at a time, each in its own process (`workers = K`): `ProcessPool`.

On a box with several GPUs each worker process is pinned to one of them through
`CUDA_VISIBLE_DEVICES` (set before TensorFlow is imported there), so the grid's wall time
drops towards 1/K. On a CPU-only machine the workers share the cores. A run's result
depends only on its (size, arm, seed), never on which worker trained it or on K.

Workers write their epochs to the store themselves (SQLite WAL serialises the short write
transactions) as the parent's store connection (its owner token), and forward every event
to the parent, which hands them to the caller's sink on its own thread, so the CLI and the
console see one ordered stream either way.

Workers never outlive their parent: on Linux the kernel kills them when it dies
(`PR_SET_PDEATHSIG`), and everywhere they check between epochs that it is still there.
They ignore Ctrl-C and hangups, which a terminal sends to the whole process group: the
parent decides, and tells them to stop after their current epoch (saving a checkpoint).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing as mp
import os
import queue
import signal
import sys
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from embtui.engine.events import Event, RunFinished, Sink, Stage, StopFlag
from embtui.engine.executors.streams import stderr_with_fd
from embtui.errors import StoreError, one_line
from embtui.store import RunRow, Store
from embtui.sysmetrics import Sampler, visible_gpus
from embtui.versions import framework_versions

if TYPE_CHECKING:
    from embtui.engine.run import Prepared

_DONE = "done"


@dataclass(frozen=True)
class _WorkerFailed:
    """A worker could not start (its store, TensorFlow or device failed to load) or had to
    stop (the store cannot be written, or the experiment is no longer its parent's)."""

    text: str


class ProcessPool:
    """K worker processes on this machine (`workers = K`)."""

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
        sink(Stage(experiment_id, f"starting {self.workers} worker processes"))
        from embtui.engine.tfsetup import threads_per_op

        store.update_meta(
            experiment_id, **framework_versions(), threads_per_op=threads_per_op(here=False)
        )
        run_parallel(
            store,
            experiment_id,
            prepared,
            [r.id for r in runs],
            workers=self.workers,
            total=total,
            sink=sink,
            stop=stop,
        )


def run_parallel(
    store: Store,
    experiment_id: int,
    prepared: Prepared,
    run_ids: list[int],
    *,
    workers: int,
    total: int,
    sink: Sink,
    stop: StopFlag,
) -> None:
    """Train `run_ids` with `workers` processes; returns when all are finished or stopped.

    Runs a worker was training when it died are marked `failed` with its exit code; runs
    no worker reached stay `queued` for the caller to close (the grid is then unfinished,
    never `done`). If this process is interrupted, the workers are killed before it goes.
    """
    ctx = mp.get_context("spawn")  # fork would copy a possibly initialised TensorFlow
    _start_resource_tracker()
    tasks: Any = ctx.Queue()
    events: Any = ctx.Queue()
    stop_all = ctx.Event()
    for run_id in run_ids:
        tasks.put(run_id)
    gpus = visible_gpus()
    count = max(1, min(workers, len(run_ids)))
    procs = []
    try:
        for i in range(count):
            tasks.put(None)  # one end marker per worker
            gpu = gpus[i % len(gpus)] if gpus else None
            proc = ctx.Process(
                target=_worker,
                args=(
                    str(store.path),
                    store.owner,
                    experiment_id,
                    prepared,
                    total,
                    tasks,
                    events,
                    stop_all,
                    gpu,
                    os.getpid(),
                ),
                daemon=True,
            )
            proc.start()
            procs.append(proc)
        running = count
        pending = set(run_ids)
        while running:
            if stop.is_set():
                stop_all.set()
            try:
                event = events.get(timeout=0.2)
            except queue.Empty:
                if not any(p.is_alive() for p in procs):
                    break
                continue
            if event == _DONE:
                running -= 1
                continue
            if isinstance(event, _WorkerFailed):
                sink(Stage(experiment_id, event.text))
                continue
            if isinstance(event, RunFinished):
                pending.discard(event.run_id)
            sink(event)
        for proc in procs:
            proc.join(timeout=30)
    except BaseException:
        # Aborted (a second Ctrl-C, an error here): no worker may go on training alone.
        stop_all.set()
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.kill()
        raise
    codes = sorted({p.exitcode for p in procs if p.exitcode not in (0, None)})
    for run_id in pending:  # a worker that died took its current run with it
        if store.run(run_id).status == "running":
            code = f" (exit code {', '.join(map(str, codes))})" if codes else ""
            store.finish_run(run_id, "failed", f"worker process ended unexpectedly{code}")


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker, which starting a worker needs. It is
    handed `sys.stderr.fileno()`, which under the console is -1 (see `stderr_with_fd`)."""
    from multiprocessing import resource_tracker

    with stderr_with_fd():
        resource_tracker.ensure_running()


class _StopOrOrphaned:
    """Set when the parent asks its workers to stop, or when the parent has gone."""

    def __init__(self, stop: Any, parent_pid: int) -> None:
        self._stop = stop
        self._parent = parent_pid
        self._local = threading.Event()

    def set(self) -> None:
        self._local.set()

    def is_set(self) -> bool:
        return self._local.is_set() or self._stop.is_set() or os.getppid() != self._parent


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies; leave at once if it has."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _worker(
    store_path: str,
    owner: str,
    experiment_id: int,
    prepared: Any,
    total: int,
    tasks: Any,
    events: Any,
    stop_all: Any,
    gpu: str | None,
    parent_pid: int,
) -> None:
    _die_with_parent(parent_pid)
    stop = _StopOrOrphaned(stop_all, parent_pid)
    # A terminal sends Ctrl-C and hangups to the whole process group: the parent handles
    # them and sets stop_all, so each worker ends its epoch and saves a checkpoint.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    store: Store | None = None
    try:
        try:
            from embtui.engine.run import train_one
            from embtui.engine.tfsetup import training_device
            from embtui.engine.trainer import TrainerCache

            store = Store(store_path, owner=owner)
            device = training_device()
            if gpu is not None and device.startswith("GPU"):
                device = f"GPU {gpu}" + device[len("GPU:0") :]
            cache = TrainerCache()
        except Exception as exc:
            events.put(_WorkerFailed(f"a worker process could not start: {one_line(exc)}"))
            return

        def forward(event: Event) -> None:
            events.put(event)

        # Meters this worker's runs; the parent records the box's samples.
        with Sampler() as meter:
            while not stop.is_set():
                run_id = tasks.get()
                if run_id is None or stop.is_set():
                    break
                try:
                    train_one(
                        store,
                        experiment_id,
                        prepared,
                        store.run(run_id),
                        total,
                        cache,
                        device,
                        forward,
                        stop,
                        meter,
                    )
                except StoreError as exc:  # not ours any more, or the store is unwritable
                    events.put(_WorkerFailed(f"a worker process stopped: {exc}"))
                    return
    finally:
        if store is not None:
            store.close()
        events.put(_DONE)
