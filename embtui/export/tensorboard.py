"""TensorBoard event files: each run's per-epoch loss and accuracy, for `tensorboard --logdir`.

The layout is the one `keras.callbacks.TensorBoard` writes, so TensorBoard overlays a run's
training and validation curves as it does for any Keras model:

    <root>/<experiment name>-<id>/size10-learned-seed0/train/       epoch_loss, epoch_accuracy
    <root>/<experiment name>-<id>/size10-learned-seed0/validation/  epoch_loss, epoch_accuracy

The step is the epoch, counted from 1 as everywhere in embtui (Keras' callback counts from 0).
Training writes these files live (`RunEventLog`, flushed after every epoch); `embtui export
--format tensorboard` writes the same files afterwards from the store (`export_tensorboard`).

Scalars are written with `tf.summary.write` and the scalar plugin's metadata, which is what
`tf.summary.scalar` writes but without needing the `tensorboard` package installed. TensorFlow
is imported only when a log is opened, so importing this module stays cheap.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Protocol

from embtui.store import EpochMetrics, Store

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


class RunLike(Protocol):
    """What a log needs of a run (a store's `RunRow` has it)."""

    @property
    def size(self) -> int: ...
    @property
    def embedding(self) -> str: ...
    @property
    def seed(self) -> int: ...


def experiment_folder(root: str | Path, experiment: ExperimentLike) -> Path:
    """`<root>/<name>-<id>`: the id keeps two experiments of the same name apart. A leading
    `~` in root is the home folder, as in the other path keys of an experiment file."""
    return Path(root).expanduser() / f"{_safe(experiment.name)}-{experiment.id}"


def run_folder_name(run: RunLike) -> str:
    """`size10-learned-seed0`: one folder per cell of the grid."""
    return f"size{run.size}-{_safe(run.embedding)}-seed{run.seed}"


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
    ) -> None:
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        self._tf = tf
        self._metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
            data_class=summary_pb2.DATA_CLASS_SCALAR,
        )
        self.path = experiment_folder(root, experiment) / (folder or run_folder_name(run))
        if self.path.exists():
            shutil.rmtree(self.path)
        self._writers: dict[str, Any] = {
            split: tf.summary.create_file_writer(str(self.path / split)) for split, _ in _SPLITS
        }

    def write(self, metrics: EpochMetrics) -> None:
        """Record one epoch (step = its 1-based number) and flush, so a watching
        TensorBoard shows it at once."""
        for split, tags in _SPLITS:
            writer = self._writers[split]
            with writer.as_default():
                for tag, field in tags:
                    value = self._tf.constant(getattr(metrics, field), self._tf.float32)
                    self._tf.summary.write(tag, value, step=metrics.epoch, metadata=self._metadata)
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()

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
    root = experiment_folder(out_dir, experiment)
    root.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for run in store.runs(exp_id):
        if not epochs.get(run.id):
            continue
        name = run_folder_name(run)
        if name in used:  # a cell recorded twice (Store.add_run): keep both apart
            name = f"{name}-run{run.id}"
        used.add(name)
        with RunEventLog(out_dir, experiment, run, folder=name) as log:
            for metrics in epochs[run.id]:
                log.write(metrics)
    return root


def _safe(text: str) -> str:
    """One path component: no separators or control characters."""
    return re.sub(r"[\\/\x00-\x1f\x7f]", "_", text) or "_"
