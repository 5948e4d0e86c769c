"""The experiment configuration: one frozen dataclass, from TOML, CLI flags or the console form.

The defaults are the reference experiment: IMDB sentiment, `Embedding -> Flatten -> Dense`,
training-set sizes 10 to 500, a learned embedding against frozen GloVe vectors, three seeds.
Every key is validated here, before anything trains, so that the CLI, the console's form and
a TOML file all reject the same mistakes with the same one-line message.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

from embtui.errors import ConfigError

ARMS = ("learned", "glove", "glove-tuned")
HEADS = ("flatten", "avgpool", "conv1d", "lstm")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
SUBSETS = ("random", "first")


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: which data, which grid (sizes x arms x seeds), which model."""

    name: str = "seed-grid"
    dataset: str = "keras-imdb"
    sizes: tuple[int, ...] = (10, 50, 100, 200, 500)
    embeddings: tuple[str, ...] = ("learned", "glove")
    head: str = "flatten"
    epochs: int = 10
    batch_size: int = 32
    maxlen: int = 150
    vocab_size: int = 10000
    embedding_dim: int = 100
    optimizer: str = "rmsprop"
    learning_rate: float = 0.001
    seeds: int = 3
    subset: str = "random"
    val_size: int = 10000
    glove: str | None = None
    word_index: str | None = None
    workers: int = 1
    checkpoint_every: int = 60
    tensorboard_dir: str | None = None

    def __post_init__(self) -> None:
        _validate(self)

    # -- conversions -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-ready values (tuples become lists, unset paths are dropped)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)

    def to_toml(self) -> str:
        lines = []
        for key, value in self.to_dict().items():
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def replace(self, **changes: Any) -> ExperimentConfig:
        return from_mapping({**self.to_dict(), **changes})

    def run_cells(self) -> list[tuple[int, str, int]]:
        """The grid in the order it is run: (size, arm, seed), seeds innermost."""
        return [
            (size, arm, seed)
            for size in self.sizes
            for arm in self.embeddings
            for seed in range(self.seeds)
        ]


# -- building from outside input --------------------------------------------------------

_FIELDS = {f.name: f for f in fields(ExperimentConfig)}
_LIST_KEYS = {"sizes": int, "embeddings": str}
_INT_KEYS = {
    "epochs",
    "batch_size",
    "maxlen",
    "vocab_size",
    "embedding_dim",
    "seeds",
    "val_size",
    "workers",
    "checkpoint_every",
}
_OPTIONAL_KEYS = {"glove", "word_index", "tensorboard_dir"}


def config_keys() -> list[str]:
    """Every configuration key, in declaration order (the form's and the README's order)."""
    return list(_FIELDS)


def from_mapping(
    data: Mapping[str, Any], *, base: ExperimentConfig | None = None
) -> ExperimentConfig:
    """Build a config from loosely typed values (TOML, JSON, CLI strings, form fields).

    Strings are accepted for every key, as typed on a command line ("10,100" for a list),
    so that the CLI and the console's form share one parser and one set of messages.
    """
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    for key, raw in data.items():
        if key not in _FIELDS:
            allowed = ", ".join(_FIELDS)
            raise ConfigError(f"unknown key {key!r} = {raw!r}; allowed keys: {allowed}")
        values[key] = coerce(key, raw)
    return ExperimentConfig(**values)


def coerce(key: str, raw: Any) -> Any:
    """Turn one raw value into the key's type, or raise a one-line ConfigError."""
    if key in _OPTIONAL_KEYS:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        if not isinstance(raw, str):
            raise ConfigError(f"{key} = {raw!r}: expected a path (a string)")
        return raw
    if key in _LIST_KEYS:
        item_type = _LIST_KEYS[key]
        if isinstance(raw, str):
            items: list[Any] = [p.strip() for p in raw.split(",") if p.strip()]
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise ConfigError(f"{key} = {raw!r}: expected a list, e.g. {_example(key)}")
        return tuple(_coerce_scalar(key, item, item_type) for item in items)
    if key in _INT_KEYS:
        return _coerce_scalar(key, raw, int)
    if key == "learning_rate":
        return _coerce_scalar(key, raw, float)
    return _coerce_scalar(key, raw, str)


def _coerce_scalar(key: str, raw: Any, kind: type) -> Any:
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} = {raw!r}: expected a whole number")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key} = {raw!r}: expected a whole number")
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} = {raw!r}: expected a number")
        if isinstance(raw, (int, float)):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key} = {raw!r}: expected a number")
    if not isinstance(raw, str):
        raise ConfigError(f"{key} = {raw!r}: expected a string")
    return raw.strip()


def load_toml(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read an experiment file; `overrides` (CLI flags) win over the file's values."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    # A file may hold the keys at top level or under [experiment].
    if set(data) == {"experiment"} and isinstance(data["experiment"], dict):
        data = data["experiment"]
    merged = {**data, **(overrides or {})}
    return from_mapping(merged)


# -- validation ---------------------------------------------------------------------------


def _validate(cfg: ExperimentConfig) -> None:
    def bad(key: str, allowed: str) -> ConfigError:
        value = getattr(cfg, key)
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else repr(value)
        return ConfigError(f"{key} = {shown}: {allowed}")

    if not cfg.name or any(c in cfg.name for c in "/\\\n"):
        raise bad("name", "a non-empty name without slashes or newlines")
    if not cfg.dataset:
        raise bad(
            "dataset", "keras-imdb, or a path to imdb.npz, a CSV/TSV file or an aclImdb folder"
        )
    if not cfg.sizes:
        raise bad("sizes", "at least one training-set size, e.g. 10,50,100")
    if any(s <= 0 for s in cfg.sizes):
        raise bad("sizes", "every size must be at least 1")
    if len(set(cfg.sizes)) != len(cfg.sizes):
        raise bad("sizes", "each size at most once")
    if not cfg.embeddings:
        raise bad("embeddings", f"at least one of {', '.join(ARMS)}")
    for arm in cfg.embeddings:
        if arm not in ARMS:
            raise ConfigError(f"embeddings: unknown arm {arm!r}; allowed: {', '.join(ARMS)}")
    if len(set(cfg.embeddings)) != len(cfg.embeddings):
        raise bad("embeddings", "each arm at most once")
    if cfg.head not in HEADS:
        raise bad("head", f"one of {', '.join(HEADS)}")
    if cfg.optimizer not in OPTIMIZERS:
        raise bad("optimizer", f"one of {', '.join(OPTIMIZERS)}")
    if cfg.subset not in SUBSETS:
        raise bad("subset", f"one of {', '.join(SUBSETS)}")
    ranges = {
        "epochs": (1, 10_000),
        "batch_size": (1, 1_000_000),
        "maxlen": (1, 100_000),
        "vocab_size": (4, 10_000_000),
        "embedding_dim": (1, 10_000),
        "seeds": (1, 1_000),
        "val_size": (1, 10_000_000),
        "workers": (1, 256),
        "checkpoint_every": (0, 86_400),
    }
    for key, (lo, hi) in ranges.items():
        value = getattr(cfg, key)
        if not lo <= value <= hi:
            raise bad(key, f"must be between {lo} and {hi}")
    # Large rates are allowed on purpose: a run that diverges fails with "loss became NaN"
    # and the rest of the grid goes on, which is how a learning-rate sweep finds its edge.
    if not (0 < cfg.learning_rate < float("inf")):
        raise bad("learning_rate", "must be a finite number greater than 0")


def check_sizes_fit(cfg: ExperimentConfig, n_train: int) -> None:
    """Sizes can only be checked against the data once it is loaded (still before training)."""
    too_big = [s for s in cfg.sizes if s > n_train]
    if too_big:
        raise ConfigError(
            f"sizes = {','.join(map(str, cfg.sizes))}: {too_big[0]} is larger than the "
            f"{n_train} reviews of the training split"
        )


# -- helpers ----------------------------------------------------------------------------


def _example(key: str) -> str:
    return "10,50,100" if key == "sizes" else "learned,glove"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # A JSON string is a TOML basic string, except that JSON escapes characters outside the
    # BMP as surrogate pairs, which TOML rejects: keep them literal, escape only DEL.
    return json.dumps(str(value), ensure_ascii=False).replace("\x7f", "\\u007f")


__all__ = [
    "ARMS",
    "HEADS",
    "OPTIMIZERS",
    "SUBSETS",
    "ExperimentConfig",
    "check_sizes_fit",
    "coerce",
    "config_keys",
    "from_mapping",
    "load_toml",
]
