"""Write an experiment's summary next to where embtui was started, never over another.

The text is exactly what `embtui export ID --format FMT --metric M -o FILE` writes (the same
`Report`, rendered the same way), so a file saved from the console and one written by the
CLI never differ. The file is `embtui-<name>-<id>.<ext>` (with `-<metric>` for a metric
other than the final epoch's, since their numbers differ); a Markdown export has its
figures (SVG) in the folder `embtui-<name>-<id>-figures/` beside it. When either name is
taken, the export is written as `...-2.<ext>` (with `...-2-figures/`), `...-3.<ext>` and
so on: an earlier export (perhaps edited since) is never overwritten, and the console says
which path it wrote. Several experiments compared as one pool are written as
`embtui-<first name>-3+5.<ext>`, with the text `embtui export 3,5` writes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from embtui.export import figures_folder
from embtui.store import Store

#: The formats the console offers, with what each holds and its file ending.
FORMATS: dict[str, tuple[str, str]] = {
    "md": ("Markdown summary with its figures (SVG) in a folder beside it", ".md"),
    "html": ("the Markdown summary as one HTML file, its figures inside", ".html"),
    "csv": ("one row per (run, epoch), Keras CSVLogger columns", ".csv"),
    "summary-csv": ("one row per (size, arm): n, mean, sd, 95% interval", "-summary.csv"),
    "json": ("everything: experiment, runs with epochs, statistics", ".json"),
}


def ids_text(experiment_id: int | Sequence[int], sep: str = "+") -> str:
    """`3`, or a pool's ids joined: `3+5` (a file name), `3,5` (the CLI's argument)."""
    if isinstance(experiment_id, int):
        return str(experiment_id)
    return sep.join(map(str, experiment_id))


def export_stem(name: str, experiment_id: int | Sequence[int], metric: str = "final") -> str:
    """`embtui-<name>-<id>[-<metric>]`; characters a shell would trip over become '-'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
    suffix = "" if metric == "final" else f"-{metric.replace('_', '-')}"
    return f"embtui-{safe}-{ids_text(experiment_id)}{suffix}"


def export_path(
    cwd: Path,
    name: str,
    experiment_id: int | Sequence[int],
    fmt: str = "md",
    metric: str = "final",
) -> Path:
    """The first free path for this export: the plain name, else `-2`, `-3`, ..."""
    stem, ending = export_stem(name, experiment_id, metric), FORMATS[fmt][1]
    path = cwd / f"{stem}{ending}"
    n = 2
    while _taken(path) or (fmt == "md" and _taken(figures_folder(path))):
        path = cwd / f"{stem}-{n}{ending}"
        n += 1
    return path


def _taken(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def write_export(
    store: Store,
    experiment_id: int | Sequence[int],
    cwd: Path,
    fmt: str = "md",
    metric: str = "final",
) -> Path:
    """Write the export (a Markdown file with its figures folder) and return the file's path."""
    from embtui.export import markdown_with_figures, render
    from embtui.files import write_atomically
    from embtui.report.model import build_report

    ids = experiment_id if isinstance(experiment_id, int) else list(experiment_id)
    report = build_report(store, ids, metric=metric, learned=fmt in ("md", "html"))
    path = export_path(cwd, report.experiment.name, experiment_id, fmt, metric)
    if fmt == "md":
        text = markdown_with_figures(report, figures_folder(path), cwd, "svg")
    else:
        text = render(report, fmt)
    write_atomically(path, text)
    return path
