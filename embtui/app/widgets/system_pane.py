"""The system pane: is the hardware busy, and will the next run fit?

One block per device: its current values in a line, as `embtui.sysmetrics.describe` writes
them ("GPU 0 H200 87% · 61.2/139 GB"), then two small bar charts over the last minutes,
its utilisation (`use`, 0 to 100%) and its memory (`mem`, 0 to the device's total; RAM for
the CPU). The scale is fixed, so a box idling at 3% draws low bars rather than noise
stretched to the full height. Below the devices, why some are missing (the probe's own
words: "no NVIDIA driver: GPU metrics off").

What to show comes in one value, `state` (`SystemState`): the samples of the experiment
that trains (read from the store), or the console's own probe when nothing does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from embtui.escape import rich_text
from embtui.sysmetrics import DeviceSample, describe

#: The span the charts cover, seconds (samples come about once a second).
WINDOW_S = 300.0
BARS = "▁▂▃▄▅▆▇█"
LABEL = 4  # "use ", "mem "


@dataclass(frozen=True)
class DeviceHistory:
    """One device's samples over the window, oldest first; `latest` is the last one."""

    latest: DeviceSample
    utils: tuple[float | None, ...]
    mems: tuple[float | None, ...]


@dataclass(frozen=True)
class SystemState:
    """What the pane shows: where the samples come from, each device, and why some
    devices are not shown (one line each)."""

    source: str = ""
    devices: tuple[DeviceHistory, ...] = ()
    problems: tuple[str, ...] = ()
    waiting: str = "sampling…"  # shown while there is no sample yet


def histories(samples: Iterable[tuple[float, DeviceSample]]) -> tuple[DeviceHistory, ...]:
    """Per device (in the order first seen: the CPU, then each GPU), its samples within
    WINDOW_S of the newest one."""
    rows = list(samples)
    if not rows:
        return ()
    newest = max(t for t, _ in rows)
    by_device: dict[str, list[DeviceSample]] = {}
    for t, s in rows:
        if t >= newest - WINDOW_S:
            by_device.setdefault(s.device, []).append(s)
    return tuple(
        DeviceHistory(
            found[-1],
            tuple(s.util for s in found),
            tuple(
                s.mem_used / s.mem_total * 100 if s.mem_used is not None and s.mem_total else None
                for s in found
            ),
        )
        for found in by_device.values()
    )


def bars(values: Sequence[float | None], width: int, top: float = 100.0) -> str:
    """`values` as a bar chart `width` characters wide on a fixed 0..`top` scale, newest
    at the right: one column per value, or when there are more values than columns, the
    highest of each group. A missing value is a blank column."""
    if width <= 0:
        return ""
    if len(values) > width:
        step = len(values) / width
        groups = [values[int(i * step) : int((i + 1) * step)] for i in range(width)]
        values = [max((v for v in g if v is not None), default=None) for g in groups]
    out = []
    for v in values:
        if v is None:
            out.append(" ")
        else:
            out.append(BARS[max(0, min(len(BARS) - 1, int(v / top * len(BARS))))])
    return "".join(out).rjust(width)


class SystemPane(Widget):
    DEFAULT_CSS = """
    SystemPane {
        border: round $panel;
        border-title-color: $text;
        height: 1fr;
        width: 36;
        padding: 0 1;
    }
    """

    state: reactive[SystemState] = reactive(SystemState, always_update=False)
    """The devices to show and where their samples come from."""

    def watch_state(self, state: SystemState) -> None:
        self.border_title = rich_text(f"system · {state.source}" if state.source else "system")

    @property
    def text(self) -> Text:
        """The pane's content as plain lines (what the user reads)."""
        state = self.state
        width = max(1, self.content_size.width - LABEL)
        out = Text()
        if not state.devices:
            out.append(state.waiting, style="dim")
        for d in state.devices:
            if out:
                out.append("\n")
            out.append(describe(d.latest), style="bold")
            out.append("\nuse ", style="dim")
            out.append(bars(d.utils, width), style="green")
            out.append("\nmem ", style="dim")
            out.append(bars(d.mems, width), style="cyan")
        for problem in state.problems:
            out.append("\n" if out else "")
            out.append(problem, style="italic")
        return out

    def render(self) -> Text:
        return self.text
