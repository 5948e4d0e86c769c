"""The terminal row: whether the console can draw here, and a tmux tip over SSH."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from typing import Any

from embtui.doctor.check import OK, WARN, Check

#: Smallest terminal the console is laid out for.
MIN_COLUMNS, MIN_LINES = 80, 24


def check_terminal(
    *,
    console: Any = None,
    env: Mapping[str, str] | None = None,
    size: os.terminal_size | None = None,
) -> Check:
    """Size, colours and multiplexer of the terminal the console would draw in.

    `console` is the Rich console the doctor prints on: it knows whether stdout is a terminal
    and how many colours it shows.
    """
    env = os.environ if env is None else env
    if console is None:
        from rich.console import Console

        console = Console()
    is_terminal, color_system = console.is_terminal, console.color_system
    size = size or shutil.get_terminal_size()
    term = env.get("TERM", "")
    facts = []
    if is_terminal:
        facts.append(f"{size.columns}x{size.lines}")
    else:
        facts.append("stdout is not a terminal")
    if "NO_COLOR" in env:
        facts.append("colour off (NO_COLOR)")
    else:
        facts.append(f"colour: {color_system or 'none'}")
    facts.append(f"TERM={term or '(unset)'}")
    if env.get("TMUX") or term.startswith("tmux"):
        facts.append("inside tmux")
        multiplexed = True
    elif env.get("STY") or term.startswith("screen"):
        facts.append("inside screen")
        multiplexed = True
    else:
        multiplexed = False
    ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))
    if ssh:
        facts.append("over SSH")
    detail = ", ".join(facts)
    if is_terminal and term in ("", "dumb"):
        return Check(
            "terminal",
            WARN,
            detail,
            "export TERM=xterm-256color: the console cannot draw on a dumb terminal",
        )
    if is_terminal and (size.columns < MIN_COLUMNS or size.lines < MIN_LINES):
        return Check(
            "terminal",
            WARN,
            f"{detail}: smaller than the console's {MIN_COLUMNS}x{MIN_LINES}",
            f"enlarge the window to at least {MIN_COLUMNS}x{MIN_LINES}; embtui run works at any "
            "size",
        )
    tip = ""
    if ssh and not multiplexed:
        tip = "run inside tmux or screen: a dropped SSH connection then does not stop training"
    return Check("terminal", OK, detail, tip)
