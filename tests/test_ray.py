"""Grids on a Ray cluster, against real local Ray clusters (never a mock).

`embtui run --ray` starts Ray on this machine (2 CPUs); the two-node test starts a real
cluster with `ray start --head` and a second `ray start --address` on this machine, and
stops it after. Every grid's histories must equal the same grid trained without Ray.
The tests that start a cluster are marked `ray` (skip them with `-m "not ray"`; CI runs
them); those that only talk to addresses that are not a usable cluster start none.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from embtui.config import ExperimentConfig
from embtui.doctor.ray import check_ray
from embtui.store import Store, checkpoint_folder_of, checkpoint_path_of
from tests.helpers import (
    SMALL_GRID,
    SMALL_RUNS,
    UNDER_THE_CONSOLE,
    command_lines,
    copy_store,
    embtui,
    epoch_count,
    flags,
    histories,
    lazy_module_or_skip,
    stat_fields,
    wait_until,
    write_reviews,
)

# Imported at first use, not by collecting (every xdist worker collects, also in the quick loop).
ray = lazy_module_or_skip("ray", reason="Ray is not installed (pip install 'embtui[ray]')")
grpc = lazy_module_or_skip("grpc", reason="gRPC comes with Ray")

pytestmark = pytest.mark.slow

KEYS = {**SMALL_GRID, "name": "on-ray"}
RUNS = SMALL_RUNS
RAY_BIN = Path(sys.executable).with_name("ray")
RUN = [sys.executable, "-m", "embtui", "run", "--plain", "--ray"]
HEAD = [str(RAY_BIN), "start", "--head", "--num-cpus=1", "--port=6390", "--disable-usage-stats"]


def grid(**overrides: str) -> list[str]:
    """The grid's flags, with `overrides` replacing some."""
    return flags(**{**KEYS, **overrides})


@pytest.fixture(scope="module")
def long_reference(reviews: Path, tmp_path_factory) -> dict:
    """The grid with 40 epochs a run, trained without Ray by the TensorFlow engine (Ray
    trains with it: the fused engine is for one machine): long enough to interrupt."""
    store = tmp_path_factory.mktemp("serial-long") / "s.sqlite"
    args = grid(epochs="40", engine="tensorflow")
    result = embtui("run", "--plain", "--store", str(store), f"--dataset={reviews}", *args)
    assert result.returncode == 0, result.stderr
    return histories(store)


def devices(store: Path) -> list[str]:
    with Store(store, create=False) as s:
        return [r.device or "" for r in s.runs(s.resolve("latest"))]


def statuses(store: Path) -> tuple[str, list[str]]:
    with Store(store, create=False) as s:
        exp = s.experiment(s.resolve("latest"))
        return exp.status, [r.status for r in s.runs(exp.id)]


def scalars(folder: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Every scalar in an experiment's TensorBoard folder, read by TensorFlow's own reader:
    event file (its folder) -> tag -> [(step, value)] in file order. Wall times are left
    out: they are when each epoch ended."""
    import tensorflow as tf

    out: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for path in sorted(folder.rglob("events.out.tfevents.*")):
        tags = out.setdefault(str(path.parent.relative_to(folder)), {})
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalar = float(tf.make_ndarray(value.tensor))
                tags.setdefault(value.tag, []).append((event.step, scalar))
    return out


def assert_tensorboard_holds_the_store(store: Path, logdir: Path) -> None:
    """The experiment's event files hold each run's stored epochs once each, in order: one
    file per split (a run trained again starts its folder afresh)."""
    with Store(store, create=False) as s:
        exp = s.experiment(s.resolve("latest"))
        runs, epochs = s.runs(exp.id), s.epochs(exp.id)
    folder = logdir / f"{exp.name}-{exp.id}"
    found = scalars(folder)
    files = sorted(str(p.parent.relative_to(folder)) for p in folder.rglob("events.*"))
    assert files == sorted(found) and len(files) == 2 * len(runs), files
    for run in runs:
        name = f"size{run.size}-{run.embedding}-seed{run.seed}"
        stored = epochs[run.id]
        steps = [e.epoch for e in stored]
        assert steps == list(range(1, len(stored) + 1)) and stored, (name, steps)
        for split, loss, acc in (("train", "loss", "acc"), ("validation", "val_loss", "val_acc")):
            tags = found[f"{name}/{split}"]
            assert sorted(tags) == ["epoch_accuracy", "epoch_loss"], tags
            assert [step for step, _ in tags["epoch_loss"]] == steps
            assert [step for step, _ in tags["epoch_accuracy"]] == steps
            assert [v for _, v in tags["epoch_loss"]] == pytest.approx(
                [getattr(e, loss) for e in stored], abs=1e-6
            )
            assert [v for _, v in tags["epoch_accuracy"]] == pytest.approx(
                [getattr(e, acc) for e in stored], abs=1e-6
            )


def no_checkpoints(store: Path) -> list[str]:
    """The checkpoint files left beside the store (none once every run ended done)."""
    with Store(store, create=False) as s:
        folder = s.checkpoint_folder
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.mark.ray
def test_a_ray_grid_gives_exactly_the_histories_and_tensorboard_files_of_the_serial_run(
    reviews, tf_reference_run, tmp_path
):
    """Every epoch of every run exactly as trained here (Ray trains with the TensorFlow
    engine); with `--tensorboard`, the driver writes each run's event files on this
    machine, holding exactly the scalars the same grid trained here writes; and every run,
    which saved a checkpoint after each epoch, removes it once done."""
    reference, reference_log = tf_reference_run
    store, logdir = tmp_path / "s.sqlite", tmp_path / "tensorboard"
    result = embtui(
        "run",
        "--plain",
        "--ray",
        "--store",
        str(store),
        f"--dataset={reviews}",
        f"--tensorboard={logdir}",
        *grid(),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "starting Ray here" in result.stderr  # progress, on stderr
    assert histories(store) == reference  # every epoch of every run, exactly
    assert statuses(store) == ("done", ["done"] * RUNS)
    # Each run says where it trained: device, host and Ray node.
    assert all(" on " in d and "(Ray node " in d for d in devices(store)), devices(store)
    with Store(store, create=False) as s:
        runs = s.runs(s.resolve("latest"))
        assert all(r.wall_s and r.peak_rss for r in runs)  # the cost came back too
    assert no_checkpoints(store) == []
    assert_tensorboard_holds_the_store(store, logdir)
    assert scalars(logdir / "on-ray-1") == scalars(reference_log)  # every tag, step, value


def ray_workers() -> list[int]:
    """Ray worker processes training a run (their title names the task)."""
    return [pid for pid, line in command_lines().items() if b"train_remote" in line]


def stopped_with_a_checkpoint(store: Path) -> list[int]:
    """The Ray workers training runs, stopped (SIGSTOP) at a moment when a run one of them
    trains has a checkpoint; [] when none has one yet (the workers then train on).

    Not "a checkpoint on disk and a worker training": a tiny run trains its 40 epochs in
    under a second and the driver writes and removes checkpoints a little behind its
    workers, so both can hold while the worker is already on its next run, not yet
    checkpointed (a retry of that run starts from scratch). With the workers stopped the
    driver catches up, the store and the checkpoints stop changing, and a run then still
    `running` with a checkpoint is one that a stopped worker trains."""
    checkpoints = checkpoint_folder_of(store)
    workers = ray_workers() if any(checkpoints.glob("run-*.npz")) else []
    if not workers:  # stopping them before a first checkpoint would only slow them down
        return []
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    seen: list[Any] = [None, time.monotonic()]

    def quiet() -> bool:
        now = (epoch_count(store), sorted(p.name for p in checkpoints.glob("run-*.npz")))
        if now != seen[0]:
            seen[:] = [now, time.monotonic()]
        return time.monotonic() - seen[1] >= 2.0  # ten of the driver's rounds

    wait_until(quiet, 60, "the driver catching up with the stopped workers", interval=0.1)
    with Store(store, create=False) as s:
        running = [r.id for r in s.runs(s.resolve("latest")) if r.status == "running"]
    if any(checkpoint_path_of(store, run).is_file() for run in running):
        return workers
    for pid in workers:
        os.kill(pid, signal.SIGCONT)
    return []


@pytest.mark.ray
def test_a_killed_ray_worker_loses_nothing_and_its_run_continues(reviews, long_reference, tmp_path):
    """SIGKILL of the worker process training a run: Ray retries the task, which continues
    from the run's last checkpoint; the grid finishes with the uninterrupted histories,
    and its TensorBoard files hold each epoch once (the retry rewrites its run's)."""
    store, logdir = tmp_path / "s.sqlite", tmp_path / "tb"
    proc = subprocess.Popen(
        [
            *RUN,
            "--store",
            str(store),
            f"--dataset={reviews}",
            *grid(epochs="40", tensorboard_dir=str(logdir)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    workers = wait_until(
        lambda: stopped_with_a_checkpoint(store),
        180,
        "the Ray workers stopped while a run they train has a checkpoint",
        process=proc,
        interval=0.5,  # between tries the workers train on
    )
    for worker in workers:  # whichever is training which run: every run in flight is hit
        os.kill(worker, signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    assert "continuing from the checkpoint after epoch" in err
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert histories(store) == long_reference
    assert_tensorboard_holds_the_store(store, logdir)
    assert no_checkpoints(store) == []


@pytest.mark.ray
def test_ctrl_c_on_the_driver_stops_the_grid_and_it_resumes_exactly(
    reviews, long_reference, tmp_path
):
    store, logdir = tmp_path / "s.sqlite", tmp_path / "tb"
    proc = subprocess.Popen(
        [
            *RUN,
            "--store",
            str(store),
            f"--dataset={reviews}",
            *grid(epochs="40", tensorboard_dir=str(logdir)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_until(lambda: epoch_count(store) >= 3, 180, "3 epochs in the store", process=proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    status, runs = statuses(store)
    assert status == "cancelled" and set(runs) <= {"done", "cancelled"} and "cancelled" in runs
    with Store(store, create=False) as s:  # every stopped run left a checkpoint behind
        stopped = [r for r in s.runs(1) if r.status == "cancelled" and s.run_epochs(r.id)]
        assert all(checkpoint_path_of(store, r.id).is_file() for r in stopped)
    again = embtui("run", "--resume", "latest", "--ray", "--plain", "--store", str(store))
    assert again.returncode == 0, again.stderr[-3000:]
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert histories(store) == long_reference  # as if never stopped
    assert_tensorboard_holds_the_store(store, logdir)  # each epoch once, however resumed
    assert no_checkpoints(store) == []


def _kill_cluster(*marks: str) -> None:
    """Stop the processes of the cluster started by `two_nodes` and only those: the ones
    whose command line names its folder or address, and their children (`ray stop` would
    stop every Ray on the machine, other tests' and the developer's own too)."""
    lines = command_lines()
    parents = {pid: int(fields[1]) for pid in lines if (fields := stat_fields(pid)) is not None}
    doomed = {pid for pid, line in lines.items() if any(m.encode() in line for m in marks)}
    doomed.discard(os.getpid())
    while True:
        more = {pid for pid, parent in parents.items() if parent in doomed} - doomed
        if not more:
            break
        doomed |= more
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            continue


@pytest.fixture
def two_nodes():
    """A real two-node Ray cluster on this machine: a head and a second node, 1 CPU each,
    sharing a token (Ray authenticates its nodes and drivers), with its files in its own
    folder so that nothing else on the machine finds it. Yields (address, env)."""
    temp_dir = tempfile.mkdtemp(prefix="embtui-ray-", dir="/tmp")  # short: socket paths
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
    }
    env.pop("RAY_ADDRESS", None)
    address = ""
    try:
        head = subprocess.run(
            [*HEAD, f"--temp-dir={temp_dir}", "--include-dashboard=false"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert head.returncode == 0, head.stderr
        found = re.search(r"ray start --address='([^']+)'", head.stdout + head.stderr)
        assert found, head.stdout
        address = found.group(1)
        second = subprocess.run(
            [str(RAY_BIN), "start", f"--address={address}", "--num-cpus=1"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr
        yield address, env
    finally:
        _kill_cluster(temp_dir, *([f"={address}"] if address else []))
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.ray
def test_a_two_node_cluster_trains_on_both_nodes(two_nodes, reviews, tf_reference, tmp_path):
    reference = tf_reference  # Ray trains with the TensorFlow engine
    address, env = two_nodes
    # Without the cluster's token: refused at once, saying so (it said "start one with ray
    # start --head" after 28 s).
    # A machine without it: no RAY_AUTH_* and no ~/.ray/auth_token (Ray reads that too).
    home = tmp_path / "home"
    home.mkdir()
    untokened = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
    wrong = {**env, "RAY_AUTH_TOKEN": secrets.token_hex(16)}
    for other_env, says in (
        ({**untokened, "HOME": str(home)}, "needs a token"),
        (wrong, "refused this machine's token"),
    ):
        refused, seconds = timed(
            "run", "--plain", "--ray", address, "--store", str(tmp_path / "t.sqlite"),
            f"--dataset={reviews}", *grid(), env=other_env,
        )  # fmt: skip
        line = refused_quickly(refused, seconds)
        assert f"the Ray cluster at {address} {says}" in line, line
    assert not (tmp_path / "t.sqlite").exists()
    doctor = embtui("doctor", "--ray", address, env={**env, "COLUMNS": "250"})
    row = next(line for line in doctor.stdout.splitlines() if "cluster at" in line)
    assert "2 nodes, 2 CPUs, 0 GPUs" in " ".join(row.split())
    store = tmp_path / "s.sqlite"
    result = embtui(
        "run",
        "--plain",
        "--ray",
        address,
        "--store",
        str(store),
        f"--dataset={reviews}",
        *grid(),
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Ray: 2 nodes, 2 CPUs, 0 GPUs" in result.stderr
    nodes = {d.rsplit("(Ray node ", 1)[1] for d in devices(store)}
    assert len(nodes) == 2, devices(store)  # runs went to both nodes
    assert histories(store) == reference
    listing = embtui("export", "latest", "--format", "json", "--store", str(store), env=env)
    assert {r["device"] for r in json.loads(listing.stdout)["runs"]} == set(devices(store))


@pytest.mark.ray
def test_ray_starts_where_sys_stderr_has_no_file():
    """The console (Textual) replaces sys.stderr with a capture whose fileno() is -1;
    `ray.init` enables faulthandler on it and failed there ("file.fileno() is not a valid
    file descriptor"), so no Ray grid could start from the console. A fresh interpreter."""
    script = (
        UNDER_THE_CONSOLE
        + """
from embtui.engine.executors.ray import connect, import_ray

try:
    connect(None)
    sys.stdout.write(f"connected {import_ray().is_initialized()}")
except Exception as exc:
    real_stderr.write(f"{type(exc).__name__}: {exc}")
finally:
    import_ray().shutdown()
"""
    )
    temp_dir = tempfile.mkdtemp(prefix="embtui-ray-", dir="/tmp")  # short: socket paths
    try:
        env = {**os.environ, "RAY_TMPDIR": temp_dir}
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert proc.stdout == "connected True", proc.stderr[-3000:]


@pytest.mark.ray
def test_a_ray_grid_trains_its_runs_side_by_side_as_the_cluster_holds_them(tmp_path):
    """Each run asks for half the machine's CPUs, so two fit at once, and two do train at
    once. In flight is counted from the driver's events (a run's start to its finish),
    which it hands on in the order the tasks posted them.

    Never more than two: Ray lends a task's CPUs to other tasks while it waits on the board,
    and once started three or four runs at once here, until the driver kept its own count
    (`RayCluster.room`, tests/engine/test_ray_driver.py). This grid no longer shows the
    lending (with the count taken out it still saw two at most, also with 100 epochs of
    1,400 reviews a run), so only the count itself is checked there."""
    from embtui.config import from_mapping
    from embtui.engine import runner
    from embtui.engine.events import RunFinished, RunStarted

    cpus = os.cpu_count() or 2
    config = from_mapping(
        {
            "dataset": str(write_reviews(tmp_path / "reviews.csv", 400)),
            "sizes": "200,300",
            "embeddings": "learned",
            "seeds": "2",
            "epochs": "60",  # a few seconds a run: the two overlap however the workers start
            "val_size": "50",
            "vocab_size": "200",
            "maxlen": "20",
            "cluster": "ray",
            "cpus_per_run": str(cpus / 2),
        }
    )
    events: list = []
    prepared = runner.prepare(config, sink=events.append)
    with Store(tmp_path / "s.sqlite") as store:
        exp_id = runner.create(store, prepared)
        assert runner.run(store, exp_id, prepared, sink=events.append) == "done"
        assert [r.status for r in store.runs(exp_id)] == ["done"] * 4
    in_flight, most = 0, 0
    for event in events:
        if isinstance(event, RunStarted):
            in_flight += 1
            most = max(most, in_flight)
        elif isinstance(event, RunFinished):
            in_flight -= 1
    assert in_flight == 0
    assert most == 2  # never more than fit, and the two did run side by side


# -- addresses that are not a usable cluster: one line, exit 2, within 15 s -----------------

#: The most seconds a refusal of a cluster address may take (the issue's promise).
REFUSED_WITHIN_S = 15


@pytest.fixture
def silent_port() -> Iterator[str]:
    """A real socket on 127.0.0.1 that accepts every connection and never answers a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)  # kept open, never read, never written

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stopping.set()
        server.close()
        for conn in held:
            conn.close()


def refused_quickly(result: subprocess.CompletedProcess, seconds: float) -> str:
    """The one error line of a refusal that came with exit 2 within REFUSED_WITHIN_S: the
    last on stderr, after at most the progress of loading and connecting."""
    assert result.returncode == 2, (result.returncode, result.stderr[-3000:])
    assert seconds < REFUSED_WITHIN_S, seconds
    *progress, error = result.stderr.strip().splitlines()
    assert error.startswith("embtui: error: "), result.stderr[-3000:]
    for line in progress:
        assert re.fullmatch(
            r"loading data: .+|loading GloVe vectors|connecting to Ray at .+|starting Ray here",
            line,
        ), result.stderr[-3000:]
    return error


def timed(*args: str, **kw) -> tuple[subprocess.CompletedProcess, float]:
    start = time.monotonic()
    result = embtui(*args, timeout=120, **kw)
    return result, time.monotonic() - start


def test_an_address_that_accepts_and_never_answers_is_refused_within_15_s(
    silent_port, reviews, tmp_path
):
    """Ray retried such an address for 13 minutes and more, printing warnings, deaf to
    Ctrl-C and SIGTERM; `embtui doctor --ray` likewise."""
    store = tmp_path / "s.sqlite"
    args = ("--plain", "--ray", silent_port, "--store", str(store), f"--dataset={reviews}")
    # The three ask the same silent address at once (each waits out its own deadline; one
    # after another, this test was 15 s of waiting).
    with ThreadPoolExecutor(max_workers=2) as pool:
        running = pool.submit(timed, "run", *args, *grid())
        doctoring = pool.submit(
            embtui, "doctor", "--ray", silent_port, env={**os.environ, "COLUMNS": "250"}, timeout=60
        )
        # The doctor's Ray row within the deadline (its other rows, TensorFlow's among them,
        # take their own seconds on a busy box), and the whole doctor with it: exit 2.
        start = time.monotonic()
        row = check_ray(ExperimentConfig(), silent_port)
        assert time.monotonic() - start < REFUSED_WITHIN_S
        assert row.failed and f"no answer from a Ray cluster at {silent_port}" in row.detail
        result, seconds = running.result()
        doctor = doctoring.result()
    line = refused_quickly(result, seconds)
    assert f"no answer from a Ray cluster at {silent_port}" in line
    assert not store.exists()  # refused before anything was recorded
    assert doctor.returncode == 2, doctor.stdout[-3000:]
    row_line = next(line for line in doctor.stdout.splitlines() if line.startswith("│ ray"))
    assert f"no answer from a Ray cluster at {silent_port}" in " ".join(row_line.split())
    assert "rpc_client" not in doctor.stdout + doctor.stderr  # none of Ray's retry warnings


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_embtui_while_it_waits_for_a_silent_address(
    sig, silent_port, reviews, tmp_path
):
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [*RUN, silent_port, "--store", str(store), f"--dataset={reviews}", *grid()],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        for line in proc.stderr:  # the address is being asked: send the signal now
            seen.append(line)
            if "connecting to Ray at" in line:
                break
        else:
            pytest.fail("".join(seen))
        # Into the wait for an answer (Ray's own waited in C++, where no handler runs).
        time.sleep(2)
        sent = time.monotonic()
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # 130 from embtui's own Ctrl-C handling; SIGTERM's default action ends the process by
    # the signal, which a shell reports as 143.
    assert proc.returncode in (128 + sig, -sig), err[-3000:]
    assert time.monotonic() - sent < 3
    assert "Traceback" not in err
    assert not store.exists()


@pytest.fixture
def other_services() -> Iterator[dict[str, str]]:
    """Two real services that are not Ray, on 127.0.0.1: an HTTP/1.1 web server and an
    HTTP/2 (gRPC) server with none of Ray's services."""
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    h2 = grpc.server(ThreadPoolExecutor(max_workers=2))
    port = h2.add_insecure_port("127.0.0.1:0")
    h2.start()
    try:
        yield {"http": f"127.0.0.1:{web.server_address[1]}", "http2": f"127.0.0.1:{port}"}
    finally:
        web.shutdown()
        web.server_close()
        h2.stop(0)


def test_a_port_where_another_service_answers_fails_fast_in_one_line(
    other_services, reviews, tmp_path
):
    """Ray spent 20 s and 20 lines of warnings on an HTTP/2 service before giving up."""
    for address in other_services.values():
        store = tmp_path / "s.sqlite"
        result, seconds = timed(
            "run",
            "--plain",
            "--ray",
            address,
            "--store",
            str(store),
            f"--dataset={reviews}",
            *grid(),
        )
        line = refused_quickly(result, seconds)
        assert f"{address} is not a Ray cluster: another service answers there" in line
        assert not store.exists()


# -- Ctrl-C while Ray starts here ---------------------------------------------------------


@pytest.mark.ray
def test_ctrl_c_while_ray_starts_here_cancels_the_experiment(reviews, tmp_path):
    """Ray starting on this machine takes seconds; a Ctrl-C then was lost (the whole grid
    trained and exited 0), or crashed the start. It stops the grid like any Ctrl-C: no run
    trains, the experiment is `cancelled`, exit 130, and `--resume` can finish it."""
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [*RUN, "--store", str(store), f"--dataset={reviews}", *grid(epochs="40")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if "starting Ray here" in line:
                break
        else:
            pytest.fail("".join(seen))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert statuses(store) == ("cancelled", ["cancelled"] * RUNS)
    assert epoch_count(store) == 0


# -- a cluster that dies under a grid, and a grid finished elsewhere ------------------------


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


@pytest.fixture
def head_node() -> Iterator[Any]:
    """Starts real one-machine Ray clusters (`ray start --head`, 1 CPU, in their own
    folders, with a token as README advises); yields (a function that starts one and
    returns its address and folder, the environment that holds the token). All are
    stopped after the test, and only those."""
    started: list[tuple[str, str]] = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(16))

    def start() -> tuple[str, str]:
        temp_dir = tempfile.mkdtemp(prefix="embtui-ray-", dir="/tmp")  # short: socket paths
        started.append(("", temp_dir))
        head = subprocess.run(
            [
                *HEAD[:-2],  # without the fixed port
                f"--port={free_port()}",
                "--disable-usage-stats",
                f"--temp-dir={temp_dir}",
                "--include-dashboard=false",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert head.returncode == 0, head.stderr
        found = re.search(r"ray start --address='([^']+)'", head.stdout + head.stderr)
        assert found, head.stdout
        started[-1] = (found.group(1), temp_dir)
        return found.group(1), temp_dir

    try:
        yield start, env
    finally:
        for address, temp_dir in started:
            _kill_cluster(temp_dir, *([f"={address}"] if address else []))
            shutil.rmtree(temp_dir, ignore_errors=True)


def raylet_of(temp_dir: str) -> int:
    """The pid of the raylet of the cluster whose files are in `temp_dir`."""
    for pid, line in command_lines().items():
        if b"raylet/raylet" in line and temp_dir.encode() in line:
            return pid
    raise AssertionError(f"no raylet of {temp_dir}")


@pytest.mark.ray
def test_a_dead_head_stops_the_grid_saying_so_and_it_resumes_here_or_on_another_cluster(
    head_node, reviews, long_reference, tmp_path
):
    """The head's raylet dies mid-grid (this machine's Ray node, marked dead): Ray ends the
    driver at once, without a word. `embtui run` says so in one line of its own, exit 1,
    and the experiment is `interrupted`. Its cluster is gone: a plain resume is refused
    with where else it can go; on this machine (`--cluster local`) or on another cluster
    (`--ray ADDRESS`) it finishes with the uninterrupted histories."""
    start_head, env = head_node
    address, temp_dir = start_head()
    store = tmp_path / "s.sqlite"
    proc = subprocess.Popen(
        [*RUN, address, "--store", str(store), f"--dataset={reviews}", *grid(epochs="40")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    wait_until(lambda: epoch_count(store) >= 3, 180, "3 epochs in the store", process=proc)
    os.kill(raylet_of(temp_dir), signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 1, err[-3000:]
    assert "embtui: error: the Ray node on this machine died" in err, err[-3000:]
    assert "Traceback" not in err
    status, runs = statuses(store)
    assert status == "interrupted" and "done" not in runs
    _kill_cluster(temp_dir, f"={address}")  # the rest of that cluster goes too

    elsewhere = copy_store(store, tmp_path / "elsewhere" / "s.sqlite")
    shutil.copytree(f"{store}.checkpoints", f"{elsewhere}.checkpoints", dirs_exist_ok=True)

    plain = embtui("resume", "latest", "--plain", "--store", str(store), env=env)
    assert plain.returncode == 2, plain.stderr
    assert "embtui resume 1 --cluster local" in plain.stderr
    assert statuses(store)[0] == "interrupted"

    here = embtui("run", "--resume", "latest", "--cluster", "local", "--store", str(store), env=env)
    assert here.returncode == 0, here.stderr[-3000:]
    assert statuses(store) == ("done", ["done"] * RUNS)
    assert histories(store) == long_reference
    assert not any("(Ray node " in d for d in devices(store))  # trained on this machine

    other, _ = start_head()
    there = embtui(
        "resume", "latest", "--plain", "--ray", other, "--store", str(elsewhere), env=env
    )
    assert there.returncode == 0, there.stderr[-3000:]
    assert statuses(elsewhere) == ("done", ["done"] * RUNS)
    assert histories(elsewhere) == long_reference


def test_a_head_of_another_ray_version_is_named_with_both_versions():
    """A real gRPC server answering Ray's CheckAlive as a head of another Ray version would
    (Ray's own protocol and messages): refused in one line naming both versions."""
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    from embtui.engine.executors.ray_connect import ClusterUnavailable, probe

    class OlderHead(gcs_service_pb2_grpc.NodeInfoGcsServiceServicer):
        def CheckAlive(self, request, context):
            return gcs_service_pb2.CheckAliveReply(ray_version="2.9.0")

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    gcs_service_pb2_grpc.add_NodeInfoGcsServiceServicer_to_server(OlderHead(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with pytest.raises(ClusterUnavailable) as refused:
            probe(f"127.0.0.1:{port}")
    finally:
        server.stop(0)
    assert f"runs Ray 2.9.0, this machine Ray {ray.__version__}" in str(refused.value)
