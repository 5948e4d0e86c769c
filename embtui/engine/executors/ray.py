"""Train an experiment's runs on a Ray cluster (`cluster = "ray"`, `embtui run --ray`).

Each run is one Ray task asking for `cpus_per_run` CPUs and `gpus_per_run` GPUs (default: one
GPU when the cluster has GPUs; a fraction such as 0.25 packs four small runs on one GPU).
The driver submits only as many tasks as the cluster's CPUs and GPUs hold at once (Ray
itself would start more, since it lends a task's CPUs away while the task waits on the
board). The prepared data and GloVe vectors go into Ray's object store once (`ray.put`), not once
per task.

The store stays one SQLite file on this machine (the driver's). Tasks send their record
back through a `Board`, an actor pinned to this machine: every store write a run would make
(start, each epoch, its finish and cost), every event for the progress display, every
checkpoint. The driver drains the board a few times a second and makes the writes through
the listeners a run trained here has (its record, TensorBoard files and checkpoints), so a
console on this machine shows a cluster grid live exactly like a local one, each run with
its device, host and Ray node (`GPU:0 NVIDIA H200 on gpu-box-2 (Ray node 3f2a91)`).
Streaming generator tasks were the other choice; a retried generator task replays its whole
output and must produce the same number of items, which a run continuing from its
checkpoint does not.

A run whose worker or node dies is retried by Ray (`max_retries`) on another worker, and
continues from its last checkpoint, which the board holds (and this machine keeps on disk
for `embtui run --resume`): it computes exactly the epochs the lost attempt would have.
Stopping (Ctrl-C, a hangup, SIGTERM, `x` in the console) tells the running tasks to stop
after their current epoch, each saving a checkpoint; tasks that had not started return at
once, leaving their runs queued (then `cancelled`, for `embtui run --resume`). `ray.cancel`
is not used: a task may have started a moment before the driver heard of it, and
cancelling interrupts it anywhere, even between two writes of its run's record.
Results per (size, arm, seed) are those of any other executor.
"""

from __future__ import annotations

import socket
import time
import traceback
from typing import TYPE_CHECKING, Any

from embtui.engine.checkpoint import Checkpoint, RunCheckpoints
from embtui.engine.events import Event, RunFinished, Sink, Stage, StopFlag
from embtui.engine.executors.ray_connect import connect, import_ray, shutdown
from embtui.engine.executors.ray_watch import NodeWatch, answers, node_died, raylet_socket
from embtui.engine.listeners import Listeners
from embtui.engine.run import CheckpointKeeper, RunRecord, StoreLedger, TensorBoardLog
from embtui.errors import StoreError, Unfinished, one_line
from embtui.store import EpochMetrics, ExperimentRow, RunCost, RunRow, RunStatus, Store, now

if TYPE_CHECKING:
    from embtui.config import ExperimentConfig
    from embtui.engine.run import Prepared
    from embtui.sysmetrics import Sampler

#: How often a task may be retried after its worker or node died.
MAX_RETRIES = 3
#: Seconds between the driver's drains of the board.
DRAIN_EVERY_S = 0.2
#: Seconds the driver waits for the board (on this machine) to answer one call.
BOARD_TIMEOUT_S = 60.0
#: The store writes a task may ask the driver for.
_STORE_WRITES = frozenset({"start_run", "add_epoch", "finish_run", "set_run_cost"})


class RayCluster:
    """The executor: runs as Ray tasks, their record drained into the store here."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.address = config.ray_address
        self.gpus_per_run = config.gpus_per_run
        self.cpus_per_run = config.cpus_per_run
        self.checkpoint_every = config.checkpoint_every

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
        ray = import_ray()
        # A cluster named by its address was joined by `runner.prepare`, before anything was
        # recorded; Ray on this machine starts here, with the experiment recorded, so that
        # a Ctrl-C while it starts leaves the experiment `cancelled` like any other stop.
        connect(self.address, sink)
        watch = None
        restore = _errors_to_log(ray, store.log_path)
        try:
            if stop.is_set():  # stopped while Ray started: no run was sent; all stay queued
                return
            watch = NodeWatch.start(ray, store, experiment_id)
            self._run(ray, store, experiment_id, prepared, runs, total, sink, stop)
        finally:
            shutdown()  # this driver leaves; a cluster it joined keeps running
            restore()
            if watch is not None:
                watch.close()

    def _run(
        self,
        ray: Any,
        store: Store,
        experiment_id: int,
        prepared: Prepared,
        runs: list[RunRow],
        total: int,
        sink: Sink,
        stop: StopFlag,
    ) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        resources = ray.cluster_resources()
        nodes = sum(1 for n in ray.nodes() if n.get("Alive"))
        gpus = self.gpus_per_run
        if gpus is None:
            gpus = 1.0 if resources.get("GPU", 0) > 0 else 0.0
        sink(
            Stage(
                experiment_id,
                f"Ray: {nodes} node{'s' * (nodes != 1)}, {resources.get('CPU', 0):g} CPUs, "
                f"{resources.get('GPU', 0):g} GPUs; each run asks {self.cpus_per_run:g} CPU, "
                f"{gpus:g} GPU",
            )
        )
        experiment = store.experiment(experiment_id)
        every = self.checkpoint_every
        on_disk = {r.id: RunCheckpoints(store, experiment, r, every) for r in runs}
        here = ray.get_runtime_context().get_node_id()
        board = (
            ray.remote(Board)
            .options(
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False),
            )
            .remote(
                {r.id: on_disk[r.id].load() for r in runs},
                {r.id: store.run_epochs(r.id) for r in runs},
            )
        )
        data = ray.put(prepared)
        task = ray.remote(train_remote).options(
            num_cpus=self.cpus_per_run, num_gpus=gpus, max_retries=MAX_RETRIES
        )
        waiting = list(runs)
        pending: dict[Any, RunRow] = {}

        def submit() -> None:
            # At most as many tasks as the cluster has room for: Ray lends a task's CPUs to
            # others while it waits on the board (`ray.get`, every epoch), and would start
            # more runs at once than `cpus_per_run` allows. Runs never submitted (stopped)
            # stay queued, and the runner marks them cancelled.
            room = self.room(ray.cluster_resources(), gpus)  # asked once per round
            while waiting and len(pending) < room:
                r = waiting.pop(0)
                # The reference in a list is not resolved by Ray: each worker fetches it once.
                ref = task.remote([data], board, experiment, r, total, str(store.log_path))
                pending[ref] = r

        driver = _Driver(store, experiment, prepared.config, on_disk, sink, {r.id: r for r in runs})
        stopping = False
        submit()
        while pending:
            driver.apply(_ask(ray, board.drain.remote(), experiment_id))
            if stop.is_set() and not stopping:
                stopping = True
                _ask(
                    ray, board.stop.remote(), experiment_id
                )  # tasks not started yet return at once
            done, _ = ray.wait(list(pending), num_returns=len(pending), timeout=DRAIN_EVERY_S)
            for ref in done:
                run_row = pending.pop(ref)
                driver.apply(_ask(ray, board.drain.remote(), experiment_id))
                driver.ended(run_row, _outcome(ray, ref))
            if not stop.is_set():
                submit()
        driver.apply(_ask(ray, board.drain.remote(), experiment_id))
        driver.close()

    def room(self, resources: dict[str, float], gpus: float) -> int:
        """How many runs the cluster's CPUs and GPUs hold at once (at least one)."""
        limits = [
            int(resources.get(name, 0) / need + 1e-9)
            for name, need in (("CPU", self.cpus_per_run), ("GPU", gpus))
            if need > 0
        ]
        return max(1, min(limits)) if limits else 1 << 30


def _errors_to_log(ray: Any, log_path: Any) -> Any:
    """Send the errors Ray's cluster publishes to this driver (a worker or a raylet that
    died, with the last lines of its log) to the store's log instead of stdout, where Ray
    prints them in the middle of the progress display; a run's own failure is in the
    store already. Returns what puts Ray's printer back."""
    try:
        module = ray._private.worker
        original = module.print_to_stdstream
    except AttributeError:  # another Ray: it prints as it does
        return lambda: None

    def to_log(data: dict[str, Any], ignore_prefix: bool = False) -> None:
        lines = "\n".join(str(line) for line in data.get("lines", []))
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"--- {now()} from Ray ({data.get('pid', '?')}):\n{lines}\n")
        except OSError:
            pass

    module.print_to_stdstream = to_log

    def restore() -> None:
        module.print_to_stdstream = original

    return restore


def _ask(ray: Any, ref: Any, experiment_id: int) -> Any:
    """The board's answer to one call from the driver, within BOARD_TIMEOUT_S seconds. The
    board lives on this machine: no answer, or a board that died, means the cluster is
    lost here: one line (Unfinished) with the reason, a dead node when this machine's
    raylet is gone, else Ray's; the runner marks the experiment interrupted."""
    try:
        return ray.get(ref, timeout=BOARD_TIMEOUT_S)
    except ray.exceptions.GetTimeoutError:
        reason = f"this machine's part of it did not answer within {BOARD_TIMEOUT_S:g} s"
    except ray.exceptions.RayError as exc:
        reason = one_line(exc)[:300]
    raylet = raylet_socket(ray)
    if raylet is not None and not answers(raylet):
        raise Unfinished(node_died(experiment_id)) from None
    raise Unfinished(
        f"lost the Ray cluster ({reason}): experiment {experiment_id} is interrupted; "
        f"resume it with embtui resume {experiment_id} (--cluster local, or --ray ADDRESS)"
    ) from None


def _outcome(ray: Any, ref: Any) -> str | None:
    """None when a task returned, else why it did not (its retries used up, cancelled)."""
    try:
        ray.get(ref)
    except Exception as exc:
        if type(exc).__name__ == "TaskCancelledError":
            return "cancelled"
        return one_line(exc)
    return None


class _Driver:
    """Applies what the tasks sent: the store writes, the events, the checkpoints, the logs.

    Each run here has the listeners it would have trained on this machine
    (`embtui.engine.run`), fed with what its task sent: its record into the store
    (`RunRecord`), its TensorBoard files, which live on this machine (`TensorBoardLog`),
    and its checkpoints on this machine's disk (`CheckpointKeeper`: its task decides when
    to save one; here it is written, and removed once its task ends it `done` or `failed`;
    a run whose task was lost keeps it for `embtui run --resume`)."""

    def __init__(
        self,
        store: Store,
        experiment: ExperimentRow,
        config: ExperimentConfig,
        on_disk: dict[int, RunCheckpoints],
        sink: Sink,
        runs: dict[int, RunRow],
    ) -> None:
        self.store = store
        self.ledger = StoreLedger(store)
        self.experiment = experiment
        self.config = config
        self.on_disk = on_disk
        self.sink = sink
        self.runs = runs
        self.finished: set[int] = set()
        self.tensorboard = {run_id: TensorBoardLog() for run_id in runs}
        # What a run costs is measured by its task (on the worker) and sent as a store write.
        self.record = RunRecord(self.ledger, None, "")
        self.listeners = {
            run_id: Listeners(
                [
                    self.record,
                    self.tensorboard[run_id],
                    CheckpointKeeper(on_disk[run_id], config.arm(row.factors).epochs),
                ]
            )
            for run_id, row in runs.items()
        }

    def apply(self, items: list[tuple]) -> None:
        for item in items:
            kind = item[0]
            if kind == "store":
                self._write(item[1], item[2], item[3])
            elif kind == "event":
                event: Event = item[1]
                if isinstance(event, RunFinished):
                    self.finished.add(event.run_id)
                self.sink(event)
            elif kind == "checkpoint":
                _, run_id, epoch, state = item
                self.on_disk[run_id].save(epoch, state)
            elif kind == "log":
                self._log(item[1])
            elif kind == "learned":
                _, exp_id, run_id, kept, shape = item
                try:
                    self.ledger.keep_learned(self.runs[run_id], kept, shape)
                except OSError as exc:
                    self.sink(Stage(exp_id, f"  run {run_id}: not kept ({one_line(exc)})"))

    def _write(self, method: str, args: tuple, kwargs: dict) -> None:
        """A store write the task's record (or `train_one` itself) asked for, made here with
        what follows from it on this machine."""
        if method not in _STORE_WRITES:  # pragma: no cover - the board only sends these
            raise StoreError(f"a Ray task asked for an unknown store write {method!r}")
        if method == "add_epoch":
            metrics: EpochMetrics = args[0]
            self.listeners[metrics.run_id].on_epoch_end(metrics)
        elif method == "finish_run":
            run_id, status, error = args
            self.listeners[run_id].on_run_end(
                RunFinished(self.experiment.id, run_id, status, error)
            )
        elif method == "start_run":  # a run starts, or a retried task starts it again
            run_id = args[0]
            self.ledger.start_run(*args, **kwargs)
            self.tensorboard[run_id].start(
                self.ledger,
                self.config,
                self.experiment,
                self.runs[run_id],
                continued=kwargs.get("keep_epochs", 0) > 0,
            )
        else:  # set_run_cost: measured by the task's own meter
            self.ledger.set_run_cost(*args, **kwargs)

    def _log(self, text: str) -> None:
        try:
            with open(self.store.log_path, "a", encoding="utf-8") as log:
                log.write(text)
        except OSError:
            pass

    def ended(self, run_row: RunRow, problem: str | None) -> None:
        """A task ended: if it could not record its run's end (its worker died more often
        than the retries allow), the run is `failed` with Ray's reason. Its checkpoint stays
        on disk: the run failed for want of a worker, not by what it computes, and
        `embtui run --resume` continues it from there."""
        if problem is None or problem == "cancelled" or run_row.id in self.finished:
            return
        if self.store.run(run_row.id).status in ("queued", "running"):
            error = f"lost on the Ray cluster after {MAX_RETRIES} retries: {problem}"
            lost = RunFinished(run_row.experiment_id, run_row.id, "failed", error[:500])
            self.record.on_run_end(lost)
            self.tensorboard[run_row.id].on_run_end(lost)
            self.sink(lost)

    def close(self) -> None:
        for tensorboard in self.tensorboard.values():
            tensorboard.close()


class Board:
    """The actor between the tasks and the driver (pinned to the driver's machine): holds
    what tasks sent until the driver drains it, each run's epochs so far and latest
    checkpoint (what a retried task continues from), and the stop request."""

    def __init__(
        self, checkpoints: dict[int, Checkpoint | None], epochs: dict[int, list[EpochMetrics]]
    ) -> None:
        self.items: list[tuple] = []
        self.checkpoints = dict(checkpoints)
        self.epochs = {run_id: list(e) for run_id, e in epochs.items()}
        self.stopping = False

    def post(self, item: tuple) -> None:
        self.items.append(item)
        if item[0] == "store" and item[1] == "add_epoch":
            metrics: EpochMetrics = item[2][0]
            kept = [e for e in self.epochs.get(metrics.run_id, []) if e.epoch < metrics.epoch]
            self.epochs[metrics.run_id] = [*kept, metrics]
        elif item[0] == "store" and item[1] == "start_run":
            keep = item[3].get("keep_epochs", 0)
            run_id = item[2][0]
            self.epochs[run_id] = [e for e in self.epochs.get(run_id, []) if e.epoch <= keep]

    def drain(self) -> list[tuple]:
        out, self.items = self.items, []
        return out

    def run_epochs(self, run_id: int) -> list[EpochMetrics]:
        return list(self.epochs.get(run_id, []))

    def checkpoint(self, run_id: int) -> Checkpoint | None:
        return self.checkpoints.get(run_id)

    def save(self, run_id: int, checkpoint: Checkpoint) -> None:
        self.checkpoints[run_id] = checkpoint
        self.items.append(("checkpoint", run_id, checkpoint.epoch, checkpoint.state))

    def remove(self, run_id: int) -> None:
        self.checkpoints.pop(run_id, None)

    def stop(self) -> None:
        self.stopping = True

    def is_stopping(self) -> bool:
        return self.stopping

    def ping(self) -> None:
        """Nothing: a caller waits for it to know its earlier calls arrived."""


# -- in the Ray worker ----------------------------------------------------------------------

_CACHE: Any = None  # this worker process's trainers, reused by every task it runs
#: This worker's copy of each grid's prepared data, by object id. Every task of the grid
#: then trains on the same arrays, so the trainers' per-data caches (initial weights by
#: seed, data on the device) hold across its runs, as in one process.
_PREPARED: dict[str, Any] = {}


def train_remote(
    data: list[Any],
    board: Any,
    experiment: ExperimentRow,
    run_row: RunRow,
    total: int,
    log_path: str,
) -> None:
    """A Ray task: train one run with `train_one`, recording through the board."""
    global _CACHE
    import ray

    from embtui.engine.run import train_one
    from embtui.engine.tfsetup import training_device
    from embtui.engine.trainer import TrainerCache
    from embtui.sysmetrics import Sampler

    stop = BoardStop(board)
    if stop.is_set():  # the grid was stopped before this run started: it stays queued
        return
    if _CACHE is None:
        _CACHE = TrainerCache()
    key = data[0].hex()
    if key not in _PREPARED:
        _PREPARED.clear()  # another grid's: one at a time per worker
        _PREPARED[key] = ray.get(data[0])
    prepared: Prepared = _PREPARED[key]
    node = ray.get_runtime_context().get_node_id()[:6]
    device = f"{training_device()} on {socket.gethostname()} (Ray node {node})"
    ledger = BoardLedger(board, experiment, log_path)
    with Sampler() as meter:
        train_one(
            ledger,
            experiment.id,
            prepared,
            run_row,
            total,
            _CACHE,
            device,
            ledger.event,
            stop,
            meter,
        )
    ledger.flush()


#: The (store's log, experiment, vocab_size, maxlen) shapes whose arrays this task process
#: has sent (a worker may serve the grids of several stores, whose ids overlap).
_SHAPES_SENT: set[tuple[str, int, int, int]] = set()


class BoardLedger:
    """A run's record sent to the driver through the board (see `embtui.engine.run.Ledger`).
    Calls from one task to the board arrive in order; `flush` waits until all have."""

    def __init__(self, board: Any, experiment: ExperimentRow, log_path: str) -> None:
        self.board = board
        self._experiment = experiment
        self.log_path = log_path

    def _post(self, item: tuple) -> None:
        self.board.post.remote(item)

    def flush(self) -> None:
        """Wait until the board has everything this task sent (calls arrive in order)."""
        import ray

        ray.get(self.board.ping.remote())

    def event(self, event: Event) -> None:
        self._post(("event", event))

    def experiment(self, exp_id: int) -> ExperimentRow:
        return self._experiment

    def run_epochs(self, run_id: int) -> list[EpochMetrics]:
        import ray

        result: list[EpochMetrics] = ray.get(self.board.run_epochs.remote(run_id))
        return result

    def start_run(
        self,
        run_id: int,
        *,
        device: str,
        params: int | None,
        coverage: float | None,
        keep_epochs: int = 0,
    ) -> None:
        kwargs = {
            "device": device,
            "params": params,
            "coverage": coverage,
            "keep_epochs": keep_epochs,
        }
        self._post(("store", "start_run", (run_id,), kwargs))

    def add_epoch(self, m: EpochMetrics) -> None:
        self._post(("store", "add_epoch", (m,), {}))

    def finish_run(self, run_id: int, status: RunStatus, error: str | None = None) -> None:
        self._post(("store", "finish_run", (run_id, status, error), {}))

    def set_run_cost(self, run_id: int, cost: RunCost) -> None:
        self._post(("store", "set_run_cost", (run_id, cost), {}))

    def run_checkpoints(
        self, experiment: ExperimentRow, run_row: RunRow, every_s: float
    ) -> BoardCheckpoints:
        return BoardCheckpoints(self.board, run_row.id, every_s)

    def log_failure(self, run_row: RunRow, exc: BaseException) -> str:
        text = (
            f"--- {now()} experiment {run_row.experiment_id} run {run_row.id} "
            f"(size {run_row.size}, {run_row.embedding}, seed {run_row.seed}) failed on "
            f"{socket.gethostname()}\n" + "".join(traceback.format_exception(exc))
        )
        self._post(("log", text))
        return f"{one_line(exc)} (traceback in {self.log_path})"

    def event_log(self, cfg: Any, experiment: ExperimentRow, run_row: RunRow) -> None:
        return None  # the driver writes the TensorBoard files, on its machine

    def keep_learned(self, run_row: RunRow, kept: Any, shape: Any) -> None:
        """Send the run's kept arrays to the driver, which writes them beside the store; a
        shape's arrays go once per task process (the driver keeps the first it gets)."""
        key = (self.log_path, run_row.experiment_id, shape.vocab_size, shape.maxlen)
        sent = key in _SHAPES_SENT
        _SHAPES_SENT.add(key)
        self._post(("learned", run_row.experiment_id, run_row.id, kept, None if sent else shape))


class BoardCheckpoints:
    """A run's checkpoints kept by the board (and, through it, on the driver's disk)."""

    def __init__(self, board: Any, run_id: int, every_s: float) -> None:
        self.board = board
        self.run_id = run_id
        self.every_s = every_s
        self.saved = 0
        self._last = time.monotonic()

    def load(self) -> Checkpoint | None:
        import ray

        result: Checkpoint | None = ray.get(self.board.checkpoint.remote(self.run_id))
        return result

    def due(self) -> bool:
        return time.monotonic() - self._last >= self.every_s

    def save(self, epoch: int, state: list[Any]) -> None:
        self.board.save.remote(self.run_id, Checkpoint(epoch, state))
        self.saved = epoch
        self._last = time.monotonic()

    def remove(self) -> None:
        self.board.remove.remote(self.run_id)


class BoardStop:
    """The driver's stop request, read once per epoch."""

    def __init__(self, board: Any) -> None:
        self.board = board

    def is_set(self) -> bool:
        import ray

        return bool(ray.get(self.board.is_stopping.remote()))


__all__ = ["Board", "RayCluster", "connect", "import_ray", "train_remote"]
