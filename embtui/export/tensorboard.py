"""TensorBoard event files: each run's per-epoch loss and accuracy, for `tensorboard --logdir`.

The layout is the one `keras.callbacks.TensorBoard` writes, so TensorBoard overlays a run's
training and validation curves as it does for any Keras model:

    <root>/<experiment name>-<id>/size10-learned-seed0/train/       epoch_loss, epoch_accuracy
    <root>/<experiment name>-<id>/size10-learned-seed0/validation/  epoch_loss, epoch_accuracy

The step is the epoch, counted from 1 as everywhere in embtui (Keras' callback counts from 0).
Each experiment's folder holds a small `.embtui-store.json` naming the store and experiment
whose files it holds, so that a second store writing into the same root (its experiment 1
has the same folder name) is refused instead of silently deleting the first one's runs.
Training writes these files live (`RunEventLog`, flushed after every epoch); `embtui export
--format tensorboard` writes the same files afterwards from the store (`export_tensorboard`).

Each epoch is an Event record with the scalar plugin's metadata (what `tf.summary.scalar`
writes) and its own wall time: while training, when the epoch ended; in an export, from the
run's recorded end (or start) and its epochs' recorded seconds (`epoch_wall_times`), so
TensorBoard's Relative and Wall axes mean what they say for an experiment exported later.
The records are the bytes TensorFlow writes, encoded without it (`embtui.export.tfrecord`):
neither a grid on the fused engine nor a Ray driver imports TensorFlow to log.
With the `tensorboard` package installed (the `tensorboard` extra) an export also writes the
HParams dashboard's records: the experiment's factors, size and seed and the final
validation metrics of each run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from embtui.config import level_text, varied_keys
from embtui.errors import EmbtuiError
from embtui.export.tfrecord import event, scalar_summary, write_event
from embtui.store import EpochMetrics, Store

#: The file in an experiment's folder that says which store and experiment it belongs to.
OWNER_FILE = ".embtui-store.json"
#: Longest file or folder name most filesystems take, in bytes.
NAME_MAX = 255

#: Per subfolder: each tag, named as Keras' callback names it, and the EpochMetrics field in it.
_SPLITS = (
    ("train", (("epoch_loss", "loss"), ("epoch_accuracy", "acc"))),
    ("validation", (("epoch_loss", "val_loss"), ("epoch_accuracy", "val_acc"))),
)


class ExperimentLike(Protocol):
    """What a log needs of an experiment (a store's `ExperimentRow` has it)."""

    @property
    def id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def config(self) -> Mapping[str, Any]: ...


class RunLike(Protocol):
    """What a log needs of a run (a store's `RunRow` has it)."""

    @property
    def size(self) -> int: ...
    @property
    def embedding(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def factors(self) -> Mapping[str, Any]: ...


def experiment_folder(root: str | Path, experiment: ExperimentLike) -> Path:
    """`<root>/<name>-<id>`: the id keeps two experiments of the same name apart. A leading
    `~` in root is the home folder, as in the other path keys of an experiment file."""
    return _experiment_path(root, experiment.name, experiment.id)


def _experiment_path(root: str | Path, name: str, exp_id: int) -> Path:
    return Path(root).expanduser() / f"{_safe(name)}-{exp_id}"


def run_folder_name(run: RunLike, varied: Sequence[str] = ()) -> str:
    """`size10-learned-seed0`: one folder per cell of the grid. In a sweep the arm is named
    by the factors it varies (`size10-glove-avgpool-lr=0.01-seed0`)."""
    return _run_folder(run.size, run.factors, run.seed, varied)


def _run_folder(size: int, factors: Mapping[str, Any], seed: int, varied: Sequence[str]) -> str:
    keys = [k for k in varied if k in factors] or ["embeddings"]
    arm = "-".join(level_text(k, factors.get(k, "")) for k in keys)
    return f"size{size}-{_safe(arm)}-seed{seed}"


def check_root(root: str | Path, name: str) -> None:
    """Refuse, in one line, a TensorBoard folder embtui could not write an experiment in:
    an existing file, a name too long for the filesystem, a folder this user may not
    write. Checked before anything is recorded, like all bad input."""
    path = Path(root).expanduser()
    longest = f"{_safe(name)}-{2**63 - 1}"
    for part in (*path.parts, longest):
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            shown = part if part != longest else f"{_safe(name)}-<id> (from the name)"
            raise EmbtuiError(
                f"tensorboard_dir {root}: {shown[:40]}... is longer than {NAME_MAX} bytes, "
                "more than a file name may be"
            )
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise EmbtuiError(f"tensorboard_dir {root}: {what}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise EmbtuiError(f"tensorboard_dir {root}: {existing} is not writable for this user")


def check_experiment_folder(
    root: str | Path,
    name: str,
    exp_id: int,
    cells: Iterable[tuple[int, Mapping[str, Any], int]],
    varied: Sequence[str] = (),
) -> None:
    """Refuse a new experiment's TensorBoard folder that is already in use: it holds
    another store's (or another experiment's) files, or a run's folder is a file."""
    folder = _experiment_path(root, name, exp_id)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise EmbtuiError(f"tensorboard_dir {root}: {folder} is a file, not a folder")
    owner = _read_owner(folder)
    if owner is not None or any(folder.iterdir()):
        whose = (
            f"experiment {owner.get('experiment')} of {owner.get('store')}"
            if owner
            else "files embtui did not write"
        )
        raise EmbtuiError(
            f"tensorboard_dir {root}: {folder.name} already holds TensorBoard files of "
            f"{whose}; give another tensorboard_dir"
        )
    for size, arm, seed in cells:
        run = folder / _run_folder(size, arm, seed, varied)
        if run.exists() and not run.is_dir():
            raise EmbtuiError(f"tensorboard_dir {root}: {run} is a file, not a folder")


def claim_experiment_folder(folder: Path, store: Path | None, exp_id: int) -> None:
    """Write the owner file of an experiment's folder, or refuse a folder that another
    store's experiment owns (two stores logging to one root, both with an experiment 1)."""
    owner = _read_owner(folder)
    me = {"store": str(Path(store).resolve()) if store else None, "experiment": exp_id}
    if owner is not None and store is not None and owner.get("store") not in (None, me["store"]):
        raise EmbtuiError(
            f"{folder}: holds the TensorBoard files of experiment {owner.get('experiment')} "
            f"of another run store ({owner.get('store')}); give another folder"
        )
    if owner != me:
        from embtui.files import write_atomically

        folder.mkdir(parents=True, exist_ok=True)
        write_atomically(folder / OWNER_FILE, json.dumps(me) + "\n")


def _read_owner(folder: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((folder / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class RunEventLog:
    """One run's event files, written epoch by epoch while it trains.

    Opening the log deletes whatever an earlier attempt at the same run left in its folder:
    a run always trains again from epoch 1 (a resumed experiment reruns its unfinished runs
    from scratch), and TensorBoard would otherwise show two values at each step.

    The run's folder is `<root>/<experiment name>-<id>/<folder>`, `folder` defaulting to
    `run_folder_name(run)`.
    """

    def __init__(
        self,
        root: str | Path,
        experiment: ExperimentLike,
        run: RunLike,
        *,
        folder: str | None = None,
        store: Path | None = None,
    ) -> None:
        exp_folder = experiment_folder(root, experiment)
        claim_experiment_folder(exp_folder, store, experiment.id)
        self.path = exp_folder / (folder or run_folder_name(run, varied_keys(experiment.config)))
        if self.path.exists() and not self.path.is_dir():
            raise EmbtuiError(f"{self.path}: a file where this run's TensorBoard folder goes")
        if self.path.is_dir():
            shutil.rmtree(self.path)
        self._writers: dict[str, BinaryIO] = {}
        try:
            for split, _ in _SPLITS:
                self._writers[split] = _event_file(self.path / split)
        except BaseException:
            self.close()
            raise

    def write(self, metrics: EpochMetrics, wall_time: float | None = None) -> None:
        """Record one epoch (step = its 1-based number) at `wall_time` (unix seconds; now
        when None) and flush, so a watching TensorBoard shows it at once."""
        when = time.time() if wall_time is None else wall_time
        for split, tags in _SPLITS:
            summary = scalar_summary((tag, float(getattr(metrics, field))) for tag, field in tags)
            write_event(self._writers[split], event(when, metrics.epoch, summary=summary))

    def write_summary(self, summary: Any, wall_time: float) -> None:
        """A Summary proto (the HParams plugin's) in the run's own folder, step 0."""
        writer = self._writers.get("")
        if writer is None:
            writer = self._writers[""] = _event_file(self.path)
        write_event(writer, event(wall_time, summary=summary.SerializeToString()))

    def close(self) -> None:
        """Close every file, each even when another fails (that failure is raised)."""
        with contextlib.ExitStack() as files:
            for writer in self._writers.values():
                files.callback(writer.close)

    def __enter__(self) -> RunEventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def export_tensorboard(store: Store, exp_id: int, out_dir: str | Path) -> Path:
    """Write the event files of every run of an experiment that has epochs; returns the
    experiment's folder (`<out_dir>/<name>-<id>`).

    Each run's folder is rewritten from the store, so exporting again replaces, never
    duplicates. Runs without epochs (queued, or failed before their first epoch) get no
    folder. Export to a folder that a running experiment is not writing to live: a run's
    folder is deleted before it is written.
    """
    experiment = store.experiment(exp_id)
    epochs = store.epochs(exp_id)
    check_root(out_dir, experiment.name)
    root = experiment_folder(out_dir, experiment)
    claim_experiment_folder(root, store.path, exp_id)
    varied = varied_keys(experiment.config)
    runs = {run.id: run for run in store.runs(exp_id)}
    folders = run_folders(runs.values(), varied, epochs)
    hparams = _hparams_api()
    for run_id, name in folders.items():
        run = runs[run_id]
        times = epoch_wall_times(run.started, epochs[run_id], run.finished)
        began = times[0] - float(epochs[run_id][0].seconds)
        with RunEventLog(out_dir, experiment, run, folder=name, store=store.path) as log:
            for metrics, when in zip(epochs[run_id], times, strict=True):
                log.write(metrics, when)
            if hparams is not None:
                log.write_summary(
                    hparams.hparams_pb(
                        run_hparams(run, varied), trial_id=name, start_time_secs=began
                    ),
                    began,
                )
    if hparams is not None and folders:
        _write_hparams_config(root, runs.values(), varied, hparams)
    return root


def run_folders(
    runs: Iterable[RunLike], varied: Sequence[str], epochs: Mapping[int, Sequence[Any]]
) -> dict[int, str]:
    """Each run with epochs and its folder's name under the experiment's folder (what the
    JSON export names as the run's `tensorboard` folder). A cell recorded twice gets its
    run id in the name, so both keep their curves."""
    used: set[str] = set()
    out: dict[int, str] = {}
    for run in runs:
        if not epochs.get(run.id):  # type: ignore[attr-defined]
            continue
        name = run_folder_name(run, varied)
        if name in used:
            name = f"{name}-run{run.id}"  # type: ignore[attr-defined]
        used.add(name)
        out[run.id] = name  # type: ignore[attr-defined]
    return out


def epoch_wall_times(
    started: str | None, epochs: Sequence[EpochMetrics], finished: str | None = None
) -> list[float]:
    """Each epoch's end as unix time, from the store's record: counted back from the run's
    end (`finished`) by its epochs' seconds when it has ended, so a run resumed later (its
    `started` is the resume's) still has its early epochs before its late ones; else the
    run's start plus the seconds. 0-based sums when neither is known."""
    ends = list(itertools.accumulate(float(e.seconds) for e in epochs))
    end = _timestamp(finished)
    if end is not None and ends:
        return [end - ends[-1] + t for t in ends]
    start = _timestamp(started) or 0.0
    return [start + t for t in ends]


def _timestamp(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def run_hparams(run: RunLike, varied: Sequence[str]) -> dict[str, Any]:
    """What the HParams dashboard lists for a run: its size, seed, arm and every factor the
    experiment varies (lists and None as text: the dashboard takes numbers, text and
    booleans)."""
    values: dict[str, Any] = {"size": run.size, "seed": run.seed, "embeddings": run.embedding}
    for key in varied:
        if key in run.factors:
            v = run.factors[key]
            values[key] = v if isinstance(v, (bool, int, float, str)) else level_text(key, v)
    return values


def _hparams_api() -> Any:
    """The HParams plugin's summary functions, or None without the tensorboard package."""
    try:
        from tensorboard.plugins.hparams import summary_v2
    except ImportError:
        return None
    return summary_v2


def _write_hparams_config(root: Path, runs: Iterable[Any], varied: Sequence[str], api: Any) -> None:
    """The experiment's HParams config at its folder's top: the factors and the final
    validation metrics the dashboard's table shows."""
    names = sorted({k for run in runs for k in run_hparams(run, varied)})
    metrics = [
        api.Metric("epoch_accuracy", group="validation", display_name="val_acc"),
        api.Metric("epoch_loss", group="validation", display_name="val_loss"),
        api.Metric("epoch_accuracy", group="train", display_name="acc"),
        api.Metric("epoch_loss", group="train", display_name="loss"),
    ]
    summary = api.hparams_config_pb(hparams=[api.HParam(n) for n in names], metrics=metrics)
    for old in root.glob("events.out.tfevents.*"):
        old.unlink()
    with _event_file(root) as writer:
        write_event(writer, event(time.time(), summary=summary.SerializeToString()))


_files = itertools.count()


def _event_file(folder: Path) -> BinaryIO:
    """A new event file in `folder` (created), its first record the file version, named as
    TensorFlow names them so that TensorBoard finds it."""
    folder.mkdir(parents=True, exist_ok=True)
    host = _safe(socket.gethostname())
    name = f"events.out.tfevents.{int(time.time())}.{host}.{os.getpid()}.{next(_files)}.v2"
    writer = open(folder / name, "wb")  # noqa: SIM115 (the log closes it)
    try:
        write_event(writer, event(time.time(), file_version="brain.Event:2"))
    except BaseException:
        writer.close()
        raise
    return writer


def _safe(text: str) -> str:
    """One path component: no separators or control characters."""
    return re.sub(r"[\\/\x00-\x1f\x7f]", "_", text) or "_"
