"""Exports: pure functions from a `Report` (`embtui.report`, read from the store) to text,
the report's figures (a folder of images beside a Markdown file: `markdown_with_figures`),
and TensorBoard event files (a folder, not text: `export_tensorboard`).

Importing this package is cheap (the formats are listed here; the writers, the report and
scipy load when used), so `embtui --help` offers exactly `FORMATS` without paying for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embtui.report.model import Report
    from embtui.store import Store

#: The formats `render` turns into text, each with the line `embtui export --help` shows.
TEXT_FORMATS: dict[str, str] = {
    "md": "the comparison summary",
    "html": "the summary as one HTML file, its figures inside",
    "csv": "one row per epoch (Keras CSVLogger columns)",
    "summary-csv": "one row per size and arm",
    "json": "everything",
}
#: Every format of `embtui export`; "tensorboard" writes a folder with `export_tensorboard`.
FORMATS: dict[str, str] = {**TEXT_FORMATS, "tensorboard": "event files, in the folder -o"}


#: What `--figures` may say: an image format, or no figures.
FIGURE_CHOICES = ("svg", "png", "none")


def render(report: Report, fmt: str, *, figures: str = "svg") -> str:
    """The experiment as text: a Markdown report (its figures are files: see
    `markdown_with_figures`), the report as one HTML file with its figures inside (`figures`
    "svg", "png" or "none"), every epoch as CSV, the per-cell statistics as CSV
    (summary-csv), or everything as JSON."""
    if fmt == "md":
        from embtui.export.markdown import to_markdown

        return to_markdown(report)
    if fmt == "html":
        from embtui.export.html import to_html

        return to_html(report, None if figures == "none" else figures)
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


def figures_folder(markdown: Path) -> Path:
    """Where the figures of a Markdown file go by default: `report.md` -> `report-figures/`."""
    return markdown.with_name(f"{markdown.stem}-figures")


def markdown_with_figures(report: Report, folder: Path, markdown_dir: Path, fmt: str) -> str:
    """Write the report's figures (`fmt`: svg or png) and their numbers into `folder`, and
    return the Markdown that links them by paths relative to `markdown_dir`, the folder the
    Markdown file is in."""
    import os

    from embtui.export.figures import links, write_figures
    from embtui.export.markdown import to_markdown

    drawn = write_figures(report, folder, fmt)
    try:
        base = Path(os.path.relpath(folder.absolute(), markdown_dir.absolute())).as_posix()
    except ValueError:  # another drive (Windows): only an absolute path reaches it
        base = folder.absolute().as_posix()
    return to_markdown(report, links(drawn, base, fmt))


def export_tensorboard(store: Store, exp_id: int, out_dir: str | Path) -> Path:
    """TensorBoard event files of every run (see `embtui.export.tensorboard`)."""
    from embtui.export.tensorboard import export_tensorboard as write

    return write(store, exp_id, out_dir)


__all__ = [
    "FIGURE_CHOICES",
    "FORMATS",
    "TEXT_FORMATS",
    "export_tensorboard",
    "figures_folder",
    "markdown_with_figures",
    "render",
]
