"""The form for a new experiment: every `ExperimentConfig` key, checked as it is typed.

Each field is parsed and validated by `embtui.config` itself (`from_mapping`, as the CLI
does), so the form shows exactly the one-line messages `embtui run` would print, under the
field that caused them. ctrl+s starts the experiment only when every field is valid.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static

from embtui.config import (
    HEADS,
    OPTIMIZERS,
    SUBSETS,
    ExperimentConfig,
    config_keys,
    from_mapping,
    key_help,
)
from embtui.errors import ConfigError

CHOICES = {"head": HEADS, "optimizer": OPTIMIZERS, "subset": SUBSETS}


def field_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


def check_field(key: str, raw: str) -> str | None:
    """The CLI's message for this value of `key` (other keys at their defaults), or None."""
    try:
        from_mapping({key: raw})
    except ConfigError as exc:
        return str(exc)
    return None


class ConfigureScreen(Screen[ExperimentConfig | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "start",
            "Start",
            priority=True,
            id="start",
            tooltip="Start the experiment (every field must be valid)",
        ),
        Binding("escape", "back", "Back", id="back", tooltip="Back without starting"),
        Binding(
            "down",
            "app.focus_next",
            "Next field",
            show=False,
            id="next-field",
            tooltip="Move to the next field",
        ),
        Binding(
            "up",
            "app.focus_previous",
            "Previous field",
            show=False,
            id="prev-field",
            tooltip="Move to the previous field",
        ),
    ]

    def __init__(self, config: ExperimentConfig) -> None:
        super().__init__()
        self.config = config
        self.errors: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        values = {f: getattr(self.config, f) for f in config_keys()}
        yield Static("New experiment  ·  ctrl+s start  ·  escape back", id="form-title")
        with VerticalScroll(id="form"):
            for key in config_keys():
                with Horizontal(classes="field"):
                    yield Label(key, classes="field-label")
                    choices = CHOICES.get(key)
                    yield Input(
                        field_text(values[key]),
                        id=f"f-{key}",
                        compact=True,
                        suggester=SuggestFromList(choices) if choices else None,
                        select_on_focus=False,
                    )
                yield Static(key_help(key), id=f"hint-{key}", classes="hint")
        yield Static("", id="form-status")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#f-name", Input).focus()
        for key in config_keys():
            self._check(key)
        self._update_status()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#f-{key}", Input).value for key in config_keys()}

    def on_input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("f-")
        if key in config_keys():
            self._check(key)
            self._update_status()

    def _check(self, key: str) -> None:
        message = check_field(key, self.query_one(f"#f-{key}", Input).value)
        hint = self.query_one(f"#hint-{key}", Static)
        if message:
            self.errors[key] = message
            hint.update(f"✗ {message}")
        else:
            self.errors.pop(key, None)
            hint.update(key_help(key))
        hint.set_class(bool(message), "-invalid")

    def _update_status(self) -> None:
        status = self.query_one("#form-status", Static)
        if self.errors:
            first = next(k for k in config_keys() if k in self.errors)
            status.update(f"✗ {self.errors[first]}")
            status.set_class(True, "-invalid")
            return
        try:
            cfg = from_mapping(self.values())
        except ConfigError as exc:
            status.update(f"✗ {exc}")
            status.set_class(True, "-invalid")
            return
        n = len(cfg.run_cells())
        status.update(
            f"{n} runs: {len(cfg.sizes)} sizes × {len(cfg.embeddings)} arms × {cfg.seeds} "
            f"seeds, {cfg.epochs} epochs each  ·  ctrl+s starts"
        )
        status.set_class(False, "-invalid")

    def action_start(self) -> None:
        try:
            cfg = from_mapping(self.values())
        except ConfigError as exc:
            self.notify(str(exc), title="cannot start", severity="error")
            key = str(exc).split(" ")[0].rstrip(":")
            if key in config_keys():
                self.query_one(f"#f-{key}", Input).focus()
            return
        self.dismiss(cfg)

    def action_back(self) -> None:
        self.dismiss(None)
