"""Stores of an older schema: reading commands never upgrade them, and an upgrade never pulls
the schema out from under a live process of any version (issue 23, item 9)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from embtui.errors import StoreError
from embtui.store import MIGRATIONS, SCHEMA_VERSION, OwnedElsewhere, Store, now
from tests.helpers import cli_env, epoch_count, run_cli_in, wait_until

V2_OWNER = Path(__file__).resolve().parent / "legacy" / "v2_owner.py"


def v2_store(path: Path) -> Path:
    """An empty store as embtui wrote it at schema v2: the frozen v1 and v2 steps only."""
    db = sqlite3.connect(path, isolation_level=None)
    for _, step in MIGRATIONS[:2]:
        assert isinstance(step, str)
        db.executescript(step)
    db.execute("PRAGMA user_version = 2")
    db.execute("PRAGMA journal_mode = WAL")
    db.close()
    return path


def schema(path: Path) -> tuple[int, list[str]]:
    """The store's user_version and the columns of its experiments table."""
    db = sqlite3.connect(path)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        columns = [r[1] for r in db.execute("PRAGMA table_info(experiments)")]
        return version, columns
    finally:
        db.close()


def add_v2_experiment(path: Path, *, status: str, pid: int, host: str) -> int:
    """One finished v2 experiment with a done run and two epochs, written as v2 wrote."""
    db = sqlite3.connect(path, isolation_level=None)
    cur = db.execute(
        "INSERT INTO experiments (name, config, created, status, pid, host, meta, heartbeat) "
        "VALUES ('old', ?, ?, ?, ?, ?, '{}', ?)",
        (json.dumps({"sizes": [10]}), now(), status, pid, host, now()),
    )
    exp_id = int(cur.lastrowid or 0)
    run = db.execute(
        "INSERT INTO runs (experiment_id, position, size, embedding, head, seed, status) "
        "VALUES (?, 0, 10, 'glove', 'flatten', 0, 'done')",
        (exp_id,),
    ).lastrowid
    for n in (1, 2):
        db.execute(
            "INSERT INTO epochs VALUES (?, ?, 0.6, 0.7, 0.65, 0.75, 0.1)",
            (run, n),
        )
    db.close()
    return exp_id


def test_a_reading_connection_reads_an_older_store_as_it_is(tmp_path):
    """list/export/the console open with migrate=False: the v2 store stays v2, its rows read
    as they are (no owner, each run's factors its own embedding and head)."""
    import os
    import socket

    path = v2_store(tmp_path / "v2.sqlite")
    exp_id = add_v2_experiment(path, status="done", pid=os.getpid(), host=socket.gethostname())
    with Store(path, create=False, migrate=False) as store:
        exp = store.experiment(exp_id)
        assert (exp.name, exp.status, exp.owner) == ("old", "done", None)
        [run] = store.runs(exp_id)
        assert run.factors == {"embeddings": "glove", "head": "flatten"}
        assert [e.val_acc for e in store.epochs(exp_id)[run.id]] == [0.75, 0.75]
        assert store.samples(exp_id) == []
        assert store.recover() == []
    version, columns = schema(path)
    assert version == 2 and "owner" not in columns


def test_recover_writes_only_to_a_store_of_the_current_schema(tmp_path):
    """A dead v2 owner's experiment stays as v2 left it: recovering it is that version's
    business until a writing command upgrades the store."""
    import socket

    from tests.test_store import dead_pid

    path = v2_store(tmp_path / "v2.sqlite")
    exp_id = add_v2_experiment(path, status="running", pid=dead_pid(), host=socket.gethostname())
    with Store(path, create=False, migrate=False) as store:
        assert store.recover() == []
        assert store.experiment(exp_id).status == "running"
    assert schema(path)[0] == 2
    # A writing connection upgrades it (its owner is dead) and then recovers it.
    with Store(path, create=False) as store:
        assert store.recover() == [exp_id]
        assert store.experiment(exp_id).status == "interrupted"
    assert schema(path)[0] == SCHEMA_VERSION


def test_an_upgrade_is_refused_while_a_live_process_owns_an_experiment(tmp_path):
    """Any version's owner counts: here a live pid (a sleeping child) in a v2 row."""
    import socket

    path = v2_store(tmp_path / "v2.sqlite")
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            exp_id = add_v2_experiment(
                path, status="running", pid=child.pid, host=socket.gethostname()
            )
            with pytest.raises(OwnedElsewhere, match=r"schema v2 needs upgrading to v\d") as info:
                Store(path, create=False)
            assert "\n" not in str(info.value)
            assert f"experiment {exp_id} is being trained" in str(info.value)
            # a reading connection that then writes asks for the same upgrade: refused too
            with Store(path, create=False, migrate=False) as store:
                with pytest.raises(OwnedElsewhere):
                    store.rename_experiment(exp_id, "new")
                assert store.experiment(exp_id).name == "old"
            assert schema(path)[0] == 2
        finally:
            child.kill()
    with Store(path, create=False, migrate=False) as store:
        store.rename_experiment(exp_id, "new")  # its owner is gone: upgraded, then written
        assert store.experiment(exp_id).name == "new"
    assert schema(path)[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_in_one_line_by_reading_commands_too(tmp_path):
    path = v2_store(tmp_path / "v9.sqlite")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 4}")
    db.close()
    for migrate in (True, False):
        with pytest.raises(StoreError, match=r"newer than this embtui"):
            Store(path, create=False, migrate=migrate)


@pytest.mark.slow
def test_list_and_export_leave_a_v2_store_that_an_older_embtui_trains_in(tmp_path):
    """Issue 23, item 9: an older embtui trains in a v2 store while the current `embtui
    list` and `embtui export` read it. The store stays v2 and the old process finishes its
    run; a current writing command is refused until it has, then upgrades."""
    path = v2_store(tmp_path / "v2.sqlite")
    release = tmp_path / "release"
    env = cli_env(tmp_path / "home")
    owner = subprocess.Popen(
        [sys.executable, str(V2_OWNER), str(path), str(release)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_until(lambda: epoch_count(path), 30, "the v2 owner's first epoch", process=owner)

        listed = run_cli_in(env, ["list", "--store", path])
        assert listed.rc == 0, listed.stderr
        assert "v2-grid" in listed.stdout and "running" in listed.stdout
        exported = run_cli_in(env, ["export", "1", "--format", "json", "--store", path])
        assert exported.rc == 0, exported.stderr
        assert json.loads(exported.stdout)
        renamed = run_cli_in(env, ["rename", "1", "new-name", "--store", path])
        assert renamed.rc == 2
        assert renamed.stderr.count("\n") == 1 and "Traceback" not in renamed.stderr
        assert "is being trained in it by pid" in renamed.stderr
        assert schema(path)[0] == 2
        assert owner.poll() is None  # still training, still reading v2 rows
    finally:
        release.touch()
        _, err = owner.communicate(timeout=60)
    assert owner.returncode == 0, err.decode()
    db = sqlite3.connect(path)
    assert db.execute("SELECT status FROM experiments").fetchall() == [("done",)]
    assert db.execute("SELECT count(*) FROM epochs").fetchone()[0] == 9
    assert db.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0] == 3
    db.close()
    assert schema(path)[0] == 2
    # Once the old process has finished, a writing command upgrades the store.
    renamed = run_cli_in(env, ["rename", "1", "new-name", "--store", path])
    assert renamed.rc == 0, renamed.stderr
    assert schema(path)[0] == SCHEMA_VERSION


def test_ids_are_never_given_out_twice_after_a_delete(tmp_path):
    """Deleting the newest experiment handed its id, and its runs' ids, to the next one."""
    with Store(tmp_path / "s.sqlite") as store:
        first = store.create_experiment("a", {}, [(10, "learned", 0)])
        newest = store.create_experiment("b", {}, [(10, "learned", 0), (10, "glove", 0)])
        gone = [r.id for r in store.runs(newest)]
        store.set_experiment_status(newest, "cancelled")
        store.delete_experiment(newest)
        again = store.create_experiment("c", {}, [(10, "learned", 0)])
        assert (first, newest, again) == (1, 2, 3)
        assert [r.id for r in store.runs(again)] == [max(gone) + 1]
        added = store.add_run(again, size=20, embedding="learned", head="flatten", seed=0)
        assert added == max(gone) + 2


def test_an_older_store_keeps_its_ids_and_reuses_none_deleted_after_the_upgrade(tmp_path):
    path = v2_store(tmp_path / "s.sqlite")
    old = add_v2_experiment(path, status="done", pid=1, host="elsewhere")
    with Store(path) as store:  # a writing connection upgrades it
        assert store.schema_version() == SCHEMA_VERSION
        (old_run,) = store.runs(old)
        newest = store.create_experiment("new", {}, [(10, "learned", 0)])
        (new_run,) = store.runs(newest)
        assert (old, old_run.id, newest, new_run.id) == (1, 1, 2, 2)
        store.set_experiment_status(newest, "cancelled")
        store.delete_experiment(newest)
        later = store.create_experiment("later", {}, [(10, "learned", 0)])
        assert later == 3 and [r.id for r in store.runs(later)] == [3]
        assert store.experiment(old).name == "old"  # its id, as before the upgrade
