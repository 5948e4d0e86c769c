"""Several processes on one store: two writers, a polling viewer and `embtui list` at once.

This is the everyday setup on a GPU box: a grid trains headless in tmux, a second grid is
started from another shell, a console watches and someone runs `embtui list`. Every
process must finish without "database is locked", no write may be lost, and a reader must
only ever see whole epochs (each run's epochs are 1..k, never with a gap).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from embtui.store import Store

#: Starts embtui processes that import TensorFlow: not in the quick loop (`-m "not slow"`).
pytestmark = pytest.mark.slow

RUNS, EPOCHS = 10, 30  # 300 epochs per writer

WRITER = textwrap.dedent(
    """
    import sys, time
    from embtui.store import EpochMetrics, Store

    path, name, runs, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = Store(path)
    cells = [(10 * (1 + r // 2), "learned", r % 2) for r in range(runs)]
    exp_id = store.create_experiment(name, {"name": name}, cells, head="flatten")
    store.set_experiment_status(exp_id, "running")
    for run in store.runs(exp_id):
        store.start_run(run.id, device="CPU", params=1, coverage=None)
        for n in range(1, epochs + 1):
            store.add_epoch(EpochMetrics(run.id, n, 1 / n, 0.5, 1 / n, n / epochs, 0.001))
            store.beat(exp_id)
            time.sleep(0.003)
        store.finish_run(run.id, "done")
    store.set_experiment_status(exp_id, "done")
    store.close()
    print("wrote", runs * epochs)
    """
)

VIEWER = textwrap.dedent(
    """
    import sys, time
    from embtui.store import Store

    store = Store(sys.argv[1], create=False)
    last_version, polls, seen = None, 0, 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        version = store.data_version()
        if version != last_version:
            last_version = version
            total = 0
            for exp in store.experiments():
                for run_id, epochs in store.epochs(exp.id).items():
                    numbers = [e.epoch for e in epochs]
                    assert numbers == list(range(1, len(numbers) + 1)), numbers
                    total += len(numbers)
            assert total >= seen, (total, seen)  # nothing once seen disappears
            seen = total
            polls += 1
            exps = store.experiments()
            if len(exps) == 2 and all(e.status == "done" for e in exps):
                break
        time.sleep(0.005)
    print("polls", polls, "seen", seen)
    """
)


def python(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_writers_a_viewer_and_list_share_one_store_without_locks_or_losses(tmp_path):
    path = tmp_path / "shared.sqlite"
    Store(path).close()  # the store exists before anyone reads it, as on a box in use
    procs = {
        "writer-1": python("-c", WRITER, str(path), "grid-a", str(RUNS), str(EPOCHS)),
        "writer-2": python("-c", WRITER, str(path), "grid-b", str(RUNS), str(EPOCHS)),
        "viewer": python("-c", VIEWER, str(path)),
    }
    listings = []
    while procs["writer-1"].poll() is None or procs["writer-2"].poll() is None:
        listings.append(
            subprocess.run(
                [sys.executable, "-m", "embtui", "list", "--store", str(path)],
                capture_output=True,
                text=True,
            )
        )
        time.sleep(0.05)

    outputs = {name: p.communicate(timeout=120) for name, p in procs.items()}
    for name, proc in procs.items():
        _, err = outputs[name]
        assert proc.returncode == 0, f"{name}: {err}"
        assert "locked" not in err and "Traceback" not in err, f"{name}: {err}"
    assert outputs["writer-1"][0].strip() == outputs["writer-2"][0].strip() == "wrote 300"
    polls = int(outputs["viewer"][0].split()[1])
    assert polls > 5, "the viewer saw the store change while it was written"

    assert len(listings) >= 3, "embtui list ran while the writers were writing"
    for result in listings:
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""

    with Store(path, create=False) as store:
        exps = sorted(store.experiments(), key=lambda e: e.name)
        assert [(e.name, e.status) for e in exps] == [("grid-a", "done"), ("grid-b", "done")]
        for exp in exps:
            epochs = store.epochs(exp.id)
            assert sum(len(v) for v in epochs.values()) == RUNS * EPOCHS
            assert all(r.status == "done" for r in store.runs(exp.id))
        db = store._db
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
