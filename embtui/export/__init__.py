"""Exports: pure functions from a `Report` (read from the store) to text, and TensorBoard
event files (a folder, not text: `export_tensorboard`).

Importing this package is cheap (the formats are listed here; the writers, the report and
scipy load when used), so `embtui --help` offers exactly `FORMATS` without paying for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embtui.export.report import Report
    from embtui.store import Store

#: The formats `render` turns into text, each with the line `embtui export --help` shows.
TEXT_FORMATS: dict[str, str] = {
    "md": "the comparison summary",
    "csv": "one row per epoch (Keras CSVLogger columns)",
    "summary-csv": "one row per size and arm",
    "json": "everything",
}
#: Every format of `embtui export`; "tensorboard" writes a folder with `export_tensorboard`.
FORMATS: dict[str, str] = {**TEXT_FORMATS, "tensorboard": "event files, in the folder -o"}


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


def export_tensorboard(store: Store, exp_id: int, out_dir: str | Path) -> Path:
    """TensorBoard event files of every run (see `embtui.export.tensorboard`)."""
    from embtui.export.tensorboard import export_tensorboard as write

    return write(store, exp_id, out_dir)


__all__ = ["FORMATS", "TEXT_FORMATS", "export_tensorboard", "render"]
