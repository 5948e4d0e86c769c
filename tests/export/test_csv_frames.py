"""Every CSV export loads into pandas as it is: unique column names, one column per factor
that varies, an `experiment` column when experiments are pooled, numbers as numbers.

Stores are recorded without training (`tests.helpers.record_experiment`); the numbers are
checked against the store's own values.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from embtui.config import ExperimentConfig
from embtui.export import render
from embtui.report.model import build_report
from embtui.store import Store
from tests.helpers import record_experiment

NUMERIC_EPOCH = ("epoch", "acc", "loss", "val_acc", "val_loss", "seconds", "run_id", "size", "seed")
NUMERIC_CELL = ("size", "n", "mean", "sd", "ci_low", "ci_high", "final_val_acc_mean")


def value(size: int, factors: dict, seed: int) -> float:
    """A run's final val_acc: each factor value shifts it a little, and so does the seed."""
    shift = 0.02 * (factors["embeddings"] == "glove") + 0.01 * (factors["head"] == "avgpool")
    return round(0.5 + size / 1000 + shift + 0.003 * seed + 0.5 * factors["learning_rate"], 6)


def record_sweep(store: Store, name: str, seeds: int = 2) -> int:
    cfg = ExperimentConfig(
        name=name,
        sizes=(10, 20),
        embeddings=("learned", "glove"),
        head=("flatten", "avgpool"),
        learning_rate=(0.01, 0.001),
        seeds=seeds,
        epochs=2,
    )
    runs = [(s, f, seed, value(s, f, seed)) for s, f, seed in cfg.run_cells()]
    meta = {"chance": 0.5, "fingerprint": {"val_reviews": "same"}}
    return record_experiment(store, name, cfg.to_dict(), runs, meta=meta)


def frames(path: Path, ids: int | list[int]) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Store(path, create=False) as store:
        report = build_report(store, ids)
        texts = [render(report, fmt) for fmt in ("csv", "summary-csv")]
    for text in texts:
        header = text.splitlines()[0].split(",")
        assert len(header) == len(set(header)), f"duplicate column names: {header}"
    epochs, cells = (pd.read_csv(io.StringIO(t)) for t in texts)
    for frame in (epochs, cells):
        assert not any("." in str(c) for c in frame.columns), list(frame.columns)
    return epochs, cells


def check_numeric(frame: pd.DataFrame, columns: tuple[str, ...]) -> None:
    for column in columns:
        assert pd.api.types.is_numeric_dtype(frame[column]), (column, frame[column].dtype)


@pytest.fixture
def sweep_store(tmp_path) -> Path:
    path = tmp_path / "sweep.sqlite"
    with Store(path) as store:
        record_sweep(store, "sweep")  # 2 sizes x 8 arms x 2 seeds
        record_sweep(store, "again")
    return path


def test_a_sweep_exports_one_column_per_factor_and_no_column_twice(sweep_store):
    epochs, cells = frames(sweep_store, 1)
    assert list(epochs.columns).count("head") == 1
    assert {"embeddings", "learning_rate"} <= set(epochs.columns)
    assert "experiment" not in epochs.columns and "experiment" not in cells.columns
    check_numeric(epochs, (*NUMERIC_EPOCH, "learning_rate"))
    # Each run's factor columns are its own values, and its final epoch its value.
    finals = epochs[epochs.epoch == 2]
    assert len(finals) == 32
    for row in finals.itertuples():
        factors = {
            "embeddings": row.embeddings,
            "head": row.head,
            "learning_rate": row.learning_rate,
        }
        assert row.val_acc == value(row.size, factors, row.seed)
    assert list(cells.columns[:5]) == ["size", "arm", "embeddings", "head", "learning_rate"]
    check_numeric(cells, (*NUMERIC_CELL, "learning_rate"))
    assert len(cells) == 16
    for row in cells.itertuples():
        factors = {
            "embeddings": row.embeddings,
            "head": row.head,
            "learning_rate": row.learning_rate,
        }
        expected = [value(row.size, factors, seed) for seed in range(2)]
        assert row.n == 2
        assert row.mean == pytest.approx(sum(expected) / 2)
        assert row.embeddings in row.arm and row.head in row.arm


def test_a_pool_says_which_experiment_each_run_and_cell_came_from(sweep_store):
    epochs, cells = frames(sweep_store, [1, 2])
    assert set(epochs.experiment) == {1, 2}
    check_numeric(epochs, (*NUMERIC_EPOCH, "experiment", "learning_rate"))
    with Store(sweep_store, create=False) as store:
        recorded = {r.id: r.experiment_id for e in (1, 2) for r in store.runs(e)}
    assert {row.run_id: row.experiment for row in epochs.itertuples()} == recorded
    check_numeric(cells, (*NUMERIC_CELL, "learning_rate"))
    # Each cell names the experiments its runs came from, as the per-epoch rows do.
    sources = epochs.groupby(["size", "arm"]).experiment.unique()
    for row in cells.itertuples():
        ids = sorted(sources[(row.size, row.arm)])
        assert str(row.experiment) == "+".join(map(str, ids))
        assert row.n == 2 * len(ids)
    assert set(cells.experiment.astype(str)) <= {"1", "2", "1+2"}


def test_a_pool_of_one_arm_experiments_names_each_cells_experiment(tmp_path):
    """A learned-only and a GloVe-only experiment: each cell comes from one of them."""
    path = tmp_path / "pool.sqlite"
    meta = {"chance": 0.5, "fingerprint": {"val_reviews": "same"}}
    with Store(path) as store:
        for arm in ("learned", "glove"):
            cfg = ExperimentConfig(name=arm, sizes=(10, 20), embeddings=(arm,), seeds=3, epochs=2)
            runs = [
                (s, f, seed, value(s, {**f, "learning_rate": 0.01}, seed))
                for s, f, seed in cfg.run_cells()
            ]
            record_experiment(store, arm, cfg.to_dict(), runs, meta=meta)
    epochs, cells = frames(path, [1, 2])
    check_numeric(epochs, (*NUMERIC_EPOCH, "experiment"))
    check_numeric(cells, (*NUMERIC_CELL, "experiment"))
    assert {(row.arm, row.experiment) for row in cells.itertuples()} == {
        ("learned", 1),
        ("glove", 2),
    }
    assert dict(epochs.groupby("arm").experiment.unique().map(list)) == {
        "learned": [1],
        "glove": [2],
    }
