"""TensorFlow's process-wide set-up for embtui's training, and where it trains.

Settings that hold for a whole process (Grappler off, one thread per op) and the questions
about the TensorFlow runtime that the store records (the device, the threads per op). They
live apart from `embtui.engine.trainer` because every executor and the callback need them
while the fused engine needs none of them: a grid the fused kernel trains never imports
TensorFlow (see `embtui.engine.initial`). TensorFlow is imported inside the functions that
ask it something, never by importing this module.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import Any

from embtui.errors import ConfigError, printable

#: TensorFlow's own thread-count variables. It aborts the whole process, before embtui can
#: say anything, when one is negative, and ignores one that is not a number.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def chosen_intra_op_threads() -> str:
    """TF_NUM_INTRAOP_THREADS as the user set it ("" when unset or blank: embtui sets 1)."""
    return os.environ.get(THREAD_VARIABLES[0], "").strip()


def check_thread_settings(env: Mapping[str, str] | None = None) -> None:
    """Refuse, in one line, a TensorFlow thread count that is not a whole number >= 0
    (0: TensorFlow's default, one thread per core). Checked before anything is recorded."""
    env = os.environ if env is None else env
    for name in THREAD_VARIABLES:
        value = env.get(name, "").strip()
        if value and not value.isdigit():
            raise ConfigError(
                f"{name}={printable(env[name])}: a thread count must be a whole number >= 0 "
                "(0: TensorFlow's default); unset it to let embtui choose"
            )


def configure_tensorflow() -> Any:
    """TensorFlow, set up to run embtui's small graphs as written, without Grappler's
    rewrites, and each op on one thread. Both are process-wide settings, applied by every
    executor before its first TensorFlow op (`training_device`) and by every `Trainer`;
    embtui's processes train only through `Trainer`. (A user's own `fit` recorded with
    `EmbtuiCallback` keeps its process's settings.)

    * Grappler: for these models its whole-graph optimisation takes longer than it saves.
      With it off, the first call of each compiled function is about twice as fast and a
      training step or validation pass 20-40% faster on a 2-core CPU (alternating A/B
      measurements).
    * One intra-op thread: a step is some sixty ops on a batch of 32, each far too small to
      gain from being split across cores; handing the pieces to other threads costs more
      than it saves. On the 2-core machine a learned-arm epoch at 4,000 reviews is 28%
      faster with one thread, the real-size grid 20% faster (`bench/realsize.py`). It also
      makes the numbers independent of the machine's core count: an op that splits a sum
      across threads (conv1d's, for one) adds in an order that depends on how many there
      are. Several runs at once (`workers`, Ray) are how a grid uses more cores. Setting
      TF_NUM_INTRAOP_THREADS yourself overrides this (TensorFlow reads it; 0 means its
      own default, one thread per core).

    The thread count can only be set before TensorFlow's runtime starts; in a process that
    already ran TensorFlow ops (a notebook, a test session) it stays what it was.
    """
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    if not chosen_intra_op_threads():
        with contextlib.suppress(RuntimeError):  # the runtime has started: too late
            tf.config.threading.set_intra_op_parallelism_threads(1)
    return tf


def threads_per_op(*, here: bool) -> str:
    """The threads TensorFlow gives each op of a run, for the experiment's record: conv1d's
    last bits depend on it. `here`: this process trains, and its TensorFlow runtime says
    what it was set to; otherwise (a parent whose workers train) what they will set."""
    chosen = chosen_intra_op_threads()
    cores = os.cpu_count() or 1
    if chosen:
        threads = chosen if chosen != "0" else f"{cores}, one per core"
        return f"{threads} (TF_NUM_INTRAOP_THREADS={chosen})"
    if here:
        import tensorflow as tf

        set_to = tf.config.threading.get_intra_op_parallelism_threads()
        if set_to != 1:
            return f"{set_to or cores} (TensorFlow had started before embtui could set 1)"
    return "1"


def training_device() -> str:
    """Set up TensorFlow for training in this process (`configure_tensorflow`) and say
    where it trains (`describe_device`): what every executor does before its first run."""
    configure_tensorflow()
    return describe_device()


def describe_device() -> str:
    """The device TensorFlow trains on: the first GPU when it sees one, else the CPU.
    Changes nothing: `EmbtuiCallback` asks it inside a user's own `fit`."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    try:
        name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "")
    except Exception:  # details are cosmetic; never fail a run for them
        name = ""
    return f"GPU:0 {name}".strip()
