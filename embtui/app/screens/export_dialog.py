"""Choose the export format (e): Markdown (with its figures), HTML, CSV, per-cell CSV or
JSON, with the path shown.

The path is where the export will go: `embtui-<name>-<id>.<ext>` in the folder embtui was
started from (a Markdown file with its `-figures` folder beside it), or the next free `-2`,
`-3` name when that one exists (an earlier export is never overwritten). The console always
writes a file; a second line names the `embtui export` command that prints the same text to
stdout instead, for a script or a pipe.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from embtui.app.export_file import FORMATS, export_path, ids_text
from embtui.app.screens.choice import ChoiceScreen
from embtui.export import figures_folder


def cli_export_command(experiment_id: int | Sequence[int], fmt: str, metric: str) -> str:
    """The `embtui export` command that prints what the dialog writes: `embtui export 3,5
    --format csv --metric best` (defaults left out)."""
    words = ["embtui export", ids_text(experiment_id, ",")]
    if fmt != "md":
        words.append(f"--format {fmt}")
    if metric != "final":
        words.append(f"--metric {metric}")
    return " ".join(words)


class ExportDialog(ChoiceScreen):
    def __init__(
        self,
        experiment_id: int | Sequence[int],
        name: str,
        metric: str = "final",
        *,
        cwd: Path | None = None,
        fmt: str = "md",
    ) -> None:
        folder = cwd if cwd is not None else Path(os.getcwd())

        def describe(key: str) -> str:
            path = export_path(folder, name, experiment_id, key, metric)
            stdout = f"{cli_export_command(experiment_id, key, metric)} prints it to stdout"
            if key == "md":
                return f"writes {path} and {figures_folder(path).name}/\n{stdout}"
            return f"writes {path}\n{stdout}"

        super().__init__(
            f"Export experiment {experiment_id} ({metric})"
            if isinstance(experiment_id, int)
            else f"Export experiments {ids_text(experiment_id, ' + ')} as one pool ({metric})",
            [(key, f"{key:<12} {what}") for key, (what, _) in FORMATS.items()],
            highlighted=fmt,
            describe=describe,
        )
