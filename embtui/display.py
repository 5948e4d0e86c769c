"""How values read in a narrow column: one home for the console's tables and `embtui list`.

A diverging run reports losses like 294264872.96 before it turns NaN; printed with four
decimals that is 14 characters, which would push every other column of a table off an
80-column terminal. `fit_number` abbreviates such values to a fixed width instead
(`2.94e8`), so a column is never widened by them. A failed run's error can be a long
line; `short_reason` is the few characters a status cell has room for, while the full
text stays in the store (and in the console's epoch pane and message log).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from embtui.store import RunStatus

_DIVERGED = re.compile(r"\b(\w+) became (NaN|infinite) at epoch (\d+)")
_OOM = re.compile(r"ResourceExhausted|out of memory|\bOOM\b", re.IGNORECASE)


def fit_number(value: float | None, width: int = 6, digits: int = 4) -> str:
    """`value` with up to `digits` decimals in at most `width` characters.

    Fewer decimals when the integer part needs the room, then scientific notation
    (`2.94e+08`, or `2.94e8` where the exponent's padding does not fit). None is a dash.
    """
    if value is None:
        return "–"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    for decimals in range(digits, -1, -1):
        text = f"{value:.{decimals}f}"
        if len(text) <= width:
            if decimals == 0 and abs(value) >= 1000:
                break  # "12345" reads as a count: a metric this large reads better as 1.23e4
            return text
    for mantissa in range(2, -1, -1):
        text = f"{value:.{mantissa}e}"
        if len(text) <= width:
            return text
        compact = re.sub(r"e([+-])0*(\d)", lambda m: f"e{'-' if m[1] == '-' else ''}{m[2]}", text)
        if len(compact) <= width:
            return compact
    return f"{value:.0e}"


def short_reason(error: str | None) -> str:
    """A failed run's reason in three characters: NaN, inf, OOM, or err for any other."""
    if not error:
        return ""
    diverged = _DIVERGED.search(error)
    if diverged:
        return "NaN" if diverged.group(2) == "NaN" else "inf"
    if _OOM.search(error):
        return "OOM"
    return "err"


def status_with_reason(status: RunStatus, error: str | None) -> str:
    """`failed: NaN` for a failed run, else the status itself (never longer than
    `interrupted`, the longest status, so a status column keeps its width)."""
    if status == "failed" and error:
        return f"failed: {short_reason(error)}"
    return status


def format_seconds(value: float | None) -> str:
    """A run's wall time in a narrow column: `8.4 s`, `4m05s`, `2h07m` (None is a dash)."""
    if value is None:
        return "–"
    if value < 60:
        return f"{value:.1f} s"
    seconds = round(value)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
