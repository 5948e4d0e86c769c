"""Exports: pure functions from a `Report` (read from the store) to text, and TensorBoard
event files (a folder, not text: `export_tensorboard`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from embtui.errors import EmbtuiError
from embtui.export.report import Report
from embtui.export.tensorboard import export_tensorboard

#: The formats `render` turns into text.
TEXT_FORMATS = ("md", "csv", "summary-csv", "json")
#: Every format of `embtui export`; "tensorboard" writes a folder with `export_tensorboard`.
FORMATS = (*TEXT_FORMATS, "tensorboard")


def render(report: Report, fmt: str) -> str:
    """The experiment as text: a Markdown report, every epoch as CSV, the per-cell statistics
    as CSV (summary-csv), or everything as JSON."""
    if fmt == "md":
        from embtui.export.markdown import to_markdown

        return to_markdown(report)
    if fmt == "csv":
        from embtui.export.csv import to_csv

        return to_csv(report)
    if fmt == "summary-csv":
        from embtui.export.csv import to_summary_csv

        return to_summary_csv(report)
    if fmt == "json":
        from embtui.export.json import to_json

        return to_json(report)
    if fmt == "tensorboard":
        raise ValueError("tensorboard writes a folder of event files: use export_tensorboard")
    raise ValueError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same folder and a rename.

    A reader (or an interrupted export) sees either the old file whole or the new one whole,
    never half of one: an export over an earlier export of the same experiment is safe.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise EmbtuiError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        os.chmod(tmp, _mode_for(path))  # mkstemp makes it private; keep a normal file's mode
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise EmbtuiError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _mode_for(path: Path) -> int:
    """The replaced file's permissions, or what a plain `open` would give a new file."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


__all__ = [
    "FORMATS",
    "TEXT_FORMATS",
    "Report",
    "export_tensorboard",
    "render",
    "write_atomically",
]
