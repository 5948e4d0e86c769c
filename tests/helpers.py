"""Builders, probes and constants shared by the test modules.

Test modules import these from here: never from conftest.py (which only defines fixtures) and
never from another test module. The tiny corpus is built so that its vocabulary is known
without running embtui's own tokenizer: every review is made of plain lowercase words from a
fixed list, and every word occurs in more reviews than the validation split can hold, so
every word reaches the training split's vocabulary whatever reviews the split picks.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import importlib.util
import json
import math
import os
import pty
import random
import select
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np

from embtui.store import EpochMetrics, Store

ROOT = Path(__file__).resolve().parents[1]
REAL_CSV = ROOT.parent / "shared" / "data" / "imdb_reviews_5k.csv"
POSITIVE = ("good", "great", "wonderful", "loved")
NEGATIVE = ("bad", "awful", "boring", "hated")
NEUTRAL = ("the", "movie", "film", "plot", "actor", "story", "this", "was")
WORDS = POSITIVE + NEGATIVE + NEUTRAL


# 4-d vectors for some corpus words plus two words the corpus never uses (which must not
# count towards coverage). Values are exact in float32.
TINY_GLOVE: dict[str, tuple[float, ...]] = {
    "the": (0.5, 0.25, -1.0, 2.0),
    "movie": (-2.0, 1.0, 0.75, -0.25),
    "good": (4.0, 0.5, -0.75, 1.0),
    "great": (3.5, 1.5, -0.5, 0.75),
    "bad": (-4.0, -0.5, 0.75, -1.0),
    "awful": (-3.5, -1.5, 0.5, -0.75),
    "zebra": (1.0, 1.0, 1.0, 1.0),
    "quantum": (-1.0, 2.0, -3.0, 4.0),
}


GLOVE_DIM = 4


#: The share of the tiny vocabulary that TINY_GLOVE covers (6 of the 16 corpus words).
TINY_COVERAGE = len(set(TINY_GLOVE) & set(WORDS)) / len(WORDS)


#: Command-line flags of the tiny grid: 2 sizes x 2 arms x 2 seeds = 8 runs of 2 epochs.
TINY_GRID = {
    "sizes": "10,20",
    "embeddings": "learned,glove",
    "epochs": "2",
    "seeds": "2",
    "val_size": "20",
    "vocab_size": "200",
    "maxlen": "20",
}


#: Python source for a script run in a fresh interpreter: from here on, sys.stderr is what
#: Textual makes it while the console runs, a print capture whose fileno() is -1 (the
#: real stream stays in `real_stderr`).
UNDER_THE_CONSOLE = """
import sys


class PrintCapture:
    def write(self, text):
        return len(text)

    def flush(self):
        pass

    def fileno(self):
        return -1


real_stderr, sys.stderr = sys.stderr, PrintCapture()
"""


class LazyModule:
    """`name`, imported when a test first uses one of its attributes: what a test module's
    top line `keras = LazyModule("keras")` gives instead of `import keras`.

    Every pytest-xdist worker imports every test module to collect it, also the tests it
    will never run; TensorFlow (3.5 s to import) is then paid only by the worker that runs a
    test using it, once."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        name = self.__dict__.get("_name")
        # pytest asks what every module-level name is (`__test__`, `__bases__`) while it
        # collects: those questions are answered here, without importing.
        if name is None or (attr.startswith("__") and attr != "__version__"):
            raise AttributeError(attr)
        return getattr(importlib.import_module(name), attr)

    def __repr__(self) -> str:
        return f"LazyModule({self._name!r})"


def lazy_module_or_skip(name: str, reason: str | None = None) -> Any:
    """`pytest.importorskip(name)` for a module's top, importing `name` at first use: the
    test module is skipped when `name` is not installed (`find_spec` imports nothing)."""
    import pytest

    if importlib.util.find_spec(name) is None:
        pytest.skip(reason or f"could not import {name!r}", allow_module_level=True)
    return LazyModule(name)


def tiny_reviews(n: int, offset: int = 0) -> list[tuple[list[str], int]]:
    """`n` reviews (words, label); labels alternate, words follow a fixed rotation.

    Review i holds 4 of the 8 neutral words (each neutral word in half of the reviews) and 3
    of the 4 sentiment words of its label (each in three quarters of that label's reviews),
    in a seeded random order: enough signal to learn a little, and every word frequent.
    """
    rng = np.random.default_rng(offset)
    out = []
    for i in range(offset, offset + n):
        label = i % 2
        sentiment = POSITIVE if label else NEGATIVE
        j = i // 2
        words = [NEUTRAL[(i + k) % len(NEUTRAL)] for k in range(4)]
        words += [sentiment[(j + k) % len(sentiment)] for k in range(3)]
        rng.shuffle(words)
        out.append((words, label))
    return out


def write_csv(
    path: Path, n: int = 80, header: Sequence[str] = ("id", "text", "label"), offset: int = 0
) -> Path:
    """A reviews CSV of `n` tiny reviews; labels as "positive"/"negative" and 0/1 alternately."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for number, (words, label) in enumerate(tiny_reviews(n, offset)):
            shown: object = label if number % 4 < 2 else ("positive" if label else "negative")
            values = {"id": number, "text": " ".join(words), "label": shown}
            writer.writerow([values.get(column, "x") for column in header])
    return path


def write_glove(path: Path, vectors: dict[str, Sequence[float]] | None = None) -> Path:
    """A GloVe text file: `word v1 ... vd` per line."""
    vectors = TINY_GLOVE if vectors is None else vectors
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(glove_lines(vectors), encoding="utf-8")
    return path


def glove_lines(vectors: dict[str, Sequence[float]]) -> str:
    """GloVe's text format: `word v1 ... vd` per line, each value exact (repr)."""
    return "".join(
        f"{word} {' '.join(repr(float(v)) for v in vec)}\n" for word, vec in vectors.items()
    )


def ragged(reviews: Sequence[Sequence[int]]) -> np.ndarray:
    """An object array of int lists, as keras' imdb.npz stores its reviews."""
    array = np.empty(len(reviews), dtype=object)
    for i, review in enumerate(reviews):
        array[i] = list(review)
    return array


def write_npz(folder: Path, n_train: int = 60, n_test: int = 30) -> Path:
    """A Keras-format imdb.npz (ragged lists of raw frequency ranks) + imdb_word_index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    ranks = {word: rank for rank, word in enumerate(WORDS, 1)}
    train = tiny_reviews(n_train)
    test = tiny_reviews(n_test, offset=n_train)
    path = folder / "imdb.npz"
    np.savez(
        path,
        x_train=ragged([[ranks[w] for w in words] for words, _ in train]),
        y_train=np.array([label for _, label in train], dtype=np.int64),
        x_test=ragged([[ranks[w] for w in words] for words, _ in test]),
        y_test=np.array([label for _, label in test], dtype=np.int64),
    )
    (folder / "imdb_word_index.json").write_text(json.dumps(ranks), encoding="utf-8")
    return path


def write_acl(root: Path, n_train: int = 60, n_test: int = 30) -> Path:
    """An aclImdb folder: {train,test}/{pos,neg}/N_R.txt, one review per file."""
    for split, reviews in (
        ("train", tiny_reviews(n_train)),
        ("test", tiny_reviews(n_test, offset=n_train)),
    ):
        for number, (words, label) in enumerate(reviews):
            folder = root / split / ("pos" if label else "neg")
            folder.mkdir(parents=True, exist_ok=True)
            text = " ".join(words).capitalize() + ".<br /><br />"
            (folder / f"{number}_{8 if label else 2}.txt").write_text(text, encoding="utf-8")
    return root


def flags(**values: Any) -> list[str]:
    """`--key value` pairs from keyword arguments (underscores become dashes)."""
    out = []
    for key, value in values.items():
        out += [f"--{key.replace('_', '-')}", str(value)]
    return out


class CliResult(NamedTuple):
    rc: int
    stdout: str
    stderr: str
    seconds: float = 0.0  # wall time of the process
    max_rss_mb: float = 0.0  # its peak resident memory (Linux's VmHWM), in MB


def cli_env(home: Path) -> dict[str, str]:
    """An environment that keeps every file embtui or Keras writes under `home`."""
    env = dict(os.environ)
    env.update(
        EMBTUI_CACHE=str(home / "cache"),
        EMBTUI_STORE=str(home / "default-store" / "embtui.sqlite"),
        XDG_DATA_HOME=str(home / "xdg-data"),
        XDG_CACHE_HOME=str(home / "xdg-cache"),
        KERAS_HOME=str(home / "keras"),
        COLUMNS="200",
        PYTHONIOENCODING="utf-8",
    )
    env.pop("PYTHONWARNINGS", None)
    return env


def run_cli_in(
    env: dict[str, str],
    args: Sequence[str],
    cwd: Path | None = None,
    timeout: float = 300,
    tty: bool = False,
) -> CliResult:
    """`python -m embtui ARGS` in a fresh process: real exit code, real stderr.

    With `tty`, stdout and stderr are pseudo-terminals, as when a person runs the command
    (the live progress display on stderr instead of plain log lines); each comes back
    apart, with its ANSI codes.
    """
    command = [sys.executable, "-m", "embtui", *map(str, args)]
    if not tty:
        return run_measured(command, env, cwd, timeout)
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    with subprocess.Popen(
        command,
        stdout=out_slave,
        stderr=err_slave,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    ) as popen:
        os.close(out_slave)
        os.close(err_slave)
        chunks: dict[int, list[bytes]] = {out_master: [], err_master: []}
        open_fds = [out_master, err_master]
        while open_fds:
            ready, _, _ = select.select(open_fds, [], [], timeout)
            if not ready:
                break
            for fd in ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    chunk = b""
                if chunk:
                    chunks[fd].append(chunk)
                else:
                    open_fds.remove(fd)
                    os.close(fd)
        for fd in open_fds:
            os.close(fd)
        rc = popen.wait(timeout=timeout)
    out, err = (b"".join(chunks[fd]).decode("utf-8", "replace") for fd in (out_master, err_master))
    return CliResult(rc, out, err)


def run_measured(
    command: list[str], env: dict[str, str], cwd: Path | None, timeout: float
) -> CliResult:
    """Run a command to its end, with its wall time and peak memory.

    The peak is the largest VmHWM (the resident high-water mark of the process's own
    address space) read from /proc while it runs: rusage cannot tell, since a child forked
    from this large pytest process inherits its maxrss.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=cwd,
    )
    peak = [0]

    def watch() -> None:
        while proc.returncode is None:
            peak[0] = max(peak[0], _high_water_kb(proc.pid))
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    watcher.join()
    return CliResult(
        proc.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        time.perf_counter() - start,
        peak[0] / 1024,
    )


def _high_water_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


@dataclass(frozen=True)
class TinyInputs:
    csv: Path
    glove: Path
    npz: Path
    acl: Path


def store_counts(path: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {
            table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("experiments", "runs", "epochs")
        }
    finally:
        db.close()


def store_snapshot(path: Path) -> tuple[str, dict[str, int], str]:
    """The file's bytes (hashed), its row counts and a digest of a full SQL dump."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        dump = hashlib.sha256("\n".join(db.iterdump()).encode()).hexdigest()
    finally:
        db.close()
    return digest, store_counts(path), dump


@dataclass(frozen=True)
class CliExperiment:
    """The tiny grid run twice through the CLI into one store (experiments 1 and 2)."""

    store: Path
    runs: tuple[CliResult, CliResult]
    args: tuple[str, ...]


@dataclass(frozen=True)
class CliExports:
    """`embtui export` of the CLI experiment: JSON of both experiments, md/csv of the latest."""

    json1: dict
    json2: dict
    md: str
    csv: str


def copy_store(src: Path, dst: Path) -> Path:
    """A consistent copy of a (WAL-mode) store, made with SQLite's backup API."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return dst


@dataclass(frozen=True)
class InProcessExperiment:
    """A tiny 3-seed grid trained with the runner API, with every event the sink received."""

    store: Path
    experiment_id: int
    status: str
    events: tuple[Any, ...]
    prepared: Any


#: The grid that the fault, race and Ray tests interrupt and resume (as `embtui run` flags:
#: `flags(**SMALL_GRID)`): 2 sizes x 1 arm x 2 seeds = 4 runs of 8 epochs on the 600 reviews
#: of `write_reviews`, a checkpoint after every epoch so that a resume continues mid-run.
#: One grid for all of them, so that its uninterrupted histories (the `reference` fixture)
#: are trained once per test process; a module may rename it (the name changes no result).
SMALL_GRID = {
    "name": "small",
    "sizes": "150,300",
    "embeddings": "learned",
    "epochs": "8",
    "seeds": "2",
    "val_size": "200",
    "maxlen": "80",
    "vocab_size": "400",
    "embedding_dim": "16",
    "batch_size": "16",
    "checkpoint_every": "0",
}
SMALL_RUNS = 4
SMALL_EPOCHS = 8


def write_reviews(path: Path, n: int = 600) -> Path:
    """Reviews over a small vocabulary in which some words lean positive, some negative."""
    rng = random.Random(7)
    words = [f"word{i}" for i in range(300)]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["review", "sentiment"])
        for i in range(n):
            label = i % 2
            lean = words[:150] if label else words[150:]
            text = " ".join(rng.choice(lean if rng.random() < 0.6 else words) for _ in range(90))
            out.writerow([text, "positive" if label else "negative"])
    return path


T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    *,
    process: subprocess.Popen | None = None,
    interval: float = 0.01,
) -> T:
    """Poll `predicate()` until it returns a true value, and return that value.

    The one way a test waits for what another process or thread does (epochs in the store, a
    worker's exit, a console's first paint): on a shared two-core machine no fixed sleep is
    both long enough and short enough, so a test waits for the condition it needs. After
    `timeout` seconds it fails saying `what` it waited for; with `process`, it fails as soon
    as that process has ended without the condition holding, with the end of its stderr.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(
                f"waiting for {what}: the process ended first, exit {process.returncode}"
                + _stderr_tail(process)
            )
        if time.monotonic() >= deadline:
            raise AssertionError(f"waiting for {what}: not within {timeout:g} s (last: {value!r})")
        time.sleep(interval)


def _stderr_tail(process: subprocess.Popen) -> str:
    """The last 3,000 characters of an ended process's piped stderr ("" when not piped)."""
    if process.stderr is None or process.stderr.closed:
        return ""
    err = process.stderr.read()
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    return f"; its stderr ends:\n{err[-3000:]}"


def embtui(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "embtui", *args], capture_output=True, text=True, **kw
    )


def histories(store_path: Path) -> dict[tuple[int, int], list[float]]:
    with Store(store_path, create=False) as store:
        exp_id = store.resolve("latest")
        epochs = store.epochs(exp_id)
        return {
            (r.size, r.seed): [e.val_acc for e in epochs.get(r.id, [])] for r in store.runs(exp_id)
        }


def epoch_count(store_path: Path) -> int:
    """Epochs committed so far, read the way a second viewer would (its own connection)."""
    try:
        db = sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return db.execute("SELECT count(*) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not created yet
        return 0
    finally:
        db.close()


# A user's own tiny Keras model and data, as EmbtuiCallback's tests fit them.
VOCAB, LENGTH, N_TRAIN, N_VAL, BATCH = 40, 8, 48, 16, 16
STEPS = math.ceil(N_TRAIN / BATCH)


def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, (N_TRAIN + N_VAL, LENGTH)).astype("int32")
    y = (x[:, 0] > VOCAB // 2).astype("float32")
    return (x[:N_TRAIN], y[:N_TRAIN]), (x[N_TRAIN:], y[N_TRAIN:])


def tiny_model(name: str = "tiny", metrics=("accuracy",), dim: int = 4, optimizer="rmsprop"):
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((LENGTH,)),
            keras.layers.Embedding(VOCAB, dim),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        name=name,
    )
    model.compile(optimizer, "binary_crossentropy", metrics=list(metrics))
    return model


def fit(model, callbacks, *, epochs: int = 3, validate: bool = True, **kw):
    (x, y), val = tiny_data()
    if validate:
        kw["validation_data"] = val
    return model.fit(
        x, y, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=callbacks, **kw
    ).history


def history(store: Store, run_id: int) -> list[tuple[float, float, float, float]]:
    return [(e.loss, e.acc, e.val_loss, e.val_acc) for e in store.run_epochs(run_id)]


def histories_by_cell(store: Store, exp_id: int) -> dict[tuple[int, str, int], list]:
    return {(r.size, r.embedding, r.seed): history(store, r.id) for r in store.runs(exp_id)}


def assert_same_as_uninterrupted(histories: dict, three) -> None:
    """Every cell's history equals the same cell's in the uninterrupted 3-seed grid."""
    with Store(three.store, create=False) as store:
        theirs = histories_by_cell(store, three.experiment_id)
    for cell, hist in histories.items():
        assert hist == theirs[cell], cell


def record_values(path: Path, config: Any, final: Any) -> int:
    """Record `config`'s grid (an ExperimentConfig) without training: the run (size, factor
    values, seed) trains two epochs and ends at val_acc `final(size, factors, seed)`.

    Hand-made values give exact verdicts to compare across the views of a report, with as
    many arms (factors) as a test wants, in milliseconds.
    """
    from embtui.store import EpochMetrics

    with Store(path) as store:
        exp = store.create_experiment(
            config.name, config.to_dict(), config.run_cells(), meta={"chance": 0.5}
        )
        for run in store.runs(exp):
            value = float(final(run.size, dict(run.factors), run.seed))
            store.start_run(run.id, device="CPU", params=101, coverage=None)
            store.add_epoch(EpochMetrics(run.id, 1, 0.7, 0.55, 0.69, value - 0.02, 0.1))
            store.add_epoch(EpochMetrics(run.id, 2, 0.6, 0.65, 0.68, value, 0.1))
            store.finish_run(run.id, "done")
        store.set_experiment_status(exp, "done")
    return exp


def record_experiment(
    store: Store,
    name: str,
    config: dict[str, Any],
    runs: Sequence[tuple[int, dict[str, Any] | str, int, float | None]],
    *,
    meta: dict[str, Any] | None = None,
    head: str = "flatten",
    error: str = "ValueError: boom",
) -> int:
    """An experiment recorded without training: each run is (size, factor values or an
    embedding's name, seed, final val_acc); it gets two epochs ending at that value, or fails
    with `error` before its first epoch where the value is None. `config` is stored as given
    (a callback's, an older embtui's, or `ExperimentConfig.to_dict()`)."""
    cells = [(size, arm, seed) for size, arm, seed, _ in runs]
    exp = store.create_experiment(name, config, cells, head=head, meta=meta or {"chance": 0.5})
    for run, (*_, value) in zip(store.runs(exp), runs, strict=True):
        store.start_run(run.id, device="CPU", params=101, coverage=None)
        if value is None:
            store.finish_run(run.id, "failed", error)
            continue
        store.add_epoch(EpochMetrics(run.id, 1, 0.7, 0.5, 0.69, value + 0.01, 0.1))
        store.add_epoch(EpochMetrics(run.id, 2, 0.6, 0.6, 0.68, value, 0.1))
        store.finish_run(run.id, "done")
    store.set_experiment_status(exp, "done")
    return exp


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command's name (state, ppid, pgrp, session,
    ...), or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def pids() -> list[int]:
    """Every process id on the machine now (some may be gone by the time they are read)."""
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def live_processes() -> dict[int, list[str]]:
    """Every process that still runs (not a zombie), with its stat fields."""
    out = {}
    for pid in pids():
        fields = stat_fields(pid)
        if fields is not None and fields[0] not in ("Z", "X"):
            out[pid] = fields
    return out


def command_line(pid: int) -> bytes | None:
    """/proc/PID/cmdline (arguments separated by NUL bytes; a Ray worker's is its title), or
    None once the process is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read()
    except OSError:
        return None


def command_lines() -> dict[int, bytes]:
    """The command line of every process (zombies' are empty)."""
    lines = {pid: command_line(pid) for pid in pids()}
    return {pid: line for pid, line in lines.items() if line is not None}


def process_state(pid: int) -> str:
    """A process's state letter from /proc (R, S, Z, ...)."""
    fields = stat_fields(pid)
    if fields is None:
        raise ProcessLookupError(pid)
    return fields[0]


@contextlib.contextmanager
def zombie() -> Iterator[int]:
    """The pid of a child that has exited but is not reaped yet: a zombie, as a killed
    process stays in containers whose PID 1 never reaps. Reaped on leaving."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        wait_until(
            lambda: process_state(child.pid) == "Z", 10, "the child to exit unreaped (a zombie)"
        )
        yield child.pid
    finally:
        child.wait()
