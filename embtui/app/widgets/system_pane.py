"""The system pane: is the hardware busy, and will the next run fit?

One block per device: its current values in a line, as `embtui.sysmetrics.describe` writes
them ("GPU 0 H200 87% · 61.2/139 GB"), then two small bar charts over the last minutes,
its utilisation (`use`, 0 to 100%) and its memory (`mem`, 0 to the device's total; RAM for
the CPU). The scale is fixed, so a box idling at 3% draws low bars rather than noise
stretched to the full height. Below the devices, why some are missing (the probe's own
words: "no NVIDIA driver: GPU metrics off").

What it shows comes from one of two sources. While the experiment on screen trains, the
samples that experiment's process recorded in the store (`show_training`, with a reader the
screen hands it). Otherwise (`show_machine`) the pane samples this machine itself, about
once a second and only while it is displayed: its probe (`embtui.sysmetrics.Probe`, which
loads psutil and NVML) is made and read on a background thread (`background("system")`),
never on the UI thread, nor before the first frame. A probe that fails is reported once
(see `embtui.app.workers`) and not asked again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from embtui.app.workers import ReportsFailures, background
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


class MachineProbe(Protocol):
    """What the pane reads this machine through: `embtui.sysmetrics.Probe`, or a recording."""

    cpu_problem: str | None
    gpu_problem: str | None

    def sample(self) -> list[DeviceSample]: ...

    def close(self) -> None: ...


def default_probe() -> MachineProbe:
    from embtui.sysmetrics import Probe

    return Probe()


class SystemPane(ReportsFailures, Widget):
    """The system pane (see the module docstring).

    Args:
        probe: makes what the pane reads this machine through (default: an
            `embtui.sysmetrics.Probe`; the snapshots and tests pass recordings). Called on
            the pane's first sample, on a background thread.
        every_s: how often this machine is sampled while the pane shows it.
    """

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

    @dataclass
    class Sampled(Message, bubble=False):
        """One reading of this machine (posted by the pane's sampler to the pane itself);
        `problems` says, in the probe's words, which devices it cannot read."""

        t: float
        samples: list[DeviceSample]
        problems: tuple[str, ...]

    def __init__(
        self,
        *,
        probe: Callable[[], MachineProbe] | None = None,
        every_s: float = 1.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.make_probe = probe or default_probe
        self.every_s = every_s
        #: The probe, once the pane first sampled this machine (None until then).
        self.probe: MachineProbe | None = None
        self._machine = False  # show (and sample) this machine rather than recorded samples
        # The samples a training experiment recorded, of the last minutes.
        self._recorded: list[tuple[float, DeviceSample]] = []
        self._recorded_of: int | None = None
        self._samples: deque[tuple[float, DeviceSample]] = deque()
        self._problems: tuple[str, ...] = ()
        self._sampling = False  # a reading is under way
        self._failed = False  # the probe raised once: it is not asked again

    def on_mount(self) -> None:
        self.set_interval(self.every_s, self._tick)

    def on_unmount(self) -> None:
        if self.probe is not None:
            self.probe.close()

    def show_training(
        self, experiment_id: int, read: Callable[[float], list[tuple[float, DeviceSample]]]
    ) -> None:
        """Show what the training process of `experiment_id` recorded in the store; `read`
        reads its samples after a time (only the new ones are read, the last minutes kept).
        This machine is not sampled meanwhile."""
        self._machine = False
        if self._recorded_of != experiment_id:
            self._recorded_of, self._recorded = experiment_id, []
        since = self._recorded[-1][0] if self._recorded else 0.0
        rows = self._recorded + read(since)
        newest = rows[-1][0] if rows else 0.0
        self._recorded = [(t, s) for t, s in rows if t >= newest - WINDOW_S]
        devices = histories(self._recorded)
        gpus = any(d.latest.device != "cpu" for d in devices)
        self.state = SystemState(
            f"#{experiment_id} training",
            devices,
            () if gpus or not devices else (f"no GPU in experiment {experiment_id}'s samples",),
            waiting=f"no samples from experiment {experiment_id} yet",
        )

    def show_machine(self) -> None:
        """Show this machine, sampled by the pane itself while it is displayed."""
        self._machine = True
        self.state = SystemState("this machine", histories(self._samples), self._problems)

    def _tick(self) -> None:
        if self._machine and self.display and not self._sampling and not self._failed:
            self._sampling = True
            self._sample_once()

    @background("system")
    def _sample_once(self) -> None:
        try:
            if self.probe is None:
                self.probe = self.make_probe()
            probe = self.probe
            samples = probe.sample()
            problems = tuple(p for p in (probe.cpu_problem, probe.gpu_problem) if p)
            self.post_message(self.Sampled(time.time(), samples, problems))
        finally:
            self._sampling = False

    def job_failed(self, group: str, error: BaseException) -> None:
        self._failed = True  # a probe that failed once fails again: stop asking it

    def on_system_pane_sampled(self, message: SystemPane.Sampled) -> None:
        samples = self._samples
        samples.extend((message.t, s) for s in message.samples)
        while samples and samples[0][0] < message.t - WINDOW_S:
            samples.popleft()
        self._problems = message.problems
        if self._machine:
            self.show_machine()

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
