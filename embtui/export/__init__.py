"""Exports: pure functions from a `Report` (read from the store) to text, and TensorBoard
event files (a folder, not text: `export_tensorboard`)."""

from __future__ import annotations

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


__all__ = [
    "FORMATS",
    "TEXT_FORMATS",
    "Report",
    "export_tensorboard",
    "render",
]
