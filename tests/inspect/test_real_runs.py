"""What real runs keep, on the 5,000 real IMDB reviews: learned and frozen-GloVe arms at
4,000 training reviews (issue 27's acceptance), recorded by `embtui run` and read back by
`embtui inspect` and the library."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from embtui.inspect import analysis as an
from embtui.inspect.kept import disk_usage, learned_folder_of
from embtui.inspect.view import load_run
from embtui.store import Store
from tests.helpers import REAL_CSV

pytestmark = pytest.mark.slow

#: Common review words of each sentiment, from the Hu & Liu opinion lexicon (words that
#: occur often in IMDB reviews).
POSITIVE_WORDS = (  # noqa: SIM905 (a word list reads best as words)
    "great excellent best wonderful love loved perfect beautiful amazing brilliant enjoyed "
    "favorite superb fantastic fun recommend masterpiece touching outstanding enjoy"
).split()
NEGATIVE_WORDS = (  # noqa: SIM905
    "bad worst awful terrible boring waste poor horrible stupid worse dull lame mess "
    "ridiculous pointless annoying disappointing crap weak poorly"
).split()
PROBES = ("good", "bad", "great", "boring", "acting")


@pytest.fixture(scope="module")
def recorded(run_cli, tmp_path_factory):
    if not REAL_CSV.exists():
        pytest.skip("the shared 5,000-review sample is not beside the project")
    folder = tmp_path_factory.mktemp("inspect")
    store = folder / "runs.sqlite"
    r = run_cli(
        [
            "run", "--store", str(store), "--dataset", str(REAL_CSV), "--sizes", "4000",
            "--embeddings", "learned,glove", "--seeds", "1", "--epochs", "4",
            "--val-size", "1000", "--maxlen", "100", "--vocab-size", "5000",
            "--embedding-dim", "32", "--name", "inspect", "--plain",
        ],
        timeout=600,
    )  # fmt: skip
    assert r.rc == 0, r.stderr
    return store


def test_kept_logits_reproduce_the_recorded_validation(recorded):
    with Store(recorded) as store:
        for run in store.runs(1):
            view = load_run(store, run.id)
            last = store.run_epochs(run.id)[-1]
            assert an.accuracy(view.kept.logits, view.shape.y_val) == last.val_acc
            loss = an.bce_from_logits(view.kept.logits, view.shape.y_val)
            assert loss == pytest.approx(last.val_loss, abs=1e-6)
            print(f"run {run.id} {run.embedding}: val_acc {last.val_acc}, |dloss| "
                  f"{abs(loss - last.val_loss):.2e}")  # fmt: skip


def test_neighbours_equal_a_brute_force_cosine_over_the_kept_table(recorded):
    with Store(recorded) as store:
        for run in store.runs(1):
            view = load_run(store, run.id)
            table = view.table.astype(np.float64)
            for word in PROBES:
                row = an.word_row(view.words, word)
                norms = np.linalg.norm(table, axis=1) * np.linalg.norm(table[row])
                sims = np.divide(  # a GloVe row of a word GloVe lacks is zero: similarity 0
                    table @ table[row], norms, out=np.zeros(len(table)), where=norms > 0
                )
                candidates = [i for i in range(4, len(view.words)) if view.words[i] and i != row]
                best = sorted(candidates, key=lambda i: -sims[i])[:6]
                got = an.neighbours(view.table, view.words, word, k=6)
                assert [n.word for n in got] == [view.words[i] for i in best]
                assert [n.similarity for n in got] == pytest.approx(sims[best].tolist())


def test_the_learned_run_reads_positive_words_above_negative_ones(recorded):
    with Store(recorded) as store:
        learned = next(r for r in store.runs(1) if r.embedding == "learned")
        view = load_run(store, learned.id)
    scores = view.scores()
    index = {w: i for i, w in enumerate(view.words) if w}
    pos = [scores[index[w]] for w in POSITIVE_WORDS if w in index]
    neg = [scores[index[w]] for w in NEGATIVE_WORDS if w in index]
    assert len(pos) >= 15 and len(neg) >= 15
    print(f"learned: mean score of {len(pos)} positive words {np.mean(pos):+.4f}, "
          f"of {len(neg)} negative words {np.mean(neg):+.4f}")  # fmt: skip
    assert np.mean(pos) > np.mean(neg)


def test_inspect_prints_both_reports_and_writes_projector_files(recorded, run_cli, tmp_path):
    from tensorboard.plugins.projector import projector_plugin as plugin

    with Store(recorded) as store:
        runs = {r.embedding: r.id for r in store.runs(1)}
        table = load_run(store, runs["learned"]).table
    out_dir = tmp_path / "projector"
    r = run_cli(
        ["inspect", str(runs["learned"]), "--against", str(runs["glove"]), "--store",
         str(recorded), "--projector", str(out_dir)]
    )  # fmt: skip
    assert r.rc == 0, r.stderr
    assert "most positive:" in r.stdout and "nearest neighbours (cosine):" in r.stdout
    assert "accuracy" in r.stdout and "disagree on" in r.stdout
    assert "their text from the data file" in r.stdout
    p = plugin.ProjectorPlugin.__new__(plugin.ProjectorPlugin)
    configs, paths = p._read_latest_config_files([("export", str(out_dir))])
    tensors = {e.tensor_name: e for e in configs["export"].embeddings}
    assert len(tensors) == 2
    learned = next(e for name, e in tensors.items() if "learned" in name)
    rows = plugin._read_tensor_tsv_file(
        plugin._rel_to_abs_asset_path(learned.tensor_path, paths["export"])
    )
    assert np.array_equal(rows, table)


def test_the_markdown_report_says_what_the_models_learned(recorded, run_cli):
    """The report's section: per arm its errors, its top words and the probes' neighbours,
    the same numbers the library computes from the kept arrays."""
    from embtui.inspect.summary import learned_summary

    r = run_cli(["export", "1", "--store", str(recorded), "-o", "-", "--figures", "none"])
    assert r.rc == 0, r.stderr
    section = r.stdout.split("## What the models learned")[1].split("\n## ")[0]
    with Store(recorded) as store:
        learned = learned_summary(store, [(run, run.embedding) for run in store.runs(1)])
    assert learned is not None and learned.size == 4000
    for arm in learned.arms:
        row = next(line for line in section.splitlines() if line.startswith(f"| {arm.arm} |"))
        assert f"{arm.errors_mean:.1f} of 1000" in row
        assert ", ".join(w.word for w in arm.positive[:3]) in row
    assert "| good |" in section
    agree = learned.agreement[("learned", "glove")]
    assert f"learned and glove: {agree:.1%}" in section


def test_disk_used_and_removal(recorded, run_cli, tmp_path):
    """On a copy of the store and its files (the other tests read the original)."""
    copy = tmp_path / "copy.sqlite"
    shutil.copy(recorded, copy)
    shutil.copytree(learned_folder_of(recorded), learned_folder_of(copy))
    used = disk_usage(copy)
    print(f"kept files of a 2-run grid: {used / 1e6:.2f} MB")
    assert used == disk_usage(recorded) > 0
    r = run_cli(["list", "--store", str(copy)])
    assert r.rc == 0, r.stderr
    assert f"{used / 1e6:.1f} MB kept for embtui inspect" in r.stdout
    r = run_cli(["rm", "1", "--yes", "--store", str(copy)])
    assert r.rc == 0, r.stderr
    assert list(learned_folder_of(copy).glob("*")) == []
    assert disk_usage(recorded) == used  # the original untouched
