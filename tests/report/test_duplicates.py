"""Runs that are the same computation count once in every report, and pools say so.

The stores here are written through the store's own API with the fingerprints an
experiment records (`meta.fingerprint`), so that each case is exact: which runs repeat
which, and what the statistics become. `tests/test_sweeps.py` and the slow test at the end
check the same on experiments that really trained.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from embtui.config import ExperimentConfig
from embtui.export import render
from embtui.factors import RunValue, summarize_sweep
from embtui.report.model import build_report
from embtui.store import EpochMetrics, Store
from tests.helpers import flags

#: Final val_acc per (size, arm, seed): seeds 0-2 and 3-5 differ, so a pool that counted a
#: repeat twice would show a different mean and interval from one that did not.
VALUES = {
    (10, "learned"): [0.52, 0.55, 0.50, 0.58, 0.51, 0.56],
    (10, "glove"): [0.57, 0.54, 0.60, 0.53, 0.59, 0.61],
    (200, "learned"): [0.66, 0.63, 0.69, 0.62, 0.67, 0.64],
    (200, "glove"): [0.64, 0.65, 0.61, 0.66, 0.60, 0.63],
}


def fingerprint(train: str = "t" * 32, val: str = "v" * 32, **extra: Any) -> dict[str, Any]:
    """An experiment's recorded fingerprint, per shape as embtui records it now."""
    return {
        "train": train,
        "val": val,
        "val_reviews": "r" * 32,
        "glove": "g" * 32,
        "shapes": {"10000x150": {"train": train, "val": val}},
        "gloves": {"10000": "g" * 32},
        **extra,
    }


def record(
    store: Store,
    config: ExperimentConfig,
    fp: dict[str, Any] | None,
    value: Any = None,
) -> int:
    """An experiment whose runs end at VALUES[(size, arm)][seed] (or `value(run)`)."""
    meta: dict[str, Any] = {"chance": 0.5}
    if fp is not None:
        meta["fingerprint"] = fp
    exp = store.create_experiment(config.name, config.to_dict(), config.run_cells(), meta=meta)
    for run in store.runs(exp):
        v = value(run) if value else VALUES[(run.size, run.embedding)][run.seed]
        store.start_run(run.id, device="CPU", params=1, coverage=None)
        store.add_epoch(EpochMetrics(run.id, 1, 0.7, 0.5, 0.69, v - 0.01, 0.1))
        store.add_epoch(EpochMetrics(run.id, 2, 0.6, 0.6, 0.68, v, 0.1))
        store.finish_run(run.id, "done")
    store.set_experiment_status(exp, "done")
    return exp


GRID = ExperimentConfig(name="a", dataset="/data/a/imdb.csv", sizes=(10, 200), seeds=3, epochs=2)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite") as s:
        yield s


def numbers(report) -> list[tuple]:
    s = report.summary
    return [(g.size, g.arm, g.n, g.mean, g.ci_low, g.ci_high) for g in s.groups] + [
        (c.size, c.arm_a, c.arm_b, c.diff, c.p, c.p_holm, c.verdict) for c in s.comparisons
    ]


def test_a_pool_of_two_identical_experiments_gives_the_numbers_of_one(store):
    a = record(store, GRID, fingerprint())
    b = record(store, GRID.replace(name="b"), fingerprint())
    alone, pooled = build_report(store, a), build_report(store, [a, b])
    assert numbers(pooled) == numbers(alone)
    assert all(g.n == 3 for g in pooled.summary.groups)
    assert len(pooled.duplicates.set_aside) == 12
    assert {d.run.experiment_id for d in pooled.duplicates.set_aside} == {b}
    assert {d.kept.experiment_id for d in pooled.duplicates.set_aside} == {a}
    assert pooled.duplicates.largest_difference == 0.0
    lines = pooled.duplicate_lines()
    assert lines[0] == (
        f"Experiment {b} adds no runs: all 12 of its finished runs repeat runs of "
        f"experiment {a}, so each is counted once."
    )
    assert "0 (identical)" in lines[1]
    md = render(pooled, "md")
    assert f"- Counted once: Experiment {b} adds no runs" in md
    runs = {r["id"]: r for r in json.loads(render(pooled, "json"))["runs"]}
    set_aside = [r for r in runs.values() if r["duplicate_of"] is not None]
    assert len(set_aside) == 12 and all(r["experiment"] == b for r in set_aside)
    assert all(runs[r["duplicate_of"]]["experiment"] == a for r in set_aside)


def test_seeds_from_first_seed_add_distinct_runs_to_a_pool(store):
    a = record(store, GRID, fingerprint())
    c = record(store, GRID.replace(name="c", first_seed=3), fingerprint())
    assert [r.seed for r in store.runs(c)][:3] == [3, 4, 5]
    pooled = build_report(store, [a, c])
    assert pooled.duplicates.set_aside == ()
    assert pooled.duplicate_lines() == []
    for g in pooled.summary.groups:
        assert g.n == 6
        assert list(g.values) == VALUES[(g.size, g.arm)]


def test_part_of_a_pool_repeating_another_experiment_is_set_aside_and_named(store):
    a = record(store, GRID, fingerprint())
    d = record(store, GRID.replace(name="d", seeds=4), fingerprint())  # seeds 0-3
    pooled = build_report(store, [a, d])
    assert [g.n for g in pooled.summary.groups] == [4, 4, 4, 4]
    assert pooled.duplicate_lines()[0] == (
        f"12 finished runs of experiment {d} repeat runs of experiment {a} (the same data, "
        "settings, size and seed) and are set aside."
    )


def test_last_bit_differences_are_measured_not_counted(store):
    a = record(store, GRID, fingerprint())
    b = record(
        store,
        GRID.replace(name="b"),
        fingerprint(),
        value=lambda run: VALUES[(run.size, run.embedding)][run.seed] + 3e-8,
    )
    pooled = build_report(store, [a, b])
    assert len(pooled.duplicates.set_aside) == 12
    assert pooled.duplicates.largest_difference == pytest.approx(3e-8, rel=1e-3)
    assert "is 3e-08." in pooled.duplicate_lines()[-1]


def test_different_training_data_under_one_file_name_is_a_factor_not_a_pool(store):
    a = record(store, GRID, fingerprint(train="a" * 32))
    # b/imdb.csv: the same validation reviews, other training labels.
    b = record(
        store,
        GRID.replace(name="b", dataset="/data/b/imdb.csv"),
        fingerprint(train="b" * 32),
    )
    pooled = build_report(store, [a, b])
    assert pooled.duplicates.set_aside == ()
    assert "dataset" in pooled.factors
    arms = set(pooled.summary.arms)
    assert arms == {
        "learned dataset=imdb.csv#aaaaaaaa",
        "glove dataset=imdb.csv#aaaaaaaa",
        "learned dataset=imdb.csv#bbbbbbbb",
        "glove dataset=imdb.csv#bbbbbbbb",
    }
    assert all(g.n == 3 for g in pooled.summary.groups)


def test_the_same_data_under_two_file_names_pools_as_one(store):
    a = record(store, GRID, fingerprint())
    b = record(store, GRID.replace(name="b", dataset="/elsewhere/copy.csv"), fingerprint())
    pooled = build_report(store, [a, b])
    assert "dataset" not in pooled.factors
    assert numbers(pooled) == numbers(build_report(store, a))


def test_a_sweep_and_a_one_shape_experiment_match_per_shape(store):
    sweep = GRID.replace(name="sweep", maxlen=(150, 300))
    fp = fingerprint(train="w" * 32, val="x" * 32)  # the hash over both shapes
    fp["shapes"] = {
        "10000x150": {"train": "t" * 32, "val": "v" * 32},
        "10000x300": {"train": "u" * 32, "val": "y" * 32},
    }
    s = record(
        store,
        sweep,
        fp,
        value=lambda run: (
            VALUES[(run.size, run.embedding)][run.seed]
            + (0.0 if run.factors["maxlen"] == 150 else 0.1)
        ),
    )
    one = record(store, GRID.replace(name="one"), fingerprint())  # maxlen 150, hash t/v
    pooled = build_report(store, [s, one])
    assert len(pooled.duplicates.set_aside) == 12
    assert {d.run.experiment_id for d in pooled.duplicates.set_aside} == {one}
    assert all(d.kept.factors["maxlen"] == 150 for d in pooled.duplicates.set_aside)


def test_an_older_sweep_is_matched_on_its_whole_data_hash_and_says_so(store):
    old = fingerprint(train="w" * 32, val="x" * 32)
    del old["shapes"], old["gloves"]
    s = record(store, GRID.replace(name="old-sweep", maxlen=(150, 300)), old)
    one = record(store, GRID.replace(name="one"), fingerprint())
    pooled = build_report(store, [s, one])
    assert pooled.duplicates.set_aside == ()
    assert pooled.duplicates.whole_data == (s,)
    assert any("one data hash over all the shapes" in line for line in pooled.duplicate_lines())


def test_an_older_one_shape_experiment_matches_a_new_one(store):
    old = fingerprint()
    del old["shapes"], old["gloves"]
    a = record(store, GRID, old)
    b = record(store, GRID.replace(name="b"), fingerprint())
    assert len(build_report(store, [a, b]).duplicates.set_aside) == 12


def test_runs_of_other_engines_are_not_the_same_computation(store):
    a = record(store, GRID, fingerprint())
    b = record(store, GRID.replace(name="b"), fingerprint())
    store.update_meta(b, engine="fused")
    pooled = build_report(store, [a, b])
    assert pooled.duplicates.set_aside == ()
    assert "engine" in pooled.factors
    # ...but they agree to the last bits, and the report says that a pool over both
    # engines counts each such pair twice.
    assert len(pooled.duplicates.other_engine) == 12
    (line,) = [x for x in pooled.duplicate_lines() if x.startswith("Runs trained by another")]
    assert f"12 of experiment {b} repeat runs of experiment {a}" in line
    assert "compare one engine at a time" in line


def test_a_shape_whose_hashes_were_not_recorded_is_never_alike(store):
    fp = fingerprint()
    fp["shapes"] = {"400x80": {"train": "x" * 32, "val": "y" * 32}}  # not this grid's shape
    a = record(store, GRID, fp)
    b = record(store, GRID.replace(name="b"), fp)
    pooled = build_report(store, [a, b])
    assert pooled.duplicates.set_aside == ()
    assert pooled.duplicates.unchecked == (a, b)


def test_runs_without_a_fingerprint_are_never_merged(store):
    a = record(store, GRID, None)
    b = record(store, GRID.replace(name="b"), None)
    alone = build_report(store, a)
    assert alone.duplicates.unchecked == (a,)
    assert alone.duplicate_lines() == []  # alone, its runs are its own distinct cells
    assert all(g.n == 3 for g in alone.summary.groups)
    with pytest.raises(Exception, match="no record of its validation reviews"):
        build_report(store, [a, b])


# -- factors that do not apply to every arm ------------------------------------------------


def test_embedding_dim_makes_no_glove_arms_and_the_grid_counts_them_once():
    cfg = ExperimentConfig(
        sizes=(10, 50),
        embeddings=("learned", "glove", "glove-tuned"),
        embedding_dim=(8, 32),
        seeds=2,
    )
    arms = [(a["embeddings"], a["embedding_dim"]) for a in cfg.arms()]
    assert arms == [("learned", 8), ("learned", 32), ("glove", None), ("glove-tuned", None)]
    assert cfg.grid_size == len(cfg.run_cells()) == 2 * 4 * 2
    # A resumed run whose factor does not apply still builds: the model ignores its value.
    assert cfg.arm({"embeddings": "glove", "embedding_dim": None}).embedding_dim == 8


def test_first_seed_is_validated_recorded_and_read_back():
    from embtui.config import from_mapping
    from embtui.errors import ConfigError

    cfg = from_mapping({"first_seed": "3", "seeds": 2})
    assert [seed for *_, seed in cfg.run_cells()][:2] == [3, 4]
    assert from_mapping(cfg.to_dict()) == cfg
    assert "first_seed = 3" in cfg.to_toml()
    for bad in ("-1", "x", "2.5"):
        with pytest.raises(ConfigError, match="first_seed"):
            from_mapping({"first_seed": bad})
    # A recorded configuration from before first_seed existed starts at seed 0.
    assert from_mapping({"seeds": 2}).first_seed == 0


def test_an_older_sweep_that_trained_glove_per_dim_counts_it_once(store):
    """Recorded before the rule: GloVe trained once per embedding_dim, identical runs."""
    cfg = GRID.replace(name="old-dims", embedding_dim=(8, 32))
    meta = {"chance": 0.5, "fingerprint": fingerprint()}
    cells = [
        (size, {**arm, "embedding_dim": dim}, seed)
        for size in cfg.sizes
        for arm in ({"embeddings": "learned"}, {"embeddings": "glove"})
        for dim in (8, 32)
        for seed in range(3)
    ]
    full = [(s, {**cfg.arms()[0], **f}, seed) for s, f, seed in cells]
    exp = store.create_experiment(cfg.name, cfg.to_dict(), full, meta=meta)
    for run in store.runs(exp):
        dim = run.factors["embedding_dim"]
        v = VALUES[(run.size, run.embedding)][run.seed]
        if run.embedding == "learned" and dim == 32:
            v += 0.05
        store.start_run(run.id, device="CPU", params=1, coverage=None)
        store.add_epoch(EpochMetrics(run.id, 1, 0.6, 0.6, 0.68, v, 0.1))
        store.finish_run(run.id, "done")
    report = build_report(store, exp)
    assert report.summary.arms == ("learned dim=8", "learned dim=32", "glove")
    assert all(g.n == 3 for g in report.summary.groups)
    assert len(report.duplicates.set_aside) == 6  # glove dim=32 repeats glove dim=8
    assert all(d.run.embedding == "glove" for d in report.duplicates.set_aside)
    lines = report.duplicate_lines()
    assert lines[0].startswith("6 finished runs of experiment")
    assert "other runs of the same experiment" in lines[0]
    effects = {(e.factor, e.level): e for e in report.sweep.effects}
    dim = effects[("embedding_dim", "dim=32")]
    assert dim.n_pairs == 6  # learned only: 2 sizes x 3 seeds
    assert dim.diff == pytest.approx(0.05)
    assert dim.scope == "over the learned runs (embedding_dim does not apply to glove)"
    glove = effects[("embeddings", "glove")]
    assert glove.n_pairs == 6  # each glove run paired once, with learned at dim=8
    assert glove.scope == "embedding_dim at dim=8 where it applies"
    md = render(report, "md")
    assert "- embedding_dim: over the learned runs" in md


def test_the_main_effect_of_a_factor_is_computed_where_it_applies():
    runs = [
        RunValue(10, seed, {"embeddings": arm, "embedding_dim": dim}, value)
        for seed in range(3)
        for arm, dim, value in (
            ("learned", 8, 0.5 + seed / 100),
            ("learned", 32, 0.6 + seed / 50),
            ("glove", None, 0.7),
        )
    ]
    sweep = summarize_sweep(runs)
    assert sweep.arms == ("learned dim=8", "learned dim=32", "glove")
    by = {(e.factor, e.level): e for e in sweep.effects}
    assert by[("embedding_dim", "dim=32")].n_pairs == 3
    assert by[("embedding_dim", "dim=32")].diff == pytest.approx(0.1 + 0.01)
    assert by[("embeddings", "glove")].diff == pytest.approx(0.7 - 0.51)


@pytest.mark.slow
def test_real_experiments_on_one_csv_pool_without_counting_a_run_twice(tmp_path, tiny):
    """Trained for real: two experiments with the same seeds, one from first_seed 3, and a
    sweep over embedding_dim that trains GloVe once."""
    from embtui.cli import main as cli

    store = tmp_path / "store.sqlite"
    grid = {"sizes": "8,16", "embeddings": "learned,glove", "epochs": "2", "seeds": "2"}
    base = ["run", "--plain", "--store", str(store)]
    common = flags(dataset=tiny.csv, glove=tiny.glove, val_size="24", **grid)
    assert cli([*base, *common, "--name", "a"]) == 0
    assert cli([*base, *common, "--name", "b"]) == 0
    assert cli([*base, *common, "--name", "c", "--first-seed", "2"]) == 0
    assert cli([*base, *common, "--name", "dims", "--embedding-dim", "4,8"]) == 0
    with Store(store, create=False) as s:
        assert numbers(build_report(s, [1, 2])) == numbers(build_report(s, 1))
        assert len(build_report(s, [1, 2]).duplicates.set_aside) == 8
        pooled = build_report(s, [1, 3])
        assert [g.n for g in pooled.summary.groups] == [4, 4, 4, 4]
        assert pooled.duplicates.set_aside == ()
        assert [r.embedding for r in s.runs(4)].count("glove") == 4  # not 8
        dims = build_report(s, 4)
        assert dims.summary.arms == ("learned dim=4", "learned dim=8", "glove")


def test_an_unrelated_factor_keeps_every_pair_where_embedding_dim_does_not_apply():
    """The effect of `head` pairs glove with glove and learned dim=8 with dim=8, dim=32
    with dim=32: every run once, not only those at the first embedding_dim."""
    runs = [
        RunValue(10, seed, {"embeddings": arm, "embedding_dim": dim, "head": head}, value)
        for seed in range(3)
        for head, shift in (("flatten", 0.0), ("avgpool", 0.05))
        for arm, dim, value in (
            ("learned", 8, 0.5 + shift),
            ("learned", 32, 0.6 + shift),
            ("glove", None, 0.7 + shift),
        )
    ]
    by = {(e.factor, e.level): e for e in summarize_sweep(runs).effects}
    head = by[("head", "avgpool")]
    assert head.n_pairs == 9 and head.scope == ""
    assert head.diff == pytest.approx(0.05)
    assert by[("embeddings", "glove")].n_pairs == 6  # each glove run with learned dim=8


def test_the_epoch_csv_of_a_pool_marks_the_runs_set_aside(store):
    import io

    import pandas as pd

    a = record(store, GRID, fingerprint())
    b = record(store, GRID.replace(name="b"), fingerprint())
    frame = pd.read_csv(io.StringIO(render(build_report(store, [a, b]), "csv")))
    counted = frame[frame["duplicate_of"].isna()]
    assert set(counted["experiment"]) == {a}
    assert set(frame[frame["duplicate_of"].notna()]["experiment"]) == {b}
    assert len(frame.columns) == len(set(frame.columns))
    alone = pd.read_csv(io.StringIO(render(build_report(store, a), "csv")))
    assert "duplicate_of" not in alone.columns  # nothing set aside: the usual columns


def test_the_console_and_list_name_an_older_sweeps_glove_arm_as_the_report_does(store):
    """GloVe trained once per embedding_dim before the rule: one arm, `glove`, everywhere."""
    from embtui.app.view_state import load_runs
    from embtui.listing import experiment_runs

    cfg = GRID.replace(name="old-dims", embedding_dim=(8, 32), sizes=(10,), seeds=1)
    full = [
        (10, {**cfg.arms()[0], "embeddings": arm, "embedding_dim": dim}, 0)
        for arm in ("learned", "glove")
        for dim in (8, 32)
    ]
    exp = store.create_experiment(cfg.name, cfg.to_dict(), full, meta={"chance": 0.5})
    names = {r.arm for r in load_runs(store, store.experiment(exp))}
    listed = {r["arm"] for r in experiment_runs(store, exp)["runs"]}
    assert names == listed == {"learned dim=8", "learned dim=32", "glove"}
