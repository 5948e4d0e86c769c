"""An experiment's configuration and environment (enter on an experiment).

Everything the store recorded about it: its status and owner, every configuration key
(the paths as recorded, absolute), the data it trained on and the environment (versions,
GloVe source and coverage, the data fingerprint), and its runs by status. `y` copies the
highlighted value; `n` opens the form for a new experiment from this one.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Static

from embtui.app.messages import NewRequested
from embtui.app.screens.panel import PanelScreen
from embtui.app.widgets.cells import cell, header
from embtui.app.widgets.keyed_table import KeyedTable
from embtui.errors import printable
from embtui.store import Store

META_NAMES = {
    "data": "data",
    "n_train": "training reviews",
    "n_val": "validation reviews",
    "chance": "chance level",
    "glove": "GloVe vectors",
    "glove_dim": "GloVe dimension",
    "glove_coverage": "GloVe coverage",
    "python": "Python",
    "embtui": "embtui",
    "threads_per_op": "threads per TensorFlow op",
    "fingerprint": "data fingerprint",
}


def _text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return printable(str(value))


def _fingerprint(fp: Any) -> str:
    """The data fingerprint on one line: each hash's first 8 digits (enough to tell two
    apart by eye), the prepared shapes, and the file it was read from."""
    if not isinstance(fp, dict):
        return _text(fp)
    parts = [f"{key} {str(fp[key])[:8]}" for key in ("train", "val", "glove") if fp.get(key)]
    if fp.get("val_reviews"):
        parts.append(f"validation reviews {str(fp['val_reviews'])[:8]}")
    if isinstance(fp.get("shapes"), dict):
        parts.append("shapes " + " ".join(printable(str(k)) for k in fp["shapes"]))
    file = fp.get("file")
    if isinstance(file, dict) and file.get("path"):
        parts.append(f"file {printable(str(file['path']))} ({file.get('size', '?')} bytes)")
    return ", ".join(parts) or "–"


def info_rows(store: Store, experiment_id: int) -> list[tuple[str, str, str]]:
    """(section, key, value) rows of everything recorded about the experiment."""
    exp = store.experiment(experiment_id)
    runs = store.runs(experiment_id)
    rows = [
        ("experiment", "id", str(exp.id)),
        ("experiment", "name", printable(exp.name)),
        ("experiment", "status", exp.status),
        ("experiment", "created", exp.created),
        ("experiment", "finished", exp.finished or "–"),
        ("experiment", "host, pid", f"{exp.host}, {exp.pid}"),
        ("experiment", "store", str(store.path)),
    ]
    rows += [("configuration", key, _text(value)) for key, value in exp.config.items()]
    meta = dict(exp.meta)
    for key, name in META_NAMES.items():
        if key in meta:
            value = meta.pop(key)
            shown = _fingerprint(value) if key == "fingerprint" else _text(value)
            rows.append(("environment", name, shown))
    rows += [("environment", key, _text(value)) for key, value in sorted(meta.items())]
    counts: dict[str, int] = {}
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    rows.append(("runs", "by status", ", ".join(f"{n} {s}" for s, n in counts.items()) or "–"))
    devices = sorted({r.device for r in runs if r.device})
    if devices:
        rows.append(("runs", "devices", ", ".join(devices)))
    return rows


class ExperimentInfoScreen(PanelScreen[None]):
    DEFAULT_CSS = """
    ExperimentInfoScreen #info {
        width: 100%;
        height: 100%;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "Close", id="close", tooltip="Back to the experiments"),
        Binding("q", "dismiss", "Close", show=False, id="close-q"),
        Binding(
            "y", "app.copy", "Copy", id="info-copy", tooltip="Copy the highlighted value (OSC 52)"
        ),
        Binding(
            "n",
            "new_from",
            "New from this",
            id="new-from",
            tooltip="A new experiment, its form filled from this one",
        ),
    ]

    def __init__(self, store: Store, experiment_id: int) -> None:
        super().__init__()
        self.store = store
        self.experiment_id = experiment_id

    def compose(self) -> ComposeResult:
        with Vertical(id="info", classes="panel"):
            yield Static(
                f"Experiment {self.experiment_id}: configuration and environment  "
                "(y copies a value · n new from this · escape back)",
                id="info-title",
                classes="panel-title",
            )
            yield InfoTable(id="info-table")

    def on_mount(self) -> None:
        table = self.query_one(InfoTable)
        table.set_columns(
            [("section", header("")), ("key", header("key")), ("value", header("value"))]
        )
        rows = info_rows(self.store, self.experiment_id)
        table.sync(
            [
                (
                    f"{section}:{key}",
                    [
                        cell(section if i == 0 or rows[i - 1][0] != section else "", style="bold"),
                        cell(key),
                        cell(value),
                    ],
                )
                for i, (section, key, value) in enumerate(rows)
            ]
        )
        table.focus()

    def action_new_from(self) -> None:
        self.dismiss(None)
        self.app.post_message(NewRequested(self.experiment_id))


class InfoTable(KeyedTable):
    def copy_text(self) -> str | None:
        """The highlighted value (not its key): what one pastes into a note or a shell."""
        key = self.current_key
        return self.cells(key)[-1] if key is not None else None
