"""Cell formatting shared by the tables.

Tables use no cell padding, so each cell carries one leading space of its own: that keeps
the runs table inside 80 columns. Running rows are bold with a ▶ marker, which still reads
with NO_COLOR=1 or on a monochrome terminal. Metric values go through
`embtui.display.fit_number`, so a diverging run's 294264872.96 is `2.94e8` and never
widens a column.
"""

from __future__ import annotations

from rich.text import Text

from embtui.display import fit_number
from embtui.escape import terminal

DASH = "–"


def cell(value: object, *, right: bool = False, style: str = "") -> Text:
    """A cell as a Text (DataTable parses a str cell as Rich markup, where
    `[@click=app.quit]` is an action): names, arms and errors show as written, their
    control and bidi characters as escapes."""
    text = DASH if value is None else terminal(str(value))
    return Text(" " + text, style=style, justify="right" if right else "left")


def num(value: float | None, *, digits: int = 4, width: int = 6, style: str = "") -> Text:
    return cell(
        None if value is None else fit_number(value, width, digits), right=True, style=style
    )


def header(label: str, *, right: bool = False) -> Text:
    return Text(" " + terminal(label), justify="right" if right else "left")
