"""keras.datasets.imdb's cache: where it is, and whether the files in it are Keras' own.

`keras.datasets.imdb.load_data` checks a cached file against a hash and, when it differs,
downloads the file again over it, and deletes it when the download fails (offline, say).
A file a user copied there by hand (another version of imdb.npz, a damaged copy) would be
lost that way. So embtui checks the cache with the same hashes before Keras sees it:
`embtui doctor` reports a mismatch, and `embtui run` refuses in one line and leaves the file
where it is. Nothing here imports Keras.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

#: The files keras.datasets.imdb caches, with the hash Keras checks each against (its
#: `get_file(file_hash=...)`): sha256 for 64 hex digits, md5 for 32, as Keras decides.
KERAS_IMDB_HASHES: dict[str, str] = {
    "imdb.npz": "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
    "imdb_word_index.json": "bfafd718b763782e994055a2d397834f",
}
KERAS_IMDB_FILES = tuple(KERAS_IMDB_HASHES)


def keras_datasets_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where keras.datasets caches downloads: $KERAS_HOME/datasets, else ~/.keras/datasets.

    Keras falls back to /tmp/.keras when its folder cannot be written, and so does this.
    """
    env = os.environ if env is None else env
    if "KERAS_HOME" in env:
        base = Path(os.path.expanduser(env["KERAS_HOME"]))
    else:
        home = Path(env.get("HOME") or os.path.expanduser("~"))
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    if base.exists() and not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
    return base / "datasets"


def file_hash(path: Path, expected: str) -> str:
    """The file's hash in the algorithm Keras uses for `expected` (sha256 or md5)."""
    # md5 only where Keras publishes an md5 (the word index): the check is Keras' own.
    h = hashlib.sha256() if len(expected) == 64 else hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_mismatches(folder: Path, hashes: Mapping[str, str] = KERAS_IMDB_HASHES) -> list[str]:
    """One line per cached file that Keras would reject and replace: what its hash is and
    what Keras expects (`hashes`: Keras' own). Files not there yet are not listed (Keras
    downloads them)."""
    out = []
    for name, expected in hashes.items():
        path = folder / name
        if not path.is_file():
            continue
        try:
            actual = file_hash(path, expected)
        except OSError as exc:
            out.append(f"{path} cannot be read ({exc.strerror or exc})")
            continue
        if actual != expected:
            algorithm = "sha256" if len(expected) == 64 else "md5"
            out.append(
                f"{path} has {algorithm} {actual[:12]}…, not the {expected[:12]}… Keras expects"
            )
    return out


def mismatch_message(folder: Path, problems: list[str]) -> str:
    """The one line `embtui run` refuses keras-imdb with when the cache holds other files."""
    return (
        f"keras-imdb: {'; '.join(problems)}: Keras would delete it and download again, so "
        f"embtui leaves it alone; train on it as a local file (dataset = "
        f'"{folder / "imdb.npz"}") or move it out of {folder} to download a fresh copy'
    )
