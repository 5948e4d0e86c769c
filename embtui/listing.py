"""What `embtui list` prints: one line per experiment, or one experiment's runs.

`embtui list` is one line per experiment (id, name, status, runs done of the total, when it
was created), read in one query however many runs the store holds. `embtui list ID` is that
experiment's runs: size, arm, seed, status, epochs stored and the last epoch's val_acc, with
the engine's error in a last column that appears only when some run has one. Each run's arm
is named as the exports name it (in a sweep, by the factors that vary: `glove avgpool
lr=0.01`); a failed run's status carries a short reason (`failed: NaN`).

Text output is plain columns separated by two spaces, the same on a terminal and in a pipe
(`awk`, `grep` and `cut` read it; no box drawing). `--json` and `--csv` carry the same fields
for scripts. Every name, arm and error comes from a user, a file or a script, and is escaped
for the terminal (`printable`); JSON escapes it itself; a CSV cell is escaped and never
starts a formula.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from rich.cells import cell_len

from embtui.display import status_with_reason
from embtui.escape import terminal as printable
from embtui.inspect.kept import disk_usage
from embtui.store import Store, learned_folder_of
from embtui.sysmetrics import format_bytes

#: Output formats of `embtui list`.
LIST_FORMATS = ("text", "json", "csv")
EXPERIMENT_FIELDS = ("id", "name", "status", "runs_done", "runs_total", "created", "finished")
RUN_FIELDS = ("id", "size", "arm", "seed", "status", "epochs", "val_acc", "error")


def experiments(store: Store) -> list[dict[str, Any]]:
    """Every experiment as `embtui list` reports it, oldest first."""
    return [
        {
            "id": e.id,
            "name": e.name,
            "status": e.status,
            "runs_done": e.runs_done,
            "runs_total": e.runs_total,
            "created": e.created,
            "finished": e.finished,
        }
        for e in store.experiment_summaries()
    ]


def experiment_runs(store: Store, exp_id: int) -> dict[str, Any]:
    """One experiment with its runs, as `embtui list ID` reports it."""
    from embtui.config import applicable, arm_keys, arm_name

    exp = store.experiment(exp_id)
    runs = store.runs(exp_id)
    progress = store.run_progress(exp_id)
    keys = arm_keys([exp.config], [applicable(r.factors) for r in runs])
    rows = []
    for r in runs:
        done = progress.get(r.id)
        rows.append(
            {
                "id": r.id,
                "size": r.size,
                "arm": arm_name(applicable(r.factors), keys) if keys else r.embedding,
                "factors": r.factors,
                "seed": r.seed,
                "status": r.status,
                "epochs": done.epochs if done else 0,
                "val_acc": done.val_acc if done else None,
                "error": r.error,
            }
        )
    return {
        "id": exp.id,
        "name": exp.name,
        "status": exp.status,
        "runs_done": sum(r.status == "done" for r in runs),
        "runs_total": len(runs),
        "created": exp.created,
        "finished": exp.finished,
        "runs": rows,
    }


def print_listing(
    store: Store, ref: str | None = None, fmt: str = "text", out: TextIO | None = None
) -> None:
    """`embtui list [ID] [--json|--csv]` on `out` (stdout)."""
    out = out or sys.stdout
    if ref is None:
        rows = experiments(store)
        if fmt == "json":
            out.write(json.dumps(rows, indent=2) + "\n")
        elif fmt == "csv":
            out.write(_csv(EXPERIMENT_FIELDS, rows))
        elif not rows:
            out.write(f"no experiments yet in {printable(str(store.path))}\n")
        else:
            out.write(
                _columns(
                    ("ID", "NAME", "STATUS", "RUNS", "CREATED"),
                    [
                        (
                            str(r["id"]),
                            printable(r["name"]),
                            r["status"],
                            f"{r['runs_done']}/{r['runs_total']}",
                            _when(r["created"]),
                        )
                        for r in rows
                    ],
                    right=(0, 3),
                )
            )
            kept = disk_usage(store.path)
            if kept:
                folder = printable(str(learned_folder_of(store.path)))
                out.write(f"{format_bytes(kept)} kept for embtui inspect in {folder}\n")
        return
    exp = experiment_runs(store, store.resolve(ref))
    if fmt == "json":
        out.write(json.dumps(exp, indent=2) + "\n")
        return
    if fmt == "csv":
        out.write(_csv(RUN_FIELDS, exp["runs"]))
        return
    out.write(
        f"experiment {exp['id']}: {printable(exp['name'])}  {exp['status']}  "
        f"{exp['runs_done']}/{exp['runs_total']} runs done  created {_when(exp['created'])}\n"
    )
    with_errors = any(r["error"] for r in exp["runs"])
    headers = ["RUN", "SIZE", "ARM", "SEED", "STATUS", "EPOCHS", "VAL_ACC"]
    if with_errors:
        headers.append("ERROR")
    lines = []
    for r in exp["runs"]:
        cells = [
            str(r["id"]),
            str(r["size"]),
            printable(r["arm"]),
            str(r["seed"]),
            status_with_reason(r["status"], r["error"]),
            str(r["epochs"]),
            "–" if r["val_acc"] is None else f"{r['val_acc']:.4f}",
        ]
        if with_errors:
            cells.append(printable(" ".join((r["error"] or "").split())))
        lines.append(cells)
    out.write(_columns(headers, lines, right=(0, 1, 3, 5, 6)))


def _when(stamp: str | None) -> str:
    """A stored ISO time as `2026-12-07 11:58` (UTC, as stored), or a dash."""
    if not stamp:
        return "–"
    return stamp[:16].replace("T", " ")


def _columns(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int]) -> str:
    """Plain columns two spaces apart; `right` columns (numbers) right-aligned. Widths are
    terminal cells (a CJK name takes two per character). The last column is not padded,
    so no line ends in spaces."""
    widths = [max(cell_len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            " " * (w - cell_len(cell)) + cell if i in right else cell + " " * (w - cell_len(cell))
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def _csv(fields: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(fields)
    for row in rows:
        writer.writerow([_csv_cell(row.get(f)) for f in fields])
    return buffer.getvalue()


def _csv_cell(value: Any) -> Any:
    """A CSV cell: None empty; a string escaped for the terminal (control characters,
    tab and CR included), and one that a spreadsheet would run as a formula (=, +, -, @
    first) led by `'`."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
