"""Record any Keras `fit` in the embtui store, so the console can watch training it did not start.

Add an `EmbtuiCallback` to your own `model.fit(...)`: the fit becomes one run of an embtui
experiment and every epoch one row of that run, written as the epoch ends. The console (which
polls the store), `embtui list` and `embtui export` then show it like a run of embtui's grid::

    import keras, numpy as np
    from embtui.callbacks import EmbtuiCallback

    x, y = np.random.randint(1, 500, (200, 30)), np.random.randint(0, 2, 200)
    model = keras.Sequential([keras.Input((30,)), keras.layers.Embedding(500, 16),
                              keras.layers.GlobalAveragePooling1D(),
                              keras.layers.Dense(1, activation="sigmoid")], name="avgpool")
    model.compile("rmsprop", "binary_crossentropy", metrics=["accuracy"])
    recorder = EmbtuiCallback(experiment="my-models", size=160)  # 160 training examples
    model.fit(x, y, epochs=5, validation_split=0.2, callbacks=[recorder])
    print("embtui export", recorder.experiment_id)

What a fit must log. The store keeps loss, accuracy, val_loss and val_accuracy for every
epoch, so the model needs an accuracy metric (`metrics=["accuracy"]`; `acc`,
`binary_accuracy`, `categorical_accuracy` and `sparse_categorical_accuracy` count too) and
validation after every epoch (`validation_data=` or `validation_split=`, `validation_freq=1`).
Keras shows callbacks its logs only when an epoch ends, so a fit that lacks them stops after
its first epoch with `MissingMetricError`, naming what to add; the run stays in the store as
`failed` with the same message, so a console watching it says why.

Runs and experiments. One callback records every fit it is given into one experiment: created
by the first fit when `experiment` is a name, or an existing one when it is an id (an
experiment of embtui's own grid included, e.g. to set a custom model beside it). Each run is
labelled like a grid cell: `arm` (default: the model's name), `size` and `seed`. `size` is the
number of training examples; pass it, since Keras does not tell callbacks its batch size:
without it the run records Keras' steps (batches) per epoch, which keeps runs of one batch
size in the right order but is not a number of examples. The attributes `arm`, `size`, `seed`
and `head` are read at the start of each fit, so they may be changed between fits.

Endings. A fit that ends normally (EarlyStopping included) leaves its run `done`, and the
experiment `done` once every run in it is. A loss or metric that becomes NaN or infinite
ends the run as `failed` ("loss became NaN at epoch 3") and the rest of that fit is not
recorded (the store holds finite numbers only; `keras.callbacks.TerminateOnNaN` stops the
training too). Keras tells callbacks nothing when `fit` raises: the run then stays `running`
until the process ends (the console's recovery marks it `interrupted`) or the same callback
starts its next fit (which marks it `interrupted` first). Used as a context manager, the
callback records such an exception itself: `with EmbtuiCallback(...) as recorder:
model.fit(...)` marks the run `failed` with the error, or `interrupted` on Ctrl+C.

Only epoch-level hooks are used: a batch hook would cost a Python call on every batch (and on
the JAX backend turn off Keras' asynchronous dispatch), slowing down every fit it watches.
"""

from __future__ import annotations

import os
import platform
import time
from types import TracebackType
from typing import Any

import keras

from embtui import __version__
from embtui.config import CALLBACK_SOURCE, check_name, check_text
from embtui.errors import EmbtuiError, one_line
from embtui.store import (
    EpochMetrics,
    OwnedElsewhere,
    RunStatus,
    Store,
    experiment_status,
    new_owner_token,
)
from embtui.sysmetrics import Sampler, gpu_memory_peak, gpu_memory_reset, visible_gpu

#: `config["source"]` of experiments this callback creates: they hold runs embtui cannot
#: retrain, so the resume paths refuse them.
SOURCE = CALLBACK_SOURCE

#: Keras' names for the accuracy the store keeps, in order of preference.
ACCURACY_KEYS = (
    "accuracy",
    "acc",
    "binary_accuracy",
    "sparse_categorical_accuracy",
    "categorical_accuracy",
)


class MissingMetricError(EmbtuiError, ValueError):
    """A fit's epoch logs lack what every stored epoch needs: accuracy or validation."""


class EmbtuiCallback(keras.callbacks.Callback):
    """Stream the epochs of `model.fit` into the embtui run store (see the module docstring).

    `store`: a path, an open `Store` (used as is, never closed here), or None for the default
    store (`$EMBTUI_STORE`, else `~/.local/share/embtui/embtui.sqlite`). `experiment`: the
    name of a new experiment, created by the first fit, or the id of an existing one.
    After the first fit `experiment_id` holds the experiment's id and `run_id` the latest run's.
    """

    def __init__(
        self,
        store: str | os.PathLike[str] | Store | None = None,
        experiment: str | int = "keras",
        *,
        arm: str | None = None,
        size: int | None = None,
        seed: int = 0,
        head: str = "custom",
    ) -> None:
        super().__init__()
        if isinstance(experiment, bool) or not isinstance(experiment, str | int):
            raise TypeError(f"experiment must be a name or an experiment id, not {experiment!r}")
        self._store_arg = store
        self._store: Store | None = None
        self._owner = new_owner_token()
        self._sampler: Sampler | None = None
        self._device = "CPU"
        self.experiment = experiment
        # Arm and head name the run in every list, table and export: no control or bidi
        # characters: refused here, before any fit starts.
        self.arm = None if arm is None else check_text("arm", str(arm))
        self.size = size
        self.seed = seed
        self.head = check_text("head", str(head))
        self.experiment_id: int | None = experiment if isinstance(experiment, int) else None
        self.run_id: int | None = None
        self._recording = False  # a run of this callback is `running` in the store
        self._validated = False  # this fit has logged validation at least once
        self._epoch_start: float | None = None

    # -- Keras hooks ---------------------------------------------------------------------

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        try:
            self._begin_run(self._open())
        except BaseException:
            self.close()
            raise

    def _begin_run(self, store: Store) -> None:
        """Record the run this fit starts (and, on the first fit, its experiment)."""
        if self._recording:  # the previous fit raised, so Keras never called on_train_end
            self._end_run("interrupted", "its fit stopped before the end (an exception)")
        params = self.params or {}
        model = self.model
        arm = self.arm or check_text("arm (the model's name)", model.name)
        size = self.size if self.size is not None else int(params.get("steps") or 0)
        device = _device()
        if self.experiment_id is None:
            name = check_name(str(self.experiment))
            config = {
                "source": SOURCE,
                "name": name,
                "embeddings": [arm],
                "sizes": [size],
                "seeds": [self.seed],
                "epochs": int(params.get("epochs") or 0),
                "head": self.head,
            }
            self.experiment_id = store.create_experiment(
                name, config, [], head=self.head, meta=_meta(model, device)
            )
        exp_id = self.experiment_id
        _claim(store, exp_id)
        self.run_id = run_id = store.add_run(
            exp_id, size=size, embedding=arm, head=self.head, seed=self.seed
        )
        store.start_run(run_id, device=device, params=_param_count(model), coverage=None)
        # The box's samples go into the experiment while this fit trains, and the run's
        # cost (wall time, peak memory, GPU use) is recorded when it ends.
        gpu_memory_reset(device)
        self._device = device
        self._sampler = Sampler(store, exp_id).start()
        self._sampler.start_run(run_id, visible_gpu() if device.startswith("GPU") else None)
        self._recording = True
        self._validated = False

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._recording:
            return
        logs = logs or {}
        number = epoch + 1  # Keras counts from 0 (and from initial_epoch), the store from 1
        problem = _missing(number, logs, self._validated)
        if problem is not None:
            self._end_run("failed", problem)
            self.close()
            raise MissingMetricError(problem)
        self._validated = True
        acc = next(k for k in ACCURACY_KEYS if k in logs)
        values = {
            "loss": float(logs["loss"]),
            "acc": float(logs[acc]),
            "val_loss": float(logs["val_loss"]),
            "val_acc": float(logs[f"val_{acc}"]),
        }
        seconds = time.perf_counter() - self._epoch_start if self._epoch_start else 0.0
        exp_id, run_id = self._recorded()
        metrics = EpochMetrics(run_id, number, seconds=seconds, **values)
        if problem := metrics.divergence():
            self._end_run("failed", problem)
            return
        store = self._open()
        store.add_epoch(metrics)
        store.beat(exp_id)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self._recording:
            self._end_run("done", None)
        self.close()

    # -- outside Keras -------------------------------------------------------------------

    def close(self) -> None:
        """Close the store connection this callback opened (a `Store` passed in stays open).

        The next fit opens it again; nothing needs closing after a fit that ended normally.
        """
        if self._store is not None and self._store is not self._store_arg:
            self._store.close()
        self._store = None

    def __enter__(self) -> EmbtuiCallback:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Record how a fit that raised ended: Keras gives callbacks no hook for that."""
        if self._recording:
            if exc is None or isinstance(exc, KeyboardInterrupt):
                self._end_run("interrupted", "stopped by Ctrl+C" if exc else "fit did not finish")
            else:
                self._end_run("failed", one_line(exc))
        self.close()

    # -- helpers -------------------------------------------------------------------------

    def _open(self) -> Store:
        if self._store is None:
            arg = self._store_arg
            # One owner token for every fit of this callback: a fit that raised leaves
            # its experiment `running`, and the next fit must still count as its owner.
            self._store = arg if isinstance(arg, Store) else Store(arg, owner=self._owner)
        return self._store

    def _end_run(self, status: RunStatus, error: str | None) -> None:
        """Finish the current run and bring the experiment's status up to date."""
        store = self._open()
        exp_id, run_id = self._recorded()
        if self._sampler is not None:
            cost = self._sampler.finish_run(run_id, gpu_memory_peak(self._device))
            self._sampler.stop()
            self._sampler = None
            if cost is not None:
                store.set_run_cost(run_id, cost)
        store.finish_run(run_id, status, error)
        self._recording = False
        status = experiment_status(r.status for r in store.runs(exp_id))
        store.set_experiment_status(exp_id, status)

    def _recorded(self) -> tuple[int, int]:
        """The experiment and run this callback is recording into (after a fit began)."""
        if self.experiment_id is None or self.run_id is None:
            raise RuntimeError("EmbtuiCallback: no fit has started recording yet")
        return self.experiment_id, self.run_id


def _missing(epoch: int, logs: dict[str, Any], validated_before: bool) -> str | None:
    """What this epoch's logs lack for the store, as one line saying what to add; or None."""
    acc = next((k for k in ACCURACY_KEYS if k in logs), None)
    wants = []
    if "loss" not in logs:
        wants.append("a model whose train step reports 'loss'")
    if acc is None:
        wants.append('compile the model with metrics=["accuracy"]')
    if "val_loss" not in logs or (acc is not None and f"val_{acc}" not in logs):
        wants.append(
            "validation after every epoch (validation_freq=1)"
            if validated_before
            else "pass validation_data= or validation_split= to fit"
        )
    if not wants:
        return None
    got = ", ".join(sorted(logs)) or "nothing"
    return (
        "EmbtuiCallback records loss, accuracy, val_loss and val_accuracy every epoch, but "
        f"epoch {epoch} logged {got}: " + "; ".join(wants)
    )


def _claim(store: Store, experiment_id: int) -> None:
    """Take an existing experiment for this fit, as `embtui run --resume` would: refused
    while another live process trains it."""
    try:
        store.claim(experiment_id)
    except OwnedElsewhere as exc:
        raise OwnedElsewhere(
            f"{exc}; or record into another experiment (EmbtuiCallback(experiment='a name'))"
        ) from None


def _device() -> str:
    """Where Keras trains, as embtui's own runs describe it."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from embtui.engine.tfsetup import describe_device

        return describe_device()
    return backend


def _param_count(model: Any) -> int | None:
    try:
        return int(model.count_params())
    except ValueError:  # a model Keras has not built
        return None


def _meta(model: Any, device: str) -> dict[str, Any]:
    from embtui.versions import framework_versions

    meta: dict[str, Any] = {
        "source": SOURCE,
        "model": model.name,
        "params": _param_count(model),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "device": device,
        "python": platform.python_version(),
        "embtui": __version__,
    }
    if "tensorflow" in (versions := framework_versions()):
        meta["tensorflow"] = versions["tensorflow"]
    return meta
