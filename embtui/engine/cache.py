"""The on-disk cache for work a second run of the same experiment need not repeat.

Tokenizing a folder of 50,000 reviews or parsing a GloVe file takes seconds to minutes;
their results depend only on the source file (path, size, modification time) and a few
settings, so they are kept as .npz files (never pickles) under `$EMBTUI_CACHE`, else
`$XDG_CACHE_HOME/embtui`, else `~/.cache/embtui`. A missing or unreadable entry is simply
rebuilt; an entry that cannot be written is skipped: the cache only ever saves time.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from embtui.errors import EmbtuiError
from embtui.files import write_atomically


def default_cache_dir() -> Path:
    """$EMBTUI_CACHE, else $XDG_CACHE_HOME/embtui, else ~/.cache/embtui."""
    if os.environ.get("EMBTUI_CACHE"):
        return Path(os.path.expanduser(os.environ["EMBTUI_CACHE"]))
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(os.path.expanduser(xdg)) if xdg else Path.home() / ".cache"
    return base / "embtui"


def file_identity(path: Path) -> list[Any]:
    """What changes when a file is replaced or edited: its absolute path, size and mtime."""
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def entry_path(kind: str, cache_dir: str | None, *parts: Any) -> Path:
    """The cache file for `kind` whose key is made of `parts` (JSON-serialisable)."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(json.dumps(part, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    folder = Path(os.path.expanduser(cache_dir)) if cache_dir else default_cache_dir()
    return folder / f"{kind}-{digest.hexdigest()}.npz"


def read(path: Path) -> dict[str, np.ndarray] | None:
    """Every array of a cache entry, or None when it is absent or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except Exception:
        # A missing, truncated or foreign file is just a miss: it gets rebuilt and rewritten.
        return None


def write(path: Path, **arrays: np.ndarray) -> None:
    """Write atomically, so a crash or a concurrent run never leaves half a file to read."""
    payload: dict[str, Any] = dict(arrays)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, lambda handle: np.savez(handle, **payload))
    except (OSError, EmbtuiError):
        pass  # the cache only saves time: an entry that cannot be written is skipped
