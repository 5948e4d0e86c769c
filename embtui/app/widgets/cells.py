"""Cell formatting shared by the tables.

Tables use no cell padding, so each cell carries one leading space of its own: that keeps
the runs table inside 80 columns. Running rows are bold with a ▶ marker, which still reads
with NO_COLOR=1 or on a monochrome terminal.
"""

from __future__ import annotations

from rich.text import Text

DASH = "–"


def cell(value: object, *, right: bool = False, style: str = "") -> Text:
    text = DASH if value is None else str(value)
    return Text(" " + text, style=style, justify="right" if right else "left")


def num(value: float | None, *, digits: int = 4, style: str = "") -> Text:
    return cell(None if value is None else f"{value:.{digits}f}", right=True, style=style)


def header(label: str, *, right: bool = False) -> Text:
    return Text(" " + label, justify="right" if right else "left")
