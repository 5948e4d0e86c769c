"""TensorBoard event files: what `export_tensorboard` and `RunEventLog` write, read back with
TensorFlow's own event reader and compared with the store's epochs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from embtui.errors import EmbtuiError
from embtui.export import FORMATS, TEXT_FORMATS, export_tensorboard, render
from embtui.export.tensorboard import OWNER_FILE, RunEventLog
from embtui.report.model import build_report
from embtui.store import EpochMetrics, Store
from tests.helpers import lazy_module_or_skip

tf = lazy_module_or_skip("tensorflow")  # imported at first use, not by collecting
pytestmark = pytest.mark.tensorflow

ROOT = Path(__file__).resolve().parents[2]


def read_events(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of one folder: tag -> [(step, value)] in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    files = sorted(folder.glob("events.out.tfevents.*"))
    assert files, f"no event file in {folder}"
    for path in files:
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                assert value.metadata.plugin_data.plugin_name == "scalars"
                scalar = float(tf.make_ndarray(value.tensor))
                out.setdefault(value.tag, []).append((event.step, scalar))
    return out


def metrics(run_id: int, epoch: int, base: float) -> EpochMetrics:
    """Distinct values per run and epoch that float32 does not hold exactly."""
    return EpochMetrics(
        run_id,
        epoch,
        loss=0.7 - base - epoch / 97,
        acc=0.5 + base + epoch / 89,
        val_loss=0.71 - base - epoch / 83,
        val_acc=0.49 + base + epoch / 79,
        seconds=0.25 * epoch,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    """Experiment 1, "tiny grid": three runs with 3 epochs each and one that failed first."""
    s = Store(tmp_path / "store.sqlite")
    cells = [(10, "learned", 0), (10, "glove", 0), (20, "learned", 1), (20, "glove", 1)]
    config = {"embeddings": ["learned", "glove"]}
    exp = s.create_experiment("tiny grid", config, cells, head="flatten")
    for k, run in enumerate(s.runs(exp)):
        s.start_run(run.id, device="CPU", params=10, coverage=None)
        if (run.size, run.embedding) == (20, "glove"):
            s.finish_run(run.id, "failed", "ValueError: boom")
            continue
        for epoch in (1, 2, 3):
            s.add_epoch(metrics(run.id, epoch, k / 31))
        s.finish_run(run.id, "done")
    yield s
    s.close()


def run_folders(folder: Path) -> list[str]:
    """The run folders TensorBoard shows (the owner file starts with a dot, so it hides it)."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_export_writes_the_store_epochs_in_keras_layout(store, tmp_path):
    out = tmp_path / "tb"
    folder = export_tensorboard(store, 1, out)
    assert folder == out / "tiny grid-1"
    assert json.loads((folder / OWNER_FILE).read_text()) == {
        "store": str(store.path.resolve()),
        "experiment": 1,
    }
    assert run_folders(folder) == [
        "size10-glove-seed0",
        "size10-learned-seed0",
        "size20-learned-seed1",
    ]
    epochs = store.epochs(1)
    checked = 0
    for run in store.runs(1):
        if run.status != "done":
            continue
        run_dir = folder / f"size{run.size}-{run.embedding}-seed{run.seed}"
        assert run_folders(run_dir) == ["train", "validation"]
        train, val = read_events(run_dir / "train"), read_events(run_dir / "validation")
        assert set(train) == set(val) == {"epoch_loss", "epoch_accuracy"}
        stored = epochs[run.id]
        for tag, events, field in (
            ("epoch_loss", train, "loss"),
            ("epoch_accuracy", train, "acc"),
            ("epoch_loss", val, "val_loss"),
            ("epoch_accuracy", val, "val_acc"),
        ):
            assert [step for step, _ in events[tag]] == [1, 2, 3]
            expected = [getattr(m, field) for m in stored]
            assert [v for _, v in events[tag]] == pytest.approx(expected, abs=1e-6)
            checked += 1
    assert checked == 3 * 4


def test_exporting_again_replaces_the_events_instead_of_adding_to_them(store, tmp_path):
    out = tmp_path / "tb"
    export_tensorboard(store, 1, out)
    export_tensorboard(store, 1, out)
    run = store.runs(1)[0]
    events = read_events(out / "tiny grid-1" / "size10-learned-seed0" / "validation")
    assert [step for step, _ in events["epoch_accuracy"]] == [1, 2, 3]
    assert len(list((out / "tiny grid-1" / "size10-learned-seed0" / "train").iterdir())) == 1
    assert events["epoch_accuracy"][0][1] == pytest.approx(store.run_epochs(run.id)[0].val_acc)


def test_a_run_log_is_readable_after_each_epoch_and_a_restart_removes_the_old_one(store, tmp_path):
    experiment, run = store.experiment(1), store.runs(1)[0]
    log = RunEventLog(tmp_path, experiment, run)
    assert log.path == tmp_path / "tiny grid-1" / "size10-learned-seed0"
    for epoch in (1, 2, 3):
        log.write(metrics(run.id, epoch, 0.0))
    # Not closed yet: what a TensorBoard watching the folder sees during training.
    live = read_events(log.path / "validation")
    assert [step for step, _ in live["epoch_loss"]] == [1, 2, 3]
    log.close()

    restarted = metrics(run.id, 1, 0.2)
    with RunEventLog(tmp_path, experiment, run) as again:
        again.write(restarted)
    train, val = read_events(log.path / "train"), read_events(log.path / "validation")
    assert train["epoch_loss"] == [(1, pytest.approx(restarted.loss, abs=1e-6))]
    assert train["epoch_accuracy"] == [(1, pytest.approx(restarted.acc, abs=1e-6))]
    assert val["epoch_loss"] == [(1, pytest.approx(restarted.val_loss, abs=1e-6))]
    assert val["epoch_accuracy"] == [(1, pytest.approx(restarted.val_acc, abs=1e-6))]


def test_a_leading_tilde_is_the_home_folder(store, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with RunEventLog("~/tb", store.experiment(1), store.runs(1)[1]) as log:
        log.write(metrics(store.runs(1)[1].id, 1, 0.0))
    assert log.path == tmp_path / "tb" / "tiny grid-1" / "size10-glove-seed0"
    assert [step for step, _ in read_events(log.path / "train")["epoch_loss"]] == [1]


def test_a_restart_leaves_the_other_runs_of_the_experiment_alone(store, tmp_path):
    folder = export_tensorboard(store, 1, tmp_path)
    experiment, runs = store.experiment(1), store.runs(1)
    with RunEventLog(tmp_path, experiment, runs[0]) as log:
        log.write(metrics(runs[0].id, 1, 0.3))
    restarted = read_events(folder / "size10-learned-seed0" / "validation")
    assert [step for step, _ in restarted["epoch_loss"]] == [1]
    other = read_events(folder / "size10-glove-seed0" / "validation")
    assert [step for step, _ in other["epoch_loss"]] == [1, 2, 3]


def test_odd_arm_names_and_repeated_cells_get_folders_of_their_own(store, tmp_path):
    exp = store.create_experiment("odd", {}, [], head="custom")
    first = store.add_run(exp, size=5, embedding="my/model", head="custom", seed=7)
    second = store.add_run(exp, size=5, embedding="my/model", head="custom", seed=7)
    for run_id, base in ((first, 0.0), (second, 0.1)):
        store.start_run(run_id, device="CPU", params=1, coverage=None)
        store.add_epoch(metrics(run_id, 1, base))
        store.finish_run(run_id, "done")
    folder = export_tensorboard(store, exp, tmp_path)
    assert folder == tmp_path / f"odd-{exp}"
    names = run_folders(folder)
    assert names == ["size5-my_model-seed7", f"size5-my_model-seed7-run{second}"]
    for name, run_id in zip(names, (first, second), strict=True):
        val = read_events(folder / name / "validation")
        expected = store.run_epochs(run_id)[0].val_acc
        assert val["epoch_accuracy"] == [(1, pytest.approx(expected, abs=1e-6))]


def test_an_experiment_without_epochs_exports_an_empty_folder(tmp_path):
    with Store(tmp_path / "s.sqlite") as s:
        exp = s.create_experiment("queued", {}, [(10, "learned", 0)], head="flatten")
        folder = export_tensorboard(s, exp, tmp_path / "tb")
    assert folder.is_dir() and run_folders(folder) == []


def test_the_layout_and_tags_are_those_of_the_keras_tensorboard_callback(
    store, tmp_path, monkeypatch
):
    """What Keras' callback writes for a model compiled with metrics=["accuracy"]: our run
    folder has the same subfolders and each of our tags is one of Keras' there.

    Without the `tensorboard` package `tf.summary.scalar` only raises; it is replaced by the
    equivalent plain `tf.summary.write`, so the folder and tag names are still Keras' own.
    """
    import tensorflow.summary as summary_api  # the module Keras' callback imports
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    )

    def scalar(name, data, step=None, description=None):
        return tf.summary.write(name, tf.cast(data, tf.float32), step=step, metadata=metadata)

    monkeypatch.setattr(summary_api, "scalar", scalar)
    keras = tf.keras
    x = tf.random.stateless_uniform((8, 3), seed=(1, 2))
    y = tf.constant([0, 1] * 4)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
    keras_dir = tmp_path / "keras"
    callback = keras.callbacks.TensorBoard(str(keras_dir), write_graph=False, profile_batch=0)
    model.fit(x, y, validation_data=(x, y), epochs=2, verbose=0, callbacks=[callback])

    ours = export_tensorboard(store, 1, tmp_path / "ours") / "size10-learned-seed0"
    subfolders = sorted(p.name for p in keras_dir.iterdir())
    assert run_folders(ours) == subfolders == ["train", "validation"]
    for split in subfolders:
        keras_tags, our_tags = set(read_events(keras_dir / split)), set(read_events(ours / split))
        assert our_tags == {"epoch_loss", "epoch_accuracy"}
        assert our_tags <= keras_tags, (split, keras_tags)


def test_tensorboards_own_reader_sees_the_stored_wall_times_and_the_hparams(store, tmp_path):
    """TensorBoard's EventAccumulator: each epoch's wall time is the store's (the run's
    recorded end less the seconds of the epochs after it), not the time of the export, and
    the HParams plugin data names the runs' size, seed and arm and the final metrics' tags."""
    from datetime import datetime

    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    folder = export_tensorboard(store, 1, tmp_path / "tb")
    epochs = store.epochs(1)
    for run in store.runs(1):
        if run.status != "done":
            continue
        run_dir = folder / f"size{run.size}-{run.embedding}-seed{run.seed}"
        seconds = [e.seconds for e in epochs[run.id]]
        assert seconds == [0.25, 0.5, 0.75]
        # Counted back from the run's recorded end: a resumed run's early epochs stay early.
        end = datetime.fromisoformat(run.finished).timestamp()
        expected = [end - 1.5 + sum(seconds[:k]) for k in (1, 2, 3)]
        for split in ("train", "validation"):
            acc = EventAccumulator(str(run_dir / split))
            acc.Reload()
            events = acc.Tensors("epoch_loss")
            assert [e.step for e in events] == [1, 2, 3]
            assert [e.wall_time for e in events] == pytest.approx(expected, abs=1e-6)
        session = EventAccumulator(str(run_dir))
        session.Reload()
        content = session.PluginTagToContent("hparams")
        data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        hparams = data.session_start_info.hparams
        assert hparams["size"].number_value == run.size
        assert hparams["seed"].number_value == run.seed
        assert hparams["embeddings"].string_value == run.embedding
        assert data.session_start_info.start_time_secs == pytest.approx(end - 1.5)
    top = EventAccumulator(str(folder))
    top.Reload()
    config = plugin_data_pb2.HParamsPluginData.FromString(
        top.PluginTagToContent("hparams")["_hparams_/experiment"]
    ).experiment
    assert {h.name for h in config.hparam_infos} == {"size", "seed", "embeddings"}
    assert {(m.name.group, m.name.tag) for m in config.metric_infos} == {
        ("validation", "epoch_accuracy"),
        ("validation", "epoch_loss"),
        ("train", "epoch_accuracy"),
        ("train", "epoch_loss"),
    }


def test_tensorboard_is_an_export_format_that_render_refuses(store):
    assert "tensorboard" in FORMATS and "tensorboard" not in TEXT_FORMATS
    with pytest.raises(ValueError, match="export_tensorboard"):
        render(build_report(store, 1), "tensorboard")


def test_importing_the_module_does_not_import_tensorflow():
    probe = (
        "import json, sys\n"
        "import embtui.export.tensorboard\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras'))))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


@pytest.mark.slow
def test_embtui_run_with_tensorboard_writes_the_stored_epochs_live(tiny, run_cli, tmp_path):
    """The acceptance path: `embtui run ... --tensorboard DIR`, then TensorFlow's reader."""
    from tests.helpers import TINY_GRID, flags

    store, logdir = tmp_path / "s.sqlite", tmp_path / "tb"
    grid = {**TINY_GRID, "embeddings": "learned,glove", "seeds": "1", "epochs": "3"}
    args = ["run", *flags(dataset=tiny.csv, glove=tiny.glove, store=store, **grid)]
    result = run_cli([*args, "--tensorboard", logdir, "--name", "tb check"])
    assert result.rc == 0, result.stderr[-2000:]

    with Store(store, create=False) as s:
        exp_id = s.resolve("latest")
        runs, epochs = s.runs(exp_id), s.epochs(exp_id)
    folder = logdir / f"tb check-{exp_id}"
    assert run_folders(folder) == sorted(f"size{r.size}-{r.embedding}-seed{r.seed}" for r in runs)
    for run in runs:
        stored = epochs[run.id]
        assert len(stored) == 3
        val = read_events(folder / f"size{run.size}-{run.embedding}-seed{run.seed}" / "validation")
        assert [step for step, _ in val["epoch_accuracy"]] == [1, 2, 3]
        assert [v for _, v in val["epoch_accuracy"]] == pytest.approx(
            [e.val_acc for e in stored], abs=1e-6
        )
        assert [v for _, v in val["epoch_loss"]] == pytest.approx(
            [e.val_loss for e in stored], abs=1e-6
        )

    # The same files after the fact, from the store alone.
    again = run_cli(
        ["export", "latest", "--format", "tensorboard", "-o", tmp_path / "tb2", "--store", store]
    )
    assert again.rc == 0 and again.stderr == f"wrote {tmp_path / 'tb2' / f'tb check-{exp_id}'}\n"
    for run in runs:
        name = f"size{run.size}-{run.embedding}-seed{run.seed}"
        assert read_events(tmp_path / "tb2" / f"tb check-{exp_id}" / name / "validation") == (
            read_events(folder / name / "validation")
        )


def test_export_tensorboard_without_a_folder_is_a_one_line_error(run_cli, tmp_path):
    store = tmp_path / "s.sqlite"
    Store(store).close()
    result = run_cli(["export", "latest", "--format", "tensorboard", "--store", store])
    assert result.rc == 2
    assert result.stderr == (
        "embtui: error: --format tensorboard writes a folder of event files: add -o DIR\n"
    )


def test_two_stores_writing_to_one_folder_never_overwrite_each_other(tmp_path):
    """Each store's first experiment is `<name>-1`: the second store to write there is
    refused in one line, live or exporting, and the first one's files stay."""
    root = tmp_path / "tb"
    stores = []
    for name in ("a", "b"):
        s = Store(tmp_path / f"{name}.sqlite")
        exp = s.create_experiment("grid", {}, [(10, "learned", 0)], head="flatten")
        run = s.runs(exp)[0]
        s.start_run(run.id, device="CPU", params=1, coverage=None)
        s.add_epoch(metrics(run.id, 1, 0.1 if name == "a" else 0.9))
        stores.append(s)
    a, b = stores
    try:
        folder = export_tensorboard(a, 1, root)
        first = read_events(folder / "size10-learned-seed0" / "validation")
        message = rf"holds the TensorBoard files of experiment 1 of another run store \({a.path}\)"
        with pytest.raises(EmbtuiError, match=message):
            export_tensorboard(b, 1, root)
        with pytest.raises(EmbtuiError, match=message):
            RunEventLog(root, b.experiment(1), b.runs(1)[0], store=b.path)
        assert read_events(folder / "size10-learned-seed0" / "validation") == first
        export_tensorboard(a, 1, root)  # the same store again: replaced, as before
    finally:
        for s in stores:
            s.close()


def test_a_run_folder_that_turns_into_a_file_fails_that_run_in_one_line(tmp_path, tiny):
    """Checked before the grid starts; should it happen while training, the run fails with
    a message and the grid goes on."""
    from embtui.config import from_mapping
    from embtui.engine import runner
    from tests.helpers import TINY_GRID

    config = from_mapping(
        {
            **TINY_GRID,
            "sizes": "10",
            "seeds": "1",
            "dataset": str(tiny.csv),
            "glove": str(tiny.glove),
            "tensorboard_dir": str(tmp_path / "tb"),
        }
    )
    prepared = runner.prepare(config)
    with Store(tmp_path / "s.sqlite") as s:
        exp_id = runner.create(s, prepared)
        blocker = tmp_path / "tb" / f"seed-grid-{exp_id}" / "size10-learned-seed0"
        blocker.parent.mkdir(parents=True)
        blocker.write_text("in the way")
        assert runner.run(s, exp_id, prepared) == "failed"
        learned, glove = s.runs(exp_id)
        assert learned.status == "failed"
        assert learned.error.startswith("cannot write its TensorBoard files: EmbtuiError: ")
        assert "a file where this run's TensorBoard folder goes" in learned.error
        assert glove.status == "done"


def test_the_json_export_names_each_runs_tensorboard_folder(store, tmp_path):
    """Every run with epochs is named by the folder the TensorBoard export writes for it;
    a run without epochs gets none (null)."""
    out = tmp_path / "tb"
    export_tensorboard(store, 1, out)
    data = json.loads(render(build_report(store, 1), "json"))
    named = {r["id"]: r["tensorboard"] for r in data["runs"]}
    failed = [r.id for r in store.runs(1) if r.status == "failed"]
    assert [named[i] for i in failed] == [None]
    folders = {k: v for k, v in named.items() if v is not None}
    assert len(folders) == 3
    for folder in folders.values():
        assert (out / folder / "validation").is_dir(), folder


def test_a_resumed_runs_epochs_keep_their_order_in_time():
    """A run resumed an hour later: `started` is the resume's, but its epochs are counted
    back from its end, so epoch 1 is still the earliest (from `started` they would not be)."""
    from embtui.export.tensorboard import epoch_wall_times

    epochs = [EpochMetrics(1, k, 0.5, 0.5, 0.5, 0.5, 10.0) for k in (1, 2, 3, 4)]
    times = epoch_wall_times("2026-12-01T10:00:00+00:00", epochs, "2026-12-01T10:00:20+00:00")
    end = 1796119220.0  # 2026-12-01T10:00:20Z
    assert times == [end - 30.0, end - 20.0, end - 10.0, end]
    assert epoch_wall_times("2026-12-01T10:00:00+00:00", epochs[:2]) == [
        end - 20.0 + 10.0,
        end - 20.0 + 20.0,
    ]
