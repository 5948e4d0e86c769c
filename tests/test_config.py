"""ExperimentConfig: the reference defaults, TOML and JSON round trips, flags over the file,
and one-line messages naming the key, the value and what is allowed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from embtui.config import (
    APPLIES_TO,
    ARMS,
    EXECUTOR_KEYS,
    FACTOR_KEYS,
    FACTOR_LABELS,
    HEADS,
    KEYS,
    PATH_KEYS,
    ExperimentConfig,
    check_sizes_fit,
    config_keys,
    from_mapping,
    load_toml,
)
from embtui.config import tomllib as config_tomllib
from embtui.errors import ConfigError, EmbtuiError

ASSETS = Path(__file__).resolve().parents[1] / "assets"

CUSTOM = ExperimentConfig(
    name="custom run ✓ 😀",
    dataset="data/reviews.csv",
    sizes=(5, 25),
    embeddings=("glove-tuned", "learned"),
    head="avgpool",
    epochs=3,
    batch_size=16,
    maxlen=40,
    vocab_size=500,
    embedding_dim=8,
    optimizer="adam",
    learning_rate=3e-4,
    seeds=2,
    subset="first",
    val_size=100,
    glove='C:\\vectors\\glove "6B".txt',
    word_index="idx.json",
    workers=2,
    tensorboard_dir="logs/tb ✓",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(**values) -> str:
    with pytest.raises(ConfigError) as info:
        from_mapping(values)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_defaults_are_the_reference_experiment():
    cfg = ExperimentConfig()
    assert cfg.dataset == "keras-imdb"
    assert cfg.sizes == (10, 50, 100, 200, 500)
    assert cfg.embeddings == ("learned", "glove")
    assert cfg.head == ("flatten",)  # a factor of one value: every factor is a tuple
    assert (cfg.epochs, cfg.batch_size, cfg.maxlen) == ((10,), (32,), (150,))
    assert (cfg.vocab_size, cfg.embedding_dim) == ((10000,), (100,))
    assert (cfg.optimizer, cfg.learning_rate) == (("rmsprop",), (0.001,))
    assert (cfg.seeds, cfg.subset, cfg.val_size) == (3, "random", 10000)
    assert cfg.glove is None
    assert "glove-tuned" in ARMS and "glove-tuned" not in cfg.embeddings
    assert set(HEADS) == {"flatten", "avgpool", "conv1d", "lstm"}


def test_the_shipped_reference_file_equals_the_defaults():
    path = ASSETS / "seed-grid.toml"
    if not path.is_file():
        pytest.skip("assets/seed-grid.toml is not in this checkout")
    assert load_toml(path) == ExperimentConfig()


def test_keys_are_the_issue_keys_in_order():
    # first_seed sits beside seeds, which it extends.
    keys = [k for k in config_keys() if k != "first_seed"]
    assert config_keys()[config_keys().index("seeds") + 1] == "first_seed"
    assert keys[:16] == [
        "name",
        "dataset",
        "sizes",
        "embeddings",
        "head",
        "epochs",
        "batch_size",
        "maxlen",
        "vocab_size",
        "embedding_dim",
        "optimizer",
        "learning_rate",
        "seeds",
        "subset",
        "val_size",
        "glove",
    ]


def test_the_tables_other_modules_import_are_derived_as_before():
    """Derived from the declarations on ExperimentConfig: the grid's order (embeddings
    outermost), the labels in arm names, where embedding_dim applies, which keys a resume
    may change and which are paths."""
    assert FACTOR_KEYS == (
        "embeddings",
        "head",
        "optimizer",
        "learning_rate",
        "embedding_dim",
        "batch_size",
        "epochs",
        "maxlen",
        "vocab_size",
    )
    assert list(FACTOR_LABELS) == list(FACTOR_KEYS)
    assert FACTOR_LABELS["learning_rate"] == "lr" and FACTOR_LABELS["head"] == ""
    assert FACTOR_LABELS["embedding_dim"] == "dim" and FACTOR_LABELS["vocab_size"] == "vocab"
    assert APPLIES_TO == {"embedding_dim": ("learned",)}
    assert EXECUTOR_KEYS == ("workers", "cluster", "ray_address", "gpus_per_run", "cpus_per_run")
    assert PATH_KEYS == ("dataset", "glove", "word_index", "tensorboard_dir")
    arm = ExperimentConfig(learning_rate=0.5, embedding_dim=8).arm({"embeddings": "glove"})
    assert (arm.embedding, arm.learning_rate, arm.embedding_dim) == ("glove", 0.5, 8)
    assert arm.factors()["embedding_dim"] is None and arm.factors()["embeddings"] == "glove"


@pytest.mark.parametrize("key", [k for k in KEYS if KEYS[k].range])
def test_each_declared_range_is_what_validation_accepts(key):
    """A range declared on a key is checked, edges included or not as declared, with the
    declared words; a new factor's range is checked here without a test of its own."""
    declared = KEYS[key]
    kind, allowed = declared.kind, declared.range
    assert allowed is not None
    step = 1 if kind is int else 0.5
    inside = [allowed.lo + (step if allowed.above else 0)]
    outside = [allowed.lo if allowed.above else allowed.lo - step]
    if allowed.hi != float("inf"):
        inside.append(allowed.hi - (step if allowed.below else 0))
        outside.append(allowed.hi + step)
    for value in inside:
        assert getattr(from_mapping({key: value}), key) in (kind(value), (kind(value),))
    for value in outside:
        assert error_of(**{key: value}) == f"{key} = {kind(value)!r}: {allowed.message}"


@pytest.mark.parametrize("key", [k for k in KEYS if KEYS[k].choices])
def test_each_declared_choice_is_accepted_and_nothing_else(key):
    for choice in KEYS[key].choices:
        assert choice in str(getattr(from_mapping({key: choice}), key))
    expected = (
        f"{key}: unknown arm 'nope'; allowed: {', '.join(ARMS)}"
        if key == "embeddings"
        else f"{key} = 'nope': one of {', '.join(KEYS[key].choices)}"
    )
    assert error_of(**{key: "nope"}) == expected


def test_the_grid_runs_seeds_innermost():
    cfg = ExperimentConfig(sizes=(10, 50), embeddings=("learned", "glove"), seeds=2)
    cells = [(size, factors["embeddings"], seed) for size, factors, seed in cfg.run_cells()]
    assert cells == [
        (10, "learned", 0),
        (10, "learned", 1),
        (10, "glove", 0),
        (10, "glove", 1),
        (50, "learned", 0),
        (50, "learned", 1),
        (50, "glove", 0),
        (50, "glove", 1),
    ]
    assert cfg.run_cells()[0][1] == {
        "embeddings": "learned",
        "head": "flatten",
        "optimizer": "rmsprop",
        "learning_rate": 0.001,
        "embedding_dim": 100,
        "batch_size": 32,
        "epochs": 10,
        "maxlen": 150,
        "vocab_size": 10000,
    }
    assert len(ExperimentConfig().run_cells()) == ExperimentConfig().grid_size == 5 * 2 * 3


@pytest.mark.parametrize("cfg", [ExperimentConfig(), CUSTOM], ids=["defaults", "custom"])
def test_toml_round_trip(cfg, tmp_path):
    """What a file holds comes back, relative paths resolved against the file's folder."""
    text = cfg.to_toml()
    config_tomllib.loads(text)  # valid TOML on its own
    relative = {k: v for k, v in cfg.to_dict().items() if k in PATH_KEYS and v != "keras-imdb"}
    expected = cfg.replace(**{k: str(tmp_path / v) for k, v in relative.items()})
    assert load_toml(write(tmp_path, text)) == expected


@pytest.mark.parametrize("cfg", [ExperimentConfig(), CUSTOM], ids=["defaults", "custom"])
def test_json_round_trip(cfg):
    assert from_mapping(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_unset_paths_are_left_out_of_files():
    assert "glove" not in ExperimentConfig().to_dict()
    assert "glove =" not in ExperimentConfig().to_toml()


def test_tensorboard_dir_is_an_optional_path_that_an_empty_value_turns_off(tmp_path):
    assert ExperimentConfig().tensorboard_dir is None
    assert "tensorboard_dir" not in ExperimentConfig().to_dict()
    cfg = from_mapping({"tensorboard_dir": "logs/tb"})
    assert cfg.tensorboard_dir == "logs/tb"
    assert cfg.to_dict()["tensorboard_dir"] == "logs/tb"
    loaded = load_toml(write(tmp_path, cfg.to_toml())).tensorboard_dir
    assert loaded == str(tmp_path / "logs" / "tb")  # relative to the experiment file
    assert from_mapping({"tensorboard_dir": " "}).tensorboard_dir is None
    assert load_toml(write(tmp_path, 'tensorboard_dir = ""\n')).tensorboard_dir is None
    assert error_of(tensorboard_dir=5) == "tensorboard_dir = 5: expected a path (a string)"


def test_paths_in_a_file_are_relative_to_the_file_and_flags_to_the_current_folder(
    tmp_path, monkeypatch
):
    """A grid started from another folder, or resumed from one, reads the same files."""
    folder = tmp_path / "experiments"
    folder.mkdir()
    path = folder / "exp.toml"
    path.write_text(
        'dataset = "data/reviews.csv"\nglove = "../vectors/glove.txt"\n'
        'word_index = "/abs/imdb_word_index.json"\ntensorboard_dir = "~/tb"\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_toml("../experiments/exp.toml")
    assert cfg.dataset == str(folder / "data" / "reviews.csv")
    assert cfg.glove == str(tmp_path / "vectors" / "glove.txt")
    assert cfg.word_index == "/abs/imdb_word_index.json"
    assert cfg.tensorboard_dir == str(Path.home() / "tb")
    flagged = load_toml(path, {"dataset": "mine.csv"})
    assert flagged.dataset == str(elsewhere / "mine.csv")  # typed here: relative to here
    assert load_toml(path, {"dataset": "keras-imdb"}).dataset == "keras-imdb"


def test_flags_override_the_file_and_the_rest_comes_from_the_file(tmp_path):
    path = write(tmp_path, 'name = "from-file"\nepochs = 7\nsizes = [10, 20]\nseeds = 4\n')
    cfg = load_toml(path, {"epochs": "3", "sizes": "5, 15", "learning_rate": "0.01"})
    assert (cfg.name, cfg.epochs, cfg.sizes, cfg.seeds) == ("from-file", (3,), (5, 15), 4)
    assert cfg.learning_rate == (0.01,)
    assert cfg.embeddings == ("learned", "glove")  # neither file nor flag: the default


def test_an_experiment_table_is_accepted(tmp_path):
    path = write(tmp_path, "[experiment]\nepochs = 2\nembeddings = ['glove']\n")
    cfg = load_toml(path)
    assert (cfg.epochs, cfg.embeddings) == ((2,), ("glove",))


def test_command_line_strings_are_parsed_like_typed_values():
    cfg = from_mapping(
        {
            "sizes": "10,100",
            "embeddings": " learned , glove-tuned ",
            "epochs": " 4 ",
            "learning_rate": "5e-4",
            "glove": "",
        }
    )
    assert cfg.sizes == (10, 100)
    assert cfg.embeddings == ("learned", "glove-tuned")
    assert cfg.epochs == (4,)
    assert cfg.learning_rate == (5e-4,)
    assert cfg.glove is None


def test_replace_validates_and_keeps_the_rest():
    cfg = CUSTOM.replace(epochs=9)
    assert cfg.epochs == (9,) and dataclasses.replace(cfg, epochs=3) == CUSTOM
    with pytest.raises(ConfigError, match="epochs = 0"):
        CUSTOM.replace(epochs=0)


def test_a_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExperimentConfig().epochs = 2  # type: ignore[misc]


# -- messages: key, value, what is allowed --------------------------------------------------


def test_unknown_key_names_the_key_its_value_and_the_allowed_keys():
    message = error_of(epoch=3)
    assert message.startswith("unknown key 'epoch' = 3; allowed keys: name, dataset, sizes")
    for key in config_keys():
        assert key in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"epochs": "x"}, "epochs = 'x': expected a whole number"),
        ({"epochs": 2.5}, "epochs = 2.5: expected a whole number"),
        ({"epochs": True}, "epochs = True: expected a whole number"),
        ({"sizes": "10,ten"}, "sizes = 'ten': expected a whole number"),
        ({"sizes": 10}, "sizes = 10: expected a list, e.g. 10,50,100"),
        ({"embeddings": 3}, "embeddings = 3: expected a list, e.g. learned,glove"),
        ({"learning_rate": "fast"}, "learning_rate = 'fast': expected a number"),
        ({"name": 5}, "name = 5: expected a string"),
        ({"glove": 5}, "glove = 5: expected a path (a string)"),
    ],
)
def test_wrong_types_name_key_value_and_type(values, expected):
    assert error_of(**values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"sizes": "0"}, "sizes = 0: every size must be at least 1"),
        ({"sizes": "10,-5"}, "sizes = 10,-5: every size must be at least 1"),
        ({"sizes": "10,10"}, "sizes = 10,10: each size at most once"),
        ({"sizes": ""}, "sizes = : at least one training-set size, e.g. 10,50,100"),
        ({"epochs": 0}, "epochs = 0: must be between 1 and 10000"),
        ({"batch_size": 0}, "batch_size = 0: must be between 1 and 1000000"),
        ({"maxlen": 0}, "maxlen = 0: must be between 1 and 100000"),
        ({"vocab_size": 3}, "vocab_size = 3: must be between 4 and 10000000"),
        ({"seeds": 0}, "seeds = 0: must be between 1 and 1000"),
        ({"val_size": 0}, "val_size = 0: must be between 1 and 10000000"),
        ({"learning_rate": 0}, "learning_rate = 0.0: must be a finite number greater than 0"),
        ({"learning_rate": "inf"}, "learning_rate = inf: must be a finite number greater than 0"),
        ({"head": "dense"}, "head = 'dense': one of flatten, avgpool, conv1d, lstm"),
        ({"optimizer": "lbfgs"}, "optimizer = 'lbfgs': one of rmsprop, adam, sgd"),
        ({"subset": "last"}, "subset = 'last': one of random, first"),
        (
            {"embeddings": "learned,word2vec"},
            "embeddings: unknown arm 'word2vec'; allowed: learned, glove, glove-tuned",
        ),
        ({"embeddings": "glove,glove"}, "embeddings = glove,glove: each arm at most once"),
        ({"name": "a/b"}, "name = 'a/b': a non-empty name without slashes or control characters"),
        (
            {"name": "run\x1b[2J"},
            "name = 'run\\x1b[2J': a non-empty name without slashes or control characters",
        ),
        ({"name": "x" * 101}, "name: 101 characters; at most 100"),
    ],
)
def test_out_of_range_values_name_key_value_and_what_is_allowed(values, expected):
    assert error_of(**values) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"cpus_per_run": ""}, "cpus_per_run = '': expected a number"),
        ({"cpus_per_run": " "}, "cpus_per_run = ' ': expected a number"),
        ({"cpus_per_run": None}, "cpus_per_run = None: expected a number"),
        ({"seeds": ""}, "seeds = '': expected a whole number"),
    ],
)
def test_an_emptied_key_without_an_unset_state_is_refused_in_one_line(values, expected):
    """A cleared form field (or `--cpus-per-run ''`) is a one-line refusal for a key that
    has no unset state; `gpus_per_run` has one (unset: 1 if the cluster has GPUs)."""
    assert error_of(**values) == expected
    assert from_mapping({"gpus_per_run": ""}).gpus_per_run is None


def test_sizes_are_checked_against_the_training_split():
    cfg = ExperimentConfig(sizes=(10, 500, 900))
    check_sizes_fit(cfg, 900)  # fits exactly
    with pytest.raises(ConfigError) as info:
        check_sizes_fit(cfg, 400)
    assert str(info.value) == (
        "sizes = 10,500,900: 500 is larger than the 400 reviews of the training split"
    )


def test_config_errors_are_user_errors():
    assert issubclass(ConfigError, EmbtuiError)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("epochs = = 3\n", "not valid TOML"),
        ("epochs = 'ten'\n", "epochs = 'ten': expected a whole number"),
        ("colour = 'blue'\n", "unknown key 'colour' = 'blue'"),
    ],
)
def test_file_errors_are_one_line_config_errors(text, expected, tmp_path):
    with pytest.raises(ConfigError) as info:
        load_toml(write(tmp_path, text))
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.toml: no such experiment file"):
        load_toml(tmp_path / "missing.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.toml: cannot read"):
        load_toml(bad)


def test_every_key_has_one_line_of_help_shown_by_the_cli_and_the_form():
    from embtui.cli import build_parser
    from embtui.config import key_help

    run = build_parser()._subparsers._group_actions[0].choices["run"]
    shown = {a.dest: a.help for a in run._actions}
    for key in config_keys():
        text = key_help(key)
        assert text and "\n" not in text and len(text) < 100, key
        assert shown[f"cfg_{key}"] == text


# -- sweeps: any factor may be a list ---------------------------------------------------------


def test_any_factor_may_be_a_list_and_the_grid_is_their_product(tmp_path):
    path = write(
        tmp_path,
        'embeddings = ["learned", "glove"]\nhead = ["flatten", "avgpool"]\n'
        "learning_rate = [0.001, 0.01]\nsizes = [50, 500]\nseeds = 3\nepochs = 3\n",
    )
    cfg = load_toml(path)
    assert cfg.head == ("flatten", "avgpool") and cfg.learning_rate == (0.001, 0.01)
    assert cfg.varied() == ["embeddings", "head", "learning_rate"]
    assert cfg.grid_size == len(cfg.run_cells()) == 2 * 2 * 2 * 2 * 3 == 48
    arms = cfg.arms()
    assert [(a["embeddings"], a["head"], a["learning_rate"]) for a in arms[:3]] == [
        ("learned", "flatten", 0.001),
        ("learned", "flatten", 0.01),
        ("learned", "avgpool", 0.001),
    ]
    arm = cfg.arm(arms[-1])
    assert (arm.embedding, arm.head, arm.learning_rate, arm.epochs) == ("glove", "avgpool", 0.01, 3)
    assert arm.factors() == arms[-1]
    # The same grid from command-line strings, and a file that says it back.
    flags = from_mapping({"head": "flatten, avgpool", "learning_rate": "0.001,0.01"})
    assert (flags.head, flags.learning_rate) == (("flatten", "avgpool"), (0.001, 0.01))
    again = tmp_path / "again.toml"
    again.write_text(cfg.to_toml(), encoding="utf-8")
    assert load_toml(again) == cfg
    assert 'head = ["flatten", "avgpool"]' in cfg.to_toml()
    assert 'optimizer = "rmsprop"' in cfg.to_toml()  # one value: written bare, as typed


def test_a_grid_over_ten_thousand_runs_is_refused_naming_the_product():
    assert error_of(
        sizes="10,20,30,40,50",
        learning_rate="0.1,0.01,0.001,0.0001",
        batch_size="16,32,64",
        seeds="200",
    ) == (
        "the grid is 5 sizes x 2 embeddings x 4 learning_rate x 3 batch_size x 200 seeds "
        "= 24,000 runs, more than 10,000; list fewer values or seeds"
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"head": "flatten,flatten"}, "head = flatten,flatten: each value at most once"),
        ({"learning_rate": "0.01,-1"}, "learning_rate = -1.0: must be a finite number"),
        ({"epochs": "3,0"}, "epochs = 0: must be between 1 and 10000"),
        ({"head": "flatten,dense"}, "head = 'dense': one of flatten, avgpool, conv1d, lstm"),
    ],
)
def test_each_value_of_a_list_is_checked(values, message):
    assert error_of(**values).startswith(message)


def test_of_several_mistakes_the_first_in_the_forms_order_is_said():
    """One line per refusal: the first mistake in declaration order, the order the form
    lists its fields (and the first message its status line shows)."""
    assert error_of(subset="last", seeds=0) == "seeds = 0: must be between 1 and 1000"
    assert error_of(cpus_per_run=0, epochs=0) == "epochs = 0: must be between 1 and 10000"
    assert error_of(engine="fused", head="lstm", workers=0) == (
        "workers = 0: must be between 1 and 256"
    )


def test_the_help_of_each_key_that_takes_a_list_and_only_those_says_so():
    """The form once said "(or a list)" for some factors and not others: the words come from
    the declarations, so every key that takes a list says how, and no other key does."""
    from embtui.config import key_help

    for key in config_keys():
        text = key_help(key)
        says_list = text.endswith("; a list sweeps it") or "comma-separated" in text
        assert says_list == KEYS[key].many, key


def test_readme_has_a_row_for_every_key_and_no_other():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| key | default | meaning |") :].split("\n\n")[0]
    rows = [line.split("`")[1] for line in table.splitlines()[2:]]
    assert sorted(rows) == sorted(config_keys())
    for key in FACTOR_KEYS:  # the sweeps section names every factor
        assert f"`{key}`" in readme[readme.index("### Sweeps over any factor") :][:400], key
