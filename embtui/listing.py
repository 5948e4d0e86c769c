"""What `embtui list` prints: every experiment with its status and its runs.

Each run's arm is named as the exports name it (in a sweep, by the factors that vary:
`glove avgpool lr=0.01`). A run that failed shows its status with a short reason
(`failed: NaN`) and, in a last column that appears only when some run has one, the full
error the engine recorded.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from embtui.config import arm_keys, arm_name
from embtui.display import status_with_reason
from embtui.escape import rich_text
from embtui.store import Store

COLUMNS = ("run", "size", "arm", "seed", "status", "epochs", "final val_acc")
LEFT = ("arm", "status", "error")


def listing_tables(store: Store) -> list[Table]:
    """One table per experiment, oldest first."""
    tables = []
    for exp in store.experiments():
        runs = store.runs(exp.id)
        epochs = store.epochs(exp.id)
        done = sum(r.status == "done" for r in runs)
        table = Table(
            # A Text, never markup: "[done]" or a name like "[bold]x" would be read as Rich
            # markup and vanish; control and bidi characters show as escapes.
            title=rich_text(
                f"{exp.id}  {exp.name}  [{exp.status}]  {done}/{len(runs)} runs done  {exp.created}"
            ),
            title_justify="left",
        )
        with_errors = any(r.error for r in runs)
        keys = arm_keys([exp.config], [r.factors for r in runs])
        for col in (*COLUMNS, *(("error",) if with_errors else ())):
            table.add_column(col, justify="left" if col in LEFT else "right")
        for r in runs:
            eps = epochs.get(r.id, [])
            cells: list[str | Text] = [
                str(r.id),
                str(r.size),
                rich_text(arm_name(r.factors, keys) if keys else r.embedding),
                str(r.seed),
                status_with_reason(r.status, r.error),
                str(len(eps)),
                f"{eps[-1].val_acc:.4f}" if eps else "–",
            ]
            if with_errors:
                cells.append(rich_text(r.error or ""))
            table.add_row(*cells)
        tables.append(table)
    return tables


def print_listing(store: Store) -> None:
    console = Console()
    tables = listing_tables(store)
    if not tables:
        console.print(rich_text(f"no experiments yet in {store.path}"))
        return
    for table in tables:
        console.print(table)
