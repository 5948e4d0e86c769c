"""The run store: a real SQLite file per test, checked through the API and a second connection."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from embtui.errors import EmbtuiError, StoreError
from embtui.store import (
    SCHEMA_VERSION,
    AlreadyDone,
    EpochMetrics,
    NotOwner,
    OwnedElsewhere,
    Store,
    default_store_path,
    experiment_status,
)
from tests.helpers import zombie

CELLS = [(10, "learned", 0), (10, "learned", 1), (10, "glove", 0), (10, "glove", 1)]


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "store.sqlite") as s:
        yield s


def reader(path: Path) -> sqlite3.Connection:
    """An independent connection, as the console or `embtui list` would open one."""
    db = sqlite3.connect(path, isolation_level=None, timeout=1)
    db.row_factory = sqlite3.Row
    return db


def make_experiment(store: Store, cells=CELLS, **meta) -> int:
    return store.create_experiment("exp", {"sizes": [10]}, cells, head="flatten", meta=meta)


def epoch(run_id: int, n: int, val_acc: float = 0.5) -> EpochMetrics:
    return EpochMetrics(run_id, n, 0.7 - n / 100, 0.5, 0.69, val_acc, 0.01)


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- file format ----------------------------------------------------------------------------


def test_a_new_store_is_wal_with_the_schema_version_and_its_tables(tmp_path):
    path = tmp_path / "deep" / "dir" / "store.sqlite"
    Store(path).close()
    db = reader(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"experiments", "runs", "epochs", "samples", "id_high_water"}
    columns = {r[1] for r in db.execute("PRAGMA table_info(experiments)")}
    assert {"id", "name", "config", "created", "status"} <= columns
    columns = {r[1] for r in db.execute("PRAGMA table_info(runs)")}
    assert {
        "experiment_id",
        "size",
        "embedding",
        "seed",
        "status",
        "error",
        "device",
        "params",
        "coverage",
        "started",
        "finished",
    } <= columns
    columns = {r[1] for r in db.execute("PRAGMA table_info(epochs)")}
    assert columns == {"run_id", "epoch", "loss", "acc", "val_loss", "val_acc", "seconds"}


def test_reopening_keeps_the_data(tmp_path):
    path = tmp_path / "store.sqlite"
    with Store(path) as s:
        exp_id = make_experiment(s)
    with Store(path, create=False) as s:
        assert [e.id for e in s.experiments()] == [exp_id]
        assert len(s.runs(exp_id)) == 4


def test_default_path_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("EMBTUI_STORE", str(tmp_path / "s.sqlite"))
    assert default_store_path() == tmp_path / "s.sqlite"
    monkeypatch.delenv("EMBTUI_STORE")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_store_path() == tmp_path / "xdg" / "embtui" / "embtui.sqlite"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_store_path() == tmp_path / "home" / ".local/share/embtui/embtui.sqlite"


def test_open_without_create_refuses_a_missing_file_and_creates_nothing(tmp_path):
    path = tmp_path / "nope" / "store.sqlite"
    with pytest.raises(StoreError, match="no run store here"):
        Store(path, create=False)
    assert not path.parent.exists()


def test_a_foreign_sqlite_file_is_refused_and_left_exactly_as_it_was(tmp_path):
    path = tmp_path / "notes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (text TEXT)")
    db.execute("INSERT INTO notes VALUES ('keep me')")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an embtui run store"):
        Store(path)
    # Not switched to WAL, no -wal/-shm files left behind, not a byte changed.
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


def test_a_store_from_a_newer_embtui_is_refused(tmp_path):
    path = tmp_path / "store.sqlite"
    Store(path).close()
    db = reader(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(
        StoreError,
        match=rf"schema v{SCHEMA_VERSION + 1} is newer .* \(v{SCHEMA_VERSION}\); upgrade embtui",
    ):
        Store(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_a_file_that_is_not_sqlite_is_a_one_line_store_error(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"plain text, not a database\n" * 100)
    with pytest.raises(StoreError) as info:
        Store(path)
    assert isinstance(info.value, EmbtuiError)
    assert "not a usable run store" in str(info.value) and "\n" not in str(info.value)
    assert path.read_bytes() == b"plain text, not a database\n" * 100


# -- writes ---------------------------------------------------------------------------------


def test_create_experiment_records_the_config_and_queued_runs_in_grid_order(store):
    exp_id = make_experiment(store, chance=0.55)
    exp = store.experiment(exp_id)
    assert (exp.name, exp.config, exp.status, exp.meta) == (
        "exp",
        {"sizes": [10]},
        "queued",
        {"chance": 0.55},
    )
    assert exp.pid == os.getpid() and exp.host == socket.gethostname()
    runs = store.runs(exp_id)
    assert [(r.position, r.size, r.embedding, r.seed) for r in runs] == [
        (i, *cell) for i, cell in enumerate(CELLS)
    ]
    assert {(r.status, r.head, r.started, r.finished) for r in runs} == {
        ("queued", "flatten", None, None)
    }


def test_every_write_is_one_transaction(store):
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    make_experiment(store)
    store._db.set_trace_callback(None)
    kinds = [s.split()[0].upper() for s in statements]
    assert kinds[0] == "BEGIN" and kinds[-1] == "COMMIT"
    assert kinds.count("BEGIN") == 1 and kinds.count("COMMIT") == 1
    # The trace repeats a statement for each trigger it fires (the id high-water mark, v6).
    inserted = {s.split()[2] for s in statements if s.split()[0].upper() == "INSERT"}
    assert inserted == {"experiments", "runs"}


def test_a_failed_write_leaves_nothing_half_done(store):
    """The experiment row goes in first; when a run row fails, it must roll back too."""
    with pytest.raises(sqlite3.IntegrityError):
        make_experiment(store, cells=[(10, "learned", 0), (None, "glove", 0)])
    assert store.experiments() == []
    assert store._read("SELECT count(*) AS n FROM runs")[0]["n"] == 0
    # ...and the store still works afterwards.
    exp_id = make_experiment(store)
    assert store.resolve("latest") == exp_id


def test_a_reader_sees_whole_transactions_and_never_blocks_the_writer(store):
    exp_id = make_experiment(store)
    run_id = store.runs(exp_id)[0].id
    db = reader(store.path)
    db.execute("BEGIN")  # a read transaction: a consistent snapshot
    assert db.execute("SELECT count(*) FROM epochs").fetchone()[0] == 0
    t0 = time.perf_counter()
    store.start_run(run_id, device="CPU", params=10, coverage=None)
    store.add_epoch(epoch(run_id, 1))
    # WAL: the open reader did not block the commits (blocked, they would wait out the
    # 30 s busy timeout and fail with "database is locked").
    assert time.perf_counter() - t0 < 10.0
    # Still the old snapshot inside the reader's transaction...
    assert db.execute("SELECT count(*) FROM epochs").fetchone()[0] == 0
    assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == "queued"
    db.execute("COMMIT")
    # ...and the new state once it starts a new one.
    assert db.execute("SELECT count(*) FROM epochs").fetchone()[0] == 1
    assert db.execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()[0] == "running"
    db.close()


def test_a_write_waits_the_busy_timeout_for_another_lock_then_says_locked(tmp_path, monkeypatch):
    """`$EMBTUI_BUSY_TIMEOUT` is how long a write waits for another process's lock (30 s
    by default): past it the write fails with one line naming the store; once the lock is
    gone the same store writes again."""
    monkeypatch.setenv("EMBTUI_BUSY_TIMEOUT", "0.4")
    with Store(tmp_path / "store.sqlite") as store:
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 400
        exp_id = make_experiment(store)
        run_id = store.runs(exp_id)[0].id
        holder = reader(store.path)
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreError, match=r"cannot write to the run store .*database is locked"):
            store.start_run(run_id, device="CPU", params=1, coverage=None)
        holder.execute("ROLLBACK")
        holder.close()
        store.start_run(run_id, device="CPU", params=1, coverage=None)
        assert store.runs(exp_id)[0].status == "running"
    monkeypatch.delenv("EMBTUI_BUSY_TIMEOUT")
    with Store(tmp_path / "store.sqlite") as store:
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "5000", "soon", "3\x1b[2J"])
def test_a_bad_busy_timeout_is_one_line_and_opens_nothing(tmp_path, monkeypatch, value):
    monkeypatch.setenv("EMBTUI_BUSY_TIMEOUT", value)
    with pytest.raises(StoreError) as caught:
        Store(tmp_path / "store.sqlite")
    message = str(caught.value)
    assert message.startswith("EMBTUI_BUSY_TIMEOUT=") and "at most 3600" in message
    assert "\x1b" not in message and "\n" not in message
    assert not (tmp_path / "store.sqlite").exists()


def test_writes_from_another_thread_are_serialised(store):
    exp_id = make_experiment(store)
    runs = store.runs(exp_id)
    for r in runs:
        store.start_run(r.id, device="CPU", params=1, coverage=None)

    def write(run_id: int) -> None:
        for n in range(1, 26):
            store.add_epoch(epoch(run_id, n))

    threads = [threading.Thread(target=write, args=(r.id,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    epochs = store.epochs(exp_id)
    assert {run_id: [e.epoch for e in es] for run_id, es in epochs.items()} == {
        r.id: list(range(1, 26)) for r in runs
    }


def test_data_version_tells_a_poller_that_another_connection_committed(store):
    exp_id = make_experiment(store)
    with Store(store.path) as poller:
        v0 = poller.data_version()
        assert poller.data_version() == v0
        store.set_experiment_status(exp_id, "running")
        assert poller.data_version() != v0


def test_a_run_goes_from_queued_through_running_to_done(store):
    exp_id = make_experiment(store)
    run_id = store.runs(exp_id)[2].id
    store.start_run(run_id, device="CPU", params=1234, coverage=0.875)
    r = store.run(run_id)
    assert (r.status, r.device, r.params, r.coverage) == ("running", "CPU", 1234, 0.875)
    assert r.started is not None and r.finished is None
    for n in (2, 1):  # out of order on purpose: reads come back ordered by epoch
        store.add_epoch(epoch(run_id, n, val_acc=0.5 + n / 10))
    store.finish_run(run_id, "done")
    r = store.run(run_id)
    assert r.status == "done" and r.finished is not None and r.error is None
    assert [(e.epoch, e.val_acc) for e in store.run_epochs(run_id)] == [(1, 0.6), (2, 0.7)]
    assert list(store.epochs(exp_id)) == [run_id]
    with pytest.raises(ValueError, match="unknown run status 'finished'"):
        store.finish_run(run_id, "finished")


def test_a_failed_run_keeps_its_error_text(store):
    exp_id = make_experiment(store)
    run_id = store.runs(exp_id)[0].id
    store.start_run(run_id, device="CPU", params=1, coverage=None)
    store.finish_run(run_id, "failed", "ValueError: boom")
    assert (store.run(run_id).status, store.run(run_id).error) == ("failed", "ValueError: boom")


def test_restarting_a_run_drops_the_epochs_of_the_earlier_attempt(store):
    exp_id = make_experiment(store)
    run_id = store.runs(exp_id)[0].id
    store.start_run(run_id, device="CPU", params=1, coverage=None)
    store.add_epoch(epoch(run_id, 1))
    store.add_epoch(epoch(run_id, 2))
    store.start_run(run_id, device="GPU:0", params=1, coverage=None)
    assert store.run_epochs(run_id) == []
    assert store.run(run_id).device == "GPU:0"


def test_restarting_from_a_checkpoint_keeps_the_epochs_up_to_it(store):
    exp_id = make_experiment(store)
    run_id = store.runs(exp_id)[0].id
    store.start_run(run_id, device="CPU", params=1, coverage=None)
    for n in (1, 2, 3):
        store.add_epoch(epoch(run_id, n))
    store.start_run(run_id, device="CPU", params=1, coverage=None, keep_epochs=2)
    assert [e.epoch for e in store.run_epochs(run_id)] == [1, 2]


def test_cancel_queued_closes_the_runs_not_finished(store):
    exp_id = make_experiment(store)
    runs = store.runs(exp_id)
    store.start_run(runs[0].id, device="CPU", params=1, coverage=None)
    store.finish_run(runs[0].id, "done")
    store.start_run(runs[1].id, device="CPU", params=1, coverage=None)
    store.cancel_queued(exp_id)
    assert [r.status for r in store.runs(exp_id)] == ["done", "cancelled", "cancelled", "cancelled"]


def test_update_meta_merges_keys(store):
    exp_id = make_experiment(store, chance=0.5)
    store.update_meta(exp_id, device="CPU", tensorflow="2.21.0")
    store.update_meta(exp_id, device="GPU:0")
    assert store.experiment(exp_id).meta == {
        "chance": 0.5,
        "device": "GPU:0",
        "tensorflow": "2.21.0",
    }


def test_experiment_status_final_states_set_finished(store):
    exp_id = make_experiment(store)
    store.set_experiment_status(exp_id, "running")
    assert store.experiment(exp_id).finished is None
    store.set_experiment_status(exp_id, "done")
    exp = store.experiment(exp_id)
    assert exp.status == "done" and exp.finished is not None


# -- recovery and resume --------------------------------------------------------------------


def _half_done(store: Store) -> tuple[int, list[int]]:
    """An experiment 'running': run 0 done (2 epochs), run 1 running (1 epoch), 2-3 queued."""
    exp_id = make_experiment(store)
    ids = [r.id for r in store.runs(exp_id)]
    store.set_experiment_status(exp_id, "running")
    store.start_run(ids[0], device="CPU", params=1, coverage=None)
    store.add_epoch(epoch(ids[0], 1))
    store.add_epoch(epoch(ids[0], 2))
    store.finish_run(ids[0], "done")
    store.start_run(ids[1], device="CPU", params=1, coverage=None)
    store.add_epoch(epoch(ids[1], 1))
    return exp_id, ids


def test_recover_marks_the_experiment_of_a_dead_process_interrupted(store):
    exp_id, ids = _half_done(store)
    alive_id, _ = _half_done(store)  # owned by this (living) process
    other_host, _ = _half_done(store)
    pid = dead_pid()
    store._db.execute(
        "UPDATE experiments SET pid = ? WHERE id IN (?, ?)", (pid, exp_id, other_host)
    )
    store._db.execute("UPDATE experiments SET host = 'elsewhere' WHERE id = ?", (other_host,))

    assert store.recover() == [exp_id]
    exp = store.experiment(exp_id)
    assert exp.status == "interrupted" and exp.finished is not None
    assert [r.status for r in store.runs(exp_id)] == [
        "done",
        "interrupted",
        "interrupted",
        "interrupted",
    ]
    assert len(store.run_epochs(ids[0])) == 2  # finished work is kept
    assert store.experiment(alive_id).status == "running"
    assert store.experiment(other_host).status == "running"  # cannot check another host
    assert store.recover() == []  # idempotent


def test_an_owner_on_another_host_counts_as_dead_only_once_its_heartbeat_is_stale(store):
    fresh, _ = _half_done(store)
    stale, _ = _half_done(store)
    store._db.execute("UPDATE experiments SET host = 'gpu-box-7', pid = 1")
    store._db.execute(
        "UPDATE experiments SET heartbeat = '2020-01-01T00:00:00+00:00' WHERE id = ?", (stale,)
    )
    store.beat(fresh)

    assert store.recover() == [stale]
    assert store.experiment(stale).status == "interrupted"
    assert store.experiment(fresh).status == "running"


def test_beat_moves_the_heartbeat_forward(store):
    exp_id = make_experiment(store)
    store._db.execute("UPDATE experiments SET heartbeat = '2020-01-01T00:00:00+00:00'")
    store.beat(exp_id)
    assert store.experiment(exp_id).heartbeat > "2026"


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_an_older_store_is_upgraded_in_place_and_keeps_its_rows(tmp_path, version):
    """A store written by an earlier embtui (v1: no heartbeat, v2: no owner, v3: no samples
    or run costs, v4: no factor values per run, v5: no id high-water mark) opens, gains the
    tables and columns of each
    later step, and keeps every row; its runs' factors come from their experiment."""
    path = tmp_path / f"v{version}.sqlite"
    with Store(path) as s:
        exp_id = make_experiment(s)
        s.set_experiment_status(exp_id, "done")
    db = reader(path)
    for trigger in ("experiments_high_water", "runs_high_water"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.execute("DROP TABLE id_high_water")
    if version < 5:
        db.execute("ALTER TABLE runs DROP COLUMN factors")
    if version < 4:
        db.execute("DROP TABLE samples")
        for column in ("wall_s", "peak_rss", "peak_gpu_mem", "mean_gpu_util"):
            db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    dropped = {1: ("owner", "heartbeat"), 2: ("owner",), 3: (), 4: (), 5: ()}[version]
    for column in dropped:
        db.execute(f"ALTER TABLE experiments DROP COLUMN {column}")
    db.execute(f"PRAGMA user_version = {version}")
    db.close()

    with Store(path) as s:
        exp = s.experiment(exp_id)
        assert exp.status == "done"
        if version < 3:
            assert exp.owner is None
        if version == 1:
            assert exp.heartbeat is None
        assert len(s.runs(exp_id)) == len(CELLS)
        assert s.runs(exp_id)[0].wall_s is None and s.samples(exp_id) == []
        # The experiment's configuration ({"sizes": [10]}) names no factor: each run's are
        # its own embedding and head.
        assert [r.factors for r in s.runs(exp_id)][:3] == [
            {"embeddings": "learned", "head": "flatten"},
            {"embeddings": "learned", "head": "flatten"},
            {"embeddings": "glove", "head": "flatten"},
        ]
        # ...and an upgraded experiment can be claimed (resumed) like any other.
        s.claim(exp_id)
        assert s.experiment(exp_id).owner == s.owner
    assert reader(path).execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_add_run_appends_a_queued_run_after_the_grid(store):
    exp_id = make_experiment(store)
    run_id = store.add_run(exp_id, size=25000, embedding="my-model", head="custom", seed=7)
    last = store.runs(exp_id)[-1]
    assert (last.id, last.position, last.size, last.embedding, last.seed, last.status) == (
        run_id,
        len(CELLS),
        25000,
        "my-model",
        7,
        "queued",
    )


def test_reopen_runs_queues_everything_not_done_and_keeps_its_epochs_until_it_starts(store):
    exp_id, ids = _half_done(store)
    store.finish_run(ids[1], "cancelled")
    store.finish_run(ids[2], "failed", "boom")
    reopened = store.reopen_runs(exp_id)
    assert [r.id for r in reopened] == ids[1:]
    assert {(r.status, r.error, r.finished) for r in reopened} == {("queued", None, None)}
    assert store.run(ids[0]).status == "done"
    assert len(store.run_epochs(ids[0])) == 2
    # A checkpoint may continue from them: start_run decides what stays.
    assert [e.epoch for e in store.run_epochs(ids[1])] == [1]


# -- reads ----------------------------------------------------------------------------------


def test_resolve_latest_ids_and_bad_references(store):
    with pytest.raises(StoreError, match="no experiments yet"):
        store.resolve("latest")
    first = make_experiment(store)
    second = make_experiment(store)
    assert store.resolve("latest") == second
    assert store.resolve(f" {first} ") == first
    assert store.resolve(first) == first
    with pytest.raises(StoreError, match=f"no experiment with id {second + 1}"):
        store.resolve(str(second + 1))
    with pytest.raises(StoreError, match=r"expected an experiment id \(digits 0-9\) or 'latest'"):
        store.resolve("newest")
    with pytest.raises(StoreError, match="no run with id 999"):
        store.run(999)


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_store_this_user_cannot_write_is_listed_and_exported_but_not_trained_into(capsys):
    """As a user for whom the store and its folder are read-only (root acts as `nobody`
    for the duration, since root may write anything): `embtui list` and `export` read it,
    as README promises; opening it to train is one line; the file stays as it was."""
    import _strptime  # noqa: F401 - loaded now: `nobody` may not read this Python's files
    import tempfile

    import embtui.export.markdown
    import embtui.inspect.summary  # the Markdown export's "What the models learned"
    import embtui.listing
    import embtui.progress
    import embtui.report.model  # noqa: F401
    from embtui.cli import main

    folder = Path(tempfile.mkdtemp(prefix="embtui-ro-"))
    path = folder / "store.sqlite"
    as_root = os.geteuid() == 0
    try:
        with Store(path) as s:
            exp_id = make_experiment(s)
            run_id = s.runs(exp_id)[0].id
            s.start_run(run_id, device="CPU", params=1, coverage=None)
            s.add_epoch(epoch(run_id, 1, val_acc=0.625))
            s.finish_run(run_id, "done")
            s.set_experiment_status(exp_id, "done")
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        path.chmod(0o444)
        folder.chmod(0o555)
        if not as_root and os.access(path, os.W_OK):
            pytest.skip("this user can write a 0444 file")
        if as_root:
            os.setegid(65534)
            os.seteuid(65534)
        try:
            codes = [
                main([*args, "--store", str(path)])
                for args in (["list"], ["list", "1"], ["export", "1", "--format", "md"])
            ]
            with pytest.raises(StoreError, match="the run store is not writable"):
                Store(path)
        finally:
            if as_root:
                os.seteuid(0)
                os.setegid(0)
        assert codes == [0, 0, 0]
        out = capsys.readouterr().out
        assert "\n 1  exp   done     1/4  " in out  # the listing
        assert "experiment 1: exp  done  1/4 runs done" in out  # its runs
        assert "# embtui experiment 1: exp" in out  # the Markdown export
        assert "0.6250" in out
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before
        assert sorted(p.name for p in folder.iterdir()) == ["store.sqlite"]
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()


def test_a_killed_owner_that_nobody_reaped_counts_as_dead(store):
    """A zombie still answers kill(pid, 0); in containers whose PID 1 never reaps, the
    process of a `kill -9`ed grid stays one."""
    exp_id, _ = _half_done(store)
    with zombie() as pid:
        store._db.execute("UPDATE experiments SET pid = ? WHERE id = ?", (pid, exp_id))
        assert store.recover() == [exp_id]


def test_a_pid_reused_by_a_process_started_after_the_last_heartbeat_is_not_the_owner(store):
    reused, _ = _half_done(store)
    owner, _ = _half_done(store)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        store._db.execute("UPDATE experiments SET pid = ?", (other.pid,))
        store._db.execute(
            "UPDATE experiments SET heartbeat = '2026-01-01T00:00:00+00:00' WHERE id = ?",
            (reused,),
        )
        store.beat(owner)  # the same pid, beating after it started: a live owner
        assert store.recover() == [reused]
        assert store.experiment(owner).status == "running"
    finally:
        other.kill()
        other.wait()


# -- ownership: one process trains an experiment at a time ----------------------------------


def test_a_second_connection_cannot_claim_an_experiment_a_live_one_owns(store):
    exp_id = make_experiment(store)
    with Store(store.path) as other:
        with pytest.raises(OwnedElsewhere, match=f"experiment {exp_id} is being trained by pid"):
            other.claim(exp_id)
        store.claim(exp_id)  # the owner may renew its claim
        assert store.experiment(exp_id).status == "running"


def test_writes_by_a_connection_that_does_not_own_the_experiment_change_nothing(store):
    exp_id, ids = _half_done(store)
    before = dump(store.path)
    with Store(store.path) as other:
        writes = [
            lambda: other.start_run(ids[2], device="CPU", params=1, coverage=None),
            lambda: other.add_epoch(epoch(ids[1], 2)),
            lambda: other.finish_run(ids[1], "done"),
            lambda: other.cancel_queued(exp_id),
            lambda: other.reopen_runs(exp_id),
            lambda: other.set_experiment_status(exp_id, "done"),
            lambda: other.beat(exp_id),
            lambda: other.update_meta(exp_id, device="GPU"),
            lambda: other.add_run(exp_id, size=1, embedding="x", head="custom", seed=0),
        ]
        for write in writes:
            with pytest.raises(NotOwner, match=f"experiment {exp_id} is no longer this process"):
                write()
    assert dump(store.path) == before


def test_a_done_run_is_never_started_again_even_by_its_owner(store):
    _, ids = _half_done(store)
    with pytest.raises(StoreError, match=f"run {ids[0]} is done already"):
        store.start_run(ids[0], device="CPU", params=1, coverage=None)
    assert [e.epoch for e in store.run_epochs(ids[0])] == [1, 2]  # its epochs stay


def test_a_dead_owners_experiment_is_taken_over_and_its_unfinished_runs_interrupted(store):
    exp_id, ids = _half_done(store)
    store._db.execute("UPDATE experiments SET pid = ? WHERE id = ?", (dead_pid(), exp_id))
    with Store(store.path) as resumer:
        claim = resumer.claim(exp_id, resume=True)
        assert claim.previous["status"] == "interrupted"
        exp = resumer.experiment(exp_id)
        assert (exp.status, exp.owner, exp.pid) == ("running", resumer.owner, os.getpid())
        assert [r.status for r in resumer.runs(exp_id)][1:] == ["interrupted"] * 3
        # The old owner (were it alive after all) can no longer write.
        with pytest.raises(NotOwner):
            store.add_epoch(epoch(ids[1], 2))


def test_recover_takes_ownership_away_from_a_dead_owner(store):
    exp_id, ids = _half_done(store)
    store._db.execute("UPDATE experiments SET pid = ? WHERE id = ?", (dead_pid(), exp_id))
    assert store.recover() == [exp_id]
    assert store.experiment(exp_id).owner is None
    with pytest.raises(NotOwner, match=r"now: nobody \(interrupted\)"):
        store.add_epoch(epoch(ids[1], 2))


def test_a_claim_given_back_leaves_the_experiment_exactly_as_it_was(store):
    exp_id, _ = _half_done(store)
    store.cancel_queued(exp_id)
    store.set_experiment_status(exp_id, "cancelled")
    before = dump(store.path)
    with Store(store.path) as resumer:
        claim = resumer.claim(exp_id, resume=True)
        assert resumer.experiment(exp_id).status == "running"
        resumer.release(claim)
    assert dump(store.path) == before


def test_resuming_a_done_experiment_is_refused_as_already_done(store):
    exp_id = make_experiment(store, cells=[])
    store.set_experiment_status(exp_id, "done")
    with Store(store.path) as other, pytest.raises(AlreadyDone, match="already done"):
        other.claim(exp_id, resume=True)


@pytest.mark.parametrize(
    ("runs", "status"),
    [
        (["done", "done"], "done"),
        ([], "done"),
        (["done", "failed"], "failed"),
        (["failed", "cancelled", "done"], "cancelled"),
        (["done", "queued"], "interrupted"),  # a grid whose workers all died: never done
        (["queued", "queued"], "interrupted"),
        (["running", "failed"], "interrupted"),
        (["interrupted", "cancelled"], "interrupted"),
    ],
)
def test_one_rule_gives_an_experiments_status_from_its_runs(runs, status):
    assert experiment_status(runs) == status


# -- what users type and what they point --store at -----------------------------------------


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("١٢", r"expected an experiment id \(digits 0-9\)"),  # Arabic-Indic digits
        ("²", r"expected an experiment id \(digits 0-9\)"),
        ("-1", r"expected an experiment id \(digits 0-9\)"),
        ("99999999999999999999", "no such experiment id"),
        ("9223372036854775808", "no such experiment id"),
    ],
)
def test_ids_that_are_not_plain_in_range_integers_are_one_line_errors(store, typed, message):
    make_experiment(store)
    with pytest.raises(StoreError, match=message):
        store.resolve(typed)


def test_hand_edited_broken_json_is_a_one_line_error(store):
    exp_id = make_experiment(store)
    store._db.execute("UPDATE experiments SET config = '{\"sizes\": [10' WHERE id = ?", (exp_id,))
    with pytest.raises(StoreError, match=f"experiment {exp_id}'s config is not valid JSON"):
        store.experiment(exp_id)
    store._db.execute("UPDATE experiments SET config = '[1, 2]', meta = 'null'")
    with pytest.raises(StoreError, match="config is not a JSON object"):
        store.experiments()


def test_stores_with_one_stem_keep_their_logs_and_checkpoints_apart(tmp_path):
    with Store(tmp_path / "runs.sqlite") as a, Store(tmp_path / "runs.db") as b:
        assert a.log_path == tmp_path / "runs.sqlite.log"
        assert b.log_path == tmp_path / "runs.db.log"
        assert a.checkpoint_folder == tmp_path / "runs.sqlite.checkpoints"
        assert b.checkpoint_folder != a.checkpoint_folder
    # A store named like a log never appends its own tracebacks into itself.
    with Store(tmp_path / "x.log") as c:
        assert c.log_path != c.path


@pytest.mark.parametrize("sibling", ["log folder", "log is a store", "checkpoints file"])
def test_a_sibling_in_the_way_of_the_log_or_checkpoints_is_refused(tmp_path, sibling):
    path = tmp_path / "s.sqlite"
    if sibling == "log folder":
        (tmp_path / "s.sqlite.log").mkdir()
        message = r"s.sqlite.log \(where this store's log goes\) is not a plain file"
    elif sibling == "log is a store":
        Store(tmp_path / "s.sqlite.log").close()
        message = r"s.sqlite.log \(where this store's log goes\) is another run store"
    else:
        (tmp_path / "s.sqlite.checkpoints").write_text("notes")
        message = r"s.sqlite.checkpoints \(where this store's checkpoints go\) is a file"
    with pytest.raises(StoreError, match=message):
        Store(path)
    assert not path.exists()


def test_a_fifo_given_as_the_store_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "store.sqlite"
    os.mkfifo(fifo)
    for create in (True, False):
        with pytest.raises(StoreError, match=r"a FIFO \(named pipe\), not a run store"):
            Store(fifo, create=create)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_a_store_in_a_folder_this_user_may_not_enter_is_a_one_line_error(tmp_path):
    folder = tmp_path / "private"
    folder.mkdir()
    Store(folder / "s.sqlite").close()
    folder.chmod(0o700)
    tmp_path.chmod(0o755)
    os.setegid(65534)
    os.seteuid(65534)
    try:
        with pytest.raises(StoreError, match=r"cannot open the run store \(Permission denied\)"):
            Store(folder / "s.sqlite", create=False)
    finally:
        os.seteuid(0)
        os.setegid(0)


def dump(path: Path) -> str:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return "\n".join(db.iterdump())
    finally:
        db.close()


def test_finished_epoch_counts_are_the_done_runs_and_their_stored_epochs(store):
    """The compare screen's cheap signature read agrees with reading every epoch: done
    runs only, in grid order, each with the epochs it stored."""
    exp_id = make_experiment(store)
    runs = store.runs(exp_id)
    assert len(runs) >= 3
    for n, r in enumerate(runs[:3], start=1):
        store.start_run(r.id, device="CPU", params=1, coverage=None)
        for k in range(1, n + 1):
            store.add_epoch(epoch(r.id, k))
    store.finish_run(runs[0].id, "done")
    store.finish_run(runs[2].id, "done")  # runs[1] is still running
    epochs = store.epochs(exp_id)
    expected = [(r.id, len(epochs.get(r.id, []))) for r in store.runs(exp_id) if r.status == "done"]
    assert store.finished_epoch_counts(exp_id) == expected == [(runs[0].id, 1), (runs[2].id, 3)]
    assert store.finished_epoch_counts(exp_id + 1) == []
