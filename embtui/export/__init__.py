"""Exports: pure functions from a `Report` (read from the store) to text."""

from __future__ import annotations

from embtui.export.report import Report

FORMATS = ("md", "csv", "json")


def render(report: Report, fmt: str) -> str:
    """The experiment's summary as Markdown, CSV or JSON text."""
    if fmt == "md":
        from embtui.export.markdown import to_markdown

        return to_markdown(report)
    if fmt == "csv":
        from embtui.export.csv import to_csv

        return to_csv(report)
    if fmt == "json":
        from embtui.export.json import to_json

        return to_json(report)
    raise ValueError(f"unknown export format {fmt!r}; allowed: {', '.join(FORMATS)}")
