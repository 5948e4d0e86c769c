"""Train K runs of a grid at a time, each in its own process (`workers = K`).

On a box with several GPUs each worker process is pinned to one of them through
`CUDA_VISIBLE_DEVICES` (set before TensorFlow is imported there), so the grid's wall time
drops towards 1/K. On a CPU-only machine the workers share the cores. A run's result
depends only on its (size, arm, seed), never on which worker trained it or on K.

Workers write their epochs to the store themselves (SQLite WAL serialises the short write
transactions) and forward every event to the parent, which hands them to the caller's
sink on its own thread, so the CLI and the console see one ordered stream either way.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import threading
from typing import Any

from embtui.engine.events import Event, RunFinished, Sink
from embtui.store import Store

_DONE = "done"


def visible_gpus() -> list[str]:
    """GPU ids to hand out, from CUDA_VISIBLE_DEVICES or nvidia's device nodes."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    return (
        sorted(
            name[len("nvidia") :]
            for name in os.listdir("/dev")
            if name.startswith("nvidia") and name[len("nvidia") :].isdigit()
        )
        if os.path.isdir("/dev")
        else []
    )


def run_parallel(
    store: Store,
    experiment_id: int,
    prepared: Any,
    run_ids: list[int],
    *,
    workers: int,
    total: int,
    sink: Sink,
    stop: threading.Event,
) -> None:
    """Train `run_ids` with `workers` processes; returns when all are finished or stopped."""
    ctx = mp.get_context("spawn")  # fork would copy a possibly initialised TensorFlow
    tasks: Any = ctx.Queue()
    events: Any = ctx.Queue()
    stop_all = ctx.Event()
    for run_id in run_ids:
        tasks.put(run_id)
    gpus = visible_gpus()
    count = max(1, min(workers, len(run_ids)))
    procs = []
    for i in range(count):
        tasks.put(None)  # one end marker per worker
        gpu = gpus[i % len(gpus)] if gpus else None
        proc = ctx.Process(
            target=_worker,
            args=(str(store.path), experiment_id, prepared, total, tasks, events, stop_all, gpu),
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
        if isinstance(event, RunFinished):
            pending.discard(event.run_id)
        sink(event)
    for proc in procs:
        proc.join(timeout=30)
    for run_id in pending:  # a worker that died took its current run with it
        if store.run(run_id).status == "running":
            store.finish_run(run_id, "failed", "worker process ended unexpectedly")


def _worker(
    store_path: str,
    experiment_id: int,
    prepared: Any,
    total: int,
    tasks: Any,
    events: Any,
    stop: Any,
    gpu: str | None,
) -> None:
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    from embtui.engine.runner import train_one
    from embtui.engine.trainer import TrainerCache, describe_device

    store = Store(store_path)
    device = describe_device()
    if gpu is not None and device.startswith("GPU"):
        device = f"GPU {gpu}" + device[len("GPU:0") :]
    cache = TrainerCache()

    def forward(event: Event) -> None:
        events.put(event)

    try:
        while True:
            run_id = tasks.get()
            if run_id is None or stop.is_set():
                break
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
            )
    finally:
        store.close()
        events.put(_DONE)
