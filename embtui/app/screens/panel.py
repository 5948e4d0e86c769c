"""The look the console's full-size dialogs share: one bordered panel, a bold title line."""

from __future__ import annotations

from typing import TypeVar

from textual.screen import ModalScreen

R = TypeVar("R")


class PanelScreen(ModalScreen[R]):
    """A modal screen that is one panel (the help, an experiment's information, the message
    log): the panel is the container with the class `panel`, its title the `Static` with
    the class `panel-title`. Each screen sets its panel's size in its own DEFAULT_CSS."""

    DEFAULT_CSS = """
    PanelScreen {
        align: center middle;
        .panel {
            border: round $accent;
            background: $surface;
        }
        .panel-title {
            text-style: bold;
            padding: 0 1;
        }
    }
    """
