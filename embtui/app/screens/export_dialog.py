"""Choose the export format (e): Markdown (with its figures), HTML, CSV, per-cell CSV or
JSON, with the path shown.

The path is where the export will go: `embtui-<name>-<id>.<ext>` in the folder embtui was
started from (a Markdown file with its `-figures` folder beside it), or the next free `-2`,
`-3` name when that one exists (an earlier export is never overwritten).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from embtui.app.export_file import FORMATS, export_path, ids_text
from embtui.app.screens.choice import ChoiceScreen
from embtui.export import figures_folder


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
            if key == "md":
                return f"writes {path} and {figures_folder(path).name}/"
            return f"writes {path}"

        super().__init__(
            f"Export experiment {experiment_id} ({metric})"
            if isinstance(experiment_id, int)
            else f"Export experiments {ids_text(experiment_id, ' + ')} as one pool ({metric})",
            [(key, f"{key:<12} {what}") for key, (what, _) in FORMATS.items()],
            highlighted=fmt,
            describe=describe,
        )
