"""Where a store lives and the files beside it: its log and its runs' checkpoints.

Each is named from the store's whole file name plus a suffix, so two stores with one stem
(`a.sqlite`, `a.db`) never share one, and a store named `x.log` is not its own log.
"""

from __future__ import annotations

import os
from pathlib import Path

_SQLITE_MAGIC = b"SQLite format 3\x00"


def default_store_path() -> Path:
    """`$EMBTUI_STORE`, else `$XDG_DATA_HOME/embtui/embtui.sqlite` (~/.local/share/...)."""
    if os.environ.get("EMBTUI_STORE"):
        return Path(os.environ["EMBTUI_STORE"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "embtui" / "embtui.sqlite"


def log_path_of(store: Path) -> Path:
    """`<store>.log`: tracebacks of failed runs, TensorFlow's native log."""
    return store.with_name(store.name + ".log")


def checkpoint_folder_of(store: Path) -> Path:
    """`<store>.checkpoints/`: where the store's runs keep their checkpoints."""
    return store.with_name(store.name + ".checkpoints")


def checkpoint_path_of(store: Path, run_id: int) -> Path:
    """`<store>.checkpoints/run-<id>.npz`: the checkpoint of one run (embtui.engine.checkpoint
    writes it; deleting the experiment removes it). Run ids are never given out twice."""
    return checkpoint_folder_of(store) / f"run-{run_id}.npz"


def learned_folder_of(store: Path) -> Path:
    """`<store>.learned/`: what the store's runs kept for `embtui inspect`
    (embtui.inspect.kept names the files in it)."""
    return store.with_name(store.name + ".learned")


def learned_run_path(store: Path, run_id: int) -> Path:
    """`<store>.learned/run-<id>.npz`: what one run kept (its logits, its weights)."""
    return learned_folder_of(store) / f"run-{run_id}.npz"


def learned_shape_path(store: Path, experiment_id: int, vocab_size: int, maxlen: int) -> Path:
    """`<store>.learned/experiment-<id>-<vocab>x<maxlen>.npz`: what an experiment's runs of one
    data shape share (vocabulary, validation set, GloVe start)."""
    return learned_folder_of(store) / f"experiment-{experiment_id}-{vocab_size}x{maxlen}.npz"


def learned_files_of(store: Path, experiment_id: int, run_ids: list[int]) -> list[Path]:
    """An experiment's files in the learned folder: its runs' and its shapes'."""
    runs = [learned_run_path(store, run_id) for run_id in run_ids]
    return runs + sorted(learned_folder_of(store).glob(f"experiment-{experiment_id}-*.npz"))


def sibling_problem(store: Path) -> str | None:
    """What is in the way of the log or checkpoint folder beside a store, or None.

    Another store, or a folder, where the log goes would be appended to (or break every
    failed run's report); a file where the checkpoints go would silently disable them.
    """
    log, folder = log_path_of(store), checkpoint_folder_of(store)
    try:
        if log.exists() and (not log.is_file() or is_sqlite(log)):
            what = "another run store" if log.is_file() else "not a plain file"
            return f"{log} (where this store's log goes) is {what}"
        if folder.exists() and not folder.is_dir():
            return f"{folder} (where this store's checkpoints go) is a file, not a folder"
    except OSError as exc:
        return f"cannot check {exc.filename} ({exc.strerror})"
    return None


def is_sqlite(path: Path) -> bool:
    """Whether the file at `path` starts as an SQLite database does."""
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def writable(path: Path) -> bool:
    """Whether this user (by its effective ids, where the OS tells them) may write `path`."""
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)
