"""The form for a new experiment: every `ExperimentConfig` key, checked as it is typed.

Each field is parsed and validated by `embtui.config` itself (`from_mapping`, as the CLI
does), so the form shows exactly the one-line messages `embtui run` would print, under the
field that caused them. ctrl+s asks the app to start (`StartRequested`) only when every
field is valid; the form stays open while the data loads, and a problem found then (a
missing dataset, a size larger than the data, keras-imdb offline) is shown under the field
it concerns, in full, with every edit kept. escape on an edited form asks first.

The form starts from a configuration: the experiment file the console was opened with,
or (`n` on a selected experiment) that experiment's, as "new from this one".
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import Footer, Input, Label, Static

from embtui.app.messages import StartRequested
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.widgets.form_input import FormInput
from embtui.config import (
    CHOICES,
    PATH_KEYS,
    ExperimentConfig,
    config_keys,
    from_mapping,
    key_help,
)
from embtui.errors import ConfigError
from embtui.escape import rich_text

KIND_FIELDS = {"DataError": "dataset", "GloveError": "glove"}


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


def field_for_error(message: str, kind: str | None, values: dict[str, str]) -> str | None:
    """Which field an error from preparing the experiment concerns, or None.

    The key the message starts with or names (`sizes = 10,500: ...`, `... use dataset =
    ...`), else the field whose path the message quotes, else the field of the error's
    kind (a DataError is about the dataset, a GloveError about the GloVe file).
    """
    keys = config_keys()
    for key in keys:
        if re.match(rf"{key}\b", message):
            return key
    for key in keys:
        if re.search(rf"\b{key}\s*[=:]", message):
            return key
    for key in PATH_KEYS:
        value = values.get(key, "").strip()
        if value and value in message:
            return key
    return KIND_FIELDS.get(kind or "")


def _count(n: int, noun: str) -> str:
    """`1 size`, `2 sizes`."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


#: The labels' column: the longest key and a space before its value.
LABEL_WIDTH = max(len(key) for key in config_keys()) + 1


class ConfigureScreen(Screen[None]):
    DEFAULT_CSS = """
    ConfigureScreen {
        #form-title {
            height: 1;
            padding: 0 1;
            text-style: bold;
            background: $panel;
        }
        #form {
            padding: 0 1;
        }
        .field {
            height: 1;
        }
        .field-label {
            width: LABEL_WIDTH;
        }
        .field Input {
            width: 1fr;
        }
        .hint {
            padding-left: LABEL_WIDTH;
            color: $text-muted;
        }
        .hint.-invalid, #form-status.-invalid {
            color: $error;
            text-style: bold;
        }
        #form-status {
            height: auto;
            max-height: 4;
            padding: 0 1;
            background: $panel;
        }
    }
    """.replace("LABEL_WIDTH", str(LABEL_WIDTH))

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+s",
            "start",
            "Start",
            priority=True,
            id="start",
            tooltip="Start the experiment (every field must be valid)",
        ),
        Binding(
            "escape",
            "back",
            "Back",
            priority=True,
            id="back",
            tooltip="Back without starting (asks first when a field was edited)",
        ),
        Binding(
            "down",
            "app.focus_next",
            "Next field",
            show=False,
            priority=True,
            id="next-field",
            tooltip="Move to the next field",
        ),
        Binding(
            "up",
            "app.focus_previous",
            "Previous field",
            show=False,
            priority=True,
            id="prev-field",
            tooltip="Move to the previous field",
        ),
    ]

    starting: reactive[bool] = reactive(False)
    """ctrl+s was pressed and the app is preparing the experiment (the data loads)."""

    def __init__(self, config: ExperimentConfig, *, source: str | None = None) -> None:
        super().__init__()
        self.config = config
        self.source = source
        self.errors: dict[str, str] = {}
        self.start_error: tuple[str, str | None] | None = None  # (field, message)
        self.initial = {key: field_text(getattr(config, key)) for key in config_keys()}

    def compose(self) -> ComposeResult:
        title = "New experiment" + (f" from {self.source}" if self.source else "")
        yield Static(rich_text(f"{title}  ·  ctrl+s start  ·  escape back"), id="form-title")
        with VerticalScroll(id="form"):
            for key in config_keys():
                with Horizontal(classes="field"):
                    yield Label(key, classes="field-label")
                    choices = CHOICES.get(key)
                    yield FormInput(
                        self.initial[key],
                        id=f"f-{key}",
                        compact=True,
                        suggester=SuggestFromList(choices) if choices else None,
                        select_on_focus=False,
                    )
                # Hints and the status quote what was typed: plain text, never markup.
                yield Static(key_help(key), id=f"hint-{key}", classes="hint", markup=False)
        yield Static("", id="form-status", markup=False)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#f-name", Input).focus()
        for key in config_keys():
            self._check(key)
        self._update_status()

    def values(self) -> dict[str, str]:
        return {key: self.query_one(f"#f-{key}", Input).value for key in config_keys()}

    @property
    def edited(self) -> bool:
        return self.values() != self.initial

    def on_input_changed(self, event: Input.Changed) -> None:
        key = (event.input.id or "").removeprefix("f-")
        if key in config_keys():
            if self.start_error and self.start_error[0] == key:
                self.start_error = None  # the user is fixing it
            self._check(key)
            self._update_status()

    def _check(self, key: str) -> None:
        message = check_field(key, self.query_one(f"#f-{key}", Input).value)
        if message is None and self.start_error and self.start_error[0] == key:
            message = self.start_error[1]
        hint = self.query_one(f"#hint-{key}", Static)
        if message:
            self.errors[key] = message
            hint.update(rich_text(f"✗ {message}"))
        else:
            self.errors.pop(key, None)
            hint.update(key_help(key))
        hint.set_class(bool(message), "-invalid")

    def _update_status(self, text: str | None = None, *, error: bool = False) -> None:
        status = self.query_one("#form-status", Static)
        if text is not None:
            status.update(rich_text(text))
            status.set_class(error, "-invalid")
            return
        if self.errors:
            first = next(k for k in config_keys() if k in self.errors)
            status.update(rich_text(f"✗ {self.errors[first]}"))
            status.set_class(True, "-invalid")
            return
        try:
            cfg = from_mapping(self.values())
        except ConfigError as exc:
            status.update(rich_text(f"✗ {exc}"))
            status.set_class(True, "-invalid")
            return
        epochs = "/".join(str(e) for e in cfg.epochs)
        status.update(
            f"{_count(cfg.grid_size, 'run')}: {_count(len(cfg.sizes), 'size')} × "
            f"{_count(cfg.arm_count, 'arm')} × {_count(cfg.seeds, 'seed')}, "
            f"{epochs} {'epoch' if cfg.epochs == (1,) else 'epochs'} each  ·  ctrl+s starts"
        )
        status.set_class(False, "-invalid")

    def watch_starting(self, starting: bool) -> None:
        """While the experiment starts, its fields are what was submitted: locked, so that
        keys typed meanwhile (x, meant to cancel) cannot edit them; unlocked again if it
        could not start."""
        for field in self.query(Input):
            field.disabled = starting

    # -- what the app reports back ----------------------------------------------------

    def show_progress(self, text: str) -> None:
        """The experiment is being prepared: say what is happening (loading data...)."""
        if self.starting:
            self._update_status(f"starting: {text}")

    def show_start_error(self, message: str, kind: str | None = None) -> None:
        """Preparing failed: the message under the field it concerns, the form as it was."""
        self.starting = False
        key = field_for_error(message, kind, self.values())
        if key is not None:
            self.start_error = (key, message)
            self._check(key)
            self.query_one(f"#f-{key}", Input).focus()
        self._update_status(f"✗ not started: {message}", error=True)

    # -- actions ----------------------------------------------------------------------

    def action_start(self) -> None:
        if self.starting:
            self.notify("already starting: the data is loading", severity="warning")
            return
        blocking = {k: m for k, m in self.errors.items() if check_field(k, self.values()[k])}
        try:
            cfg = from_mapping(self.values())
        except ConfigError as exc:
            self._update_status(f"✗ {exc}", error=True)
            key = field_for_error(str(exc), "ConfigError", self.values())
            if key is not None:
                self.query_one(f"#f-{key}", Input).focus()
            return
        if blocking:  # pragma: no cover - from_mapping refuses the same values
            return
        if self.start_error is not None:  # retrying after a failed start: clear the mark
            key, self.start_error = self.start_error[0], None
            self._check(key)
        self.starting = True
        self._update_status("starting…")
        self.post_message(StartRequested(cfg))

    def action_back(self) -> None:
        if self.starting:
            self.notify("the experiment is starting; it appears on the main screen when ready")
            self.dismiss(None)
            return
        if not self.edited:
            self.dismiss(None)
            return

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        self.app.push_screen(
            ConfirmScreen("Discard your edits to this form?\nThe experiment is not started."),
            answered,
        )
