"""Runs that end at once keep their files: a fused grid trains two runs at once in threads,
a TensorFlow grid in two worker processes; every done run has its file and its shape's."""

from __future__ import annotations

import pytest

from embtui.inspect.kept import load, load_shape
from embtui.store import Store
from tests.helpers import TINY_GRID, flags

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["fused", "tensorflow"])
def test_every_run_of_a_two_worker_grid_keeps_its_arrays(tiny, run_cli, tmp_path, engine):
    store = tmp_path / "s.sqlite"
    grid = {**TINY_GRID, "embeddings": "learned,glove-tuned", "seeds": "3"}
    r = run_cli(
        ["run", "--plain", "--store", str(store), "--dataset", str(tiny.csv),
         "--glove", str(tiny.glove), "--workers", "2", "--engine", engine, *flags(**grid)],
        timeout=600,
    )  # fmt: skip
    assert r.rc == 0, r.stderr
    assert "not kept" not in r.stderr
    with Store(store) as s:
        runs = s.runs(1)
        assert [run.status for run in runs] == ["done"] * 12
        for run in runs:
            kept = load(store, run.id)
            assert kept is not None, run.id
            assert kept.logits.shape == (20,)
            assert (kept.table is not None) == (run.seed == 0), (run.id, run.seed)
        assert load_shape(store, 1, 200, 20) is not None
    folder = store.parent / "s.sqlite.learned"
    names = sorted(p.name for p in folder.iterdir())  # no temporary file left behind
    assert names == sorted([f"run-{i}.npz" for i in range(1, 13)] + ["experiment-1-200x20.npz"])
