"""Write an experiment's Markdown summary next to where embtui was started.

The text is exactly what `embtui export ID --format md` prints (the same `render` of the
same `Report`), so a file saved from the console and one piped from the CLI never differ.
"""

from __future__ import annotations

import re
from pathlib import Path

from embtui.store import Store


def export_path(cwd: Path, name: str, experiment_id: int) -> Path:
    """`embtui-<name>-<id>.md`; characters a shell would trip over become '-'."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "experiment"
    return cwd / f"embtui-{safe}-{experiment_id}.md"


def export_markdown(store: Store, experiment_id: int, cwd: Path, metric: str = "final") -> Path:
    from embtui.export import render
    from embtui.export.report import build_report
    from embtui.files import write_atomically

    report = build_report(store, experiment_id, metric=metric)
    path = export_path(cwd, report.experiment.name, experiment_id)
    write_atomically(path, render(report, "md"))
    return path
