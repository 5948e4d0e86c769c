"""Reading and writing the files embtui is pointed at, without hanging or corrupting anything.

Two rules live here, once, for every part of embtui:

* **Read only regular files** (`regular_file`): a FIFO or a device such as `/dev/zero` where
  a dataset, a word index or a GloVe file is expected would block forever or be read until
  memory runs out. Such paths are refused in one line before they are opened, and a format
  that implies a size (a word index is never 100 MB) is refused above that size.
* **Write whole or not at all** (`write_atomically`): a file is written to a temporary file
  beside it, flushed to disk, and renamed over the old one, so a reader or a crash sees the
  old file whole or the new one whole. Only a regular file is ever replaced: a device, a FIFO
  or a terminal (`-o /dev/stdout`) is written in place, and a symbolic link is followed, so
  the link stays a link. Temporary files that a killed writer left behind are removed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from embtui.errors import EmbtuiError
from embtui.store.liveness import process_alive


def describe_kind(mode: int) -> str:
    """What a non-regular file is, in a user's words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def regular_file(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    max_bytes: int | None = None,
    error: type[EmbtuiError] = EmbtuiError,
) -> Path:
    """`path` if it is a regular file (following links) no larger than `max_bytes`.

    Otherwise raise `error` with one line naming the file (`name`, default the path) and
    what is wrong. Checked before opening, so a FIFO is never opened (opening one blocks).
    """
    p = Path(path)
    shown = name if name is not None else str(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise error(f"{shown}: no such file") from None
    except OSError as exc:
        raise error(f"{shown}: cannot read ({exc.strerror or exc})") from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{shown}: {describe_kind(st.st_mode)}, not a regular file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise error(
            f"{shown}: {st.st_size:,} bytes, more than the {max_bytes:,} such a file can be"
        )
    return p


# -- writing ----------------------------------------------------------------------------

_TMP_SUFFIX = ".tmp"


def _tmp_prefix(target: Path) -> str:
    # The writer's pid is part of the name, so a later writer can tell a temporary file
    # whose writer died (and remove it) from one being written right now.
    return f".{target.name}.{os.getpid()}."


def remove_stale_temporaries(target: Path) -> None:
    """Delete temporary files of `target` left by writers that no longer run.

    A writer is known by the pid in the file's name, and was alive when it last wrote the
    file: a process with that pid started later is another one (`process_alive`)."""
    head = f".{target.name}."
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if not (name.startswith(head) and name.endswith(_TMP_SUFFIX)):
            continue
        pid_text = name[len(head) :].split(".", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            written = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        if process_alive(int(pid_text), seen_at=written):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def write_atomically(
    path: str | os.PathLike[str],
    content: str | bytes | Callable[[IO[bytes]], None],
    *,
    error: type[EmbtuiError] = EmbtuiError,
) -> Path:
    """Write `content` (text, bytes, or a function that writes to a binary handle) to `path`.

    A regular file (or a new one) is replaced through a temporary file in the same folder,
    fsynced before the rename, keeping the replaced file's permissions. A symbolic link is
    followed and its target replaced. Anything else that exists (a device, a FIFO, a
    terminal) is written in place: renaming over it would destroy the node. Returns the
    path actually written. Raises `error` with one line when it cannot be written.
    """
    given = Path(path)
    try:
        st = given.stat()  # follows links: what a write would reach
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise error(f"{given}: cannot write ({exc.strerror or exc})") from None
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise error(f"{given}: a folder; give a file name")
    if st is not None and not stat.S_ISREG(st.st_mode):
        _write_in_place(given, content, error)
        return given
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    remove_stale_temporaries(target)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=_tmp_prefix(target), suffix=_TMP_SUFFIX, dir=target.parent
        )
    except OSError as exc:
        raise error(f"{given}: cannot write ({exc.strerror or exc})") from None
    try:
        os.chmod(tmp, st.st_mode & 0o777 if st is not None else _new_file_mode())
        with os.fdopen(fd, "wb") as handle:
            _emit(handle, content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise error(f"{given}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _write_in_place(
    path: Path, content: str | bytes | Callable[[IO[bytes]], None], error: type[EmbtuiError]
) -> None:
    try:
        with open(path, "wb") as handle:
            _emit(handle, content)
    except OSError as exc:
        raise error(f"{path}: cannot write ({exc.strerror or exc})") from None


def _emit(handle: IO[bytes], content: str | bytes | Callable[[IO[bytes]], None]) -> None:
    if isinstance(content, str):
        handle.write(content.encode("utf-8"))
    elif isinstance(content, bytes):
        handle.write(content)
    else:
        content(handle)


def _new_file_mode() -> int:
    """What a plain `open` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
