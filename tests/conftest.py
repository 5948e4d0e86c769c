"""Shared fixtures: tiny datasets, the real CLI in a subprocess, experiments trained once.

Only fixtures live here; the builders and probes they use are in tests/helpers.py. Tiny data
keeps every real training run to a fraction of a second; TensorFlow's import (about 3 s per
process) is the main cost, so the CLI experiments are session-scoped and shared.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import (
    SMALL_GRID,
    TINY_GRID,
    CliExperiment,
    CliExports,
    CliResult,
    InProcessExperiment,
    TinyInputs,
    cli_env,
    embtui,
    flags,
    histories,
    run_cli_in,
    write_acl,
    write_csv,
    write_glove,
    write_npz,
    write_reviews,
)

#: Fixtures that start `embtui run` processes (TensorFlow in each): a test using one is slow.
SLOW_FIXTURES = frozenset(
    {
        "cli_experiment",
        "cli_exports",
        "source_runs",
        "error_runs",
        "three_exported",
        "exported",
        "reference",
        "tf_reference",
    }
)

#: Fixtures that train with TensorFlow in the test process: a test using one is `tensorflow`.
TENSORFLOW_FIXTURES = frozenset({"three_seed_experiment"})

#: Fixtures that train a grid (session or module scope): tests sharing one run on one xdist
#: worker, so that it is trained once (each worker has its own session) and not again on
#: the other (see `shared_training_groups`).
TRAINED_FIXTURES = SLOW_FIXTURES | {
    "tf_reference_run",
    "three_seed_experiment",
    "long_reference",
    "three",
    "recorded",
    "sweep",
    "three_experiments",
    "two_fits",
}


# tryfirst: pytest-xdist's worker reads the xdist_group marks in its own hook, which otherwise
# runs before this one (it is registered after the conftests), and would see none of them.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `slow` every test that trains with TensorFlow, in the test process (marked
    `tensorflow`) or through the real CLI, so that `pytest -m "not slow"` is the quick loop,
    which never imports TensorFlow (`quick_tests_stay_light` holds it to that), and CI,
    running everything, still runs them.

    Under `-n N --dist loadgroup` (README's commands) the tests that start a Ray cluster
    run one after another on one worker: two clusters on a 2-core box at once would only
    make their deadlines a matter of luck. Tests that share a trained fixture run on one
    worker, so the fixture is trained once (`shared_training_groups`)."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if TENSORFLOW_FIXTURES & fixtures:
            item.add_marker(pytest.mark.tensorflow)
        if SLOW_FIXTURES & fixtures or item.get_closest_marker("tensorflow") is not None:
            item.add_marker(pytest.mark.slow)
        if item.get_closest_marker("ray") is not None:
            item.add_marker(pytest.mark.xdist_group("ray"))
    for item, group in shared_training_groups(items).items():
        item.add_marker(pytest.mark.xdist_group(group))
    if os.environ.get("PYTEST_XDIST_WORKER"):
        items.sort(key=dispatch_order)


def dispatch_order(item: pytest.Item) -> int:
    """Where a test goes in a parallel run: the slow tests before the quick ones (each a
    second or less), in collection order within each. Under `--dist loadgroup`
    pytest-xdist hands out the groups first, largest first (the shared CLI grid's 96 tests,
    the runner's 30, the Ray cluster tests' 9: with three workers all three start at once), then
    the ungrouped tests in this order, so the run ends on short tests spread over every
    worker instead of one worker finishing a 20-second test while the others wait (the
    longest-first rule). A run without xdist keeps the files' order."""
    return 0 if item.get_closest_marker("slow") is not None else 1


def shared_training_groups(items: Sequence[pytest.Item]) -> dict[pytest.Item, str]:
    """An xdist group for each set of tests joined by the trained fixtures they use.

    A session fixture lives once per worker: spread over two workers, a grid trained for
    `cli_experiment` would be trained twice. Tests are joined when they share a trained
    fixture (a module's own fixture counts within its module), the way connected parts of
    a graph are found; the Ray tests keep their own group.
    Returns the group of every test in one, named after its first fixture in sorted order."""
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    keys_of: dict[pytest.Item, list[str]] = {}
    for item in items:
        if item.get_closest_marker("ray") is not None:
            continue
        module = getattr(item, "module", None)
        params = getattr(getattr(item, "callspec", None), "params", {})  # not fixtures
        names = TRAINED_FIXTURES & set(getattr(item, "fixturenames", ())) - set(params)
        keys = [
            f"{item.nodeid.split('::')[0]}:{name}" if name in vars(module or object) else name
            for name in sorted(names)
        ]
        if keys:
            keys_of[item] = keys
            for key in keys:
                parent[find(key)] = find(keys[0])
    roots: dict[str, str] = {}
    for key in sorted(parent):
        roots.setdefault(find(key), key)
    return {item: f"trained:{roots[find(keys[0])]}" for item, keys in keys_of.items()}


@pytest.fixture
def heavy_modules() -> frozenset[str]:
    """What a quick test (not `slow`) never imports: TensorFlow, and Keras with it."""
    return frozenset({"tensorflow", "keras"})


#: The modules loaded when a test's setup began, before any of its fixtures ran.
LOADED_BEFORE = pytest.StashKey[frozenset[str]]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[LOADED_BEFORE] = frozenset(sys.modules)


@pytest.fixture(autouse=True)
def quick_tests_stay_light(request: pytest.FixtureRequest, heavy_modules: frozenset[str]):
    """A quick test that starts without TensorFlow loaded ends without it, counting what its
    fixtures import: one that needs it is marked `tensorflow` (and so `slow`), so the quick
    loop never pays its import. This holds in the quick loop (`-m "not slow"`); in a full
    run a worker has usually loaded TensorFlow for an earlier slow test, and then there is
    nothing left to see."""
    before = request.node.stash.get(LOADED_BEFORE, frozenset(sys.modules))
    yield
    if request.node.get_closest_marker("slow") is None:
        loaded = (heavy_modules & sys.modules.keys()) - before
        assert not loaded, (
            f"a quick test imported {sorted(loaded)}: mark it slow "
            "(and tensorflow where it imports TensorFlow in the test process)"
        )


@pytest.fixture(autouse=True)
def stores_are_closed(monkeypatch: pytest.MonkeyPatch):
    """Every Store a test opens in this process is closed by the end of the test."""
    from embtui.store import Store

    opened: list[Store] = []
    original = Store.__init__

    def tracked(self: Store, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Store, "__init__", tracked)
    yield
    left = [str(s.path) for s in opened if not s.closed]
    assert not left, f"the test left these stores open: {left}"


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """No test reads or writes the user's real embtui cache (GloVe matrices, datasets,
    initial weights, compiled kernels): the session has its own, which every `embtui`
    process a test starts uses too (`run_cli`, `embtui`), unless the test gives it another.

    One for the whole run, shared by the xdist workers (their temporary folders are side by
    side under the run's own): a fused run that misses it compiles its kernel shape (about
    2 s) and imports TensorFlow to draw initial weights (about 4 s), and with a cache per
    worker and another for `run_cli` every shape and seed was paid up to four times. A
    cache shared by concurrent processes is what users have too: its entries are written
    atomically (embtui.engine.cache, Numba's own cache files). Tests that need a cold cache
    make their own."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "embtui-cache"
    folder.mkdir(exist_ok=True)
    patch = pytest.MonkeyPatch()
    patch.setenv("EMBTUI_CACHE", str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def run_cli(session_home: Path, private_cache: Path) -> Callable[..., CliResult]:
    """`run_cli(args) -> (rc, stdout, stderr)` with the default store in a tmp home and the
    session's embtui cache."""
    env = {**cli_env(session_home), "EMBTUI_CACHE": str(private_cache)}

    def run(
        args: Sequence[str], cwd: Path | None = None, timeout: float = 300, tty: bool = False
    ) -> CliResult:
        return run_cli_in(env, args, cwd=cwd or session_home, timeout=timeout, tty=tty)

    return run


@pytest.fixture(scope="session")
def run_cli_many(run_cli) -> Callable[[Sequence[Sequence[Any]]], list[CliResult]]:
    """Run several independent CLI commands at once (one per core); results in order.

    Most of a short command's time is Python importing numpy and scipy, on one core: on
    a 2-core machine two at a time halves the wall time of a batch of error checks.
    """

    def run_many(arg_lists: Sequence[Sequence[Any]], tty: Sequence[bool] = ()) -> list[CliResult]:
        ttys = list(tty) + [False] * (len(arg_lists) - len(tty))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
            return list(pool.map(lambda a, t: run_cli(a, tty=t), arg_lists, ttys))

    return run_many


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyInputs:
    root = tmp_path_factory.mktemp("tiny")
    return TinyInputs(
        csv=write_csv(root / "reviews.csv"),
        glove=write_glove(root / "glove.tiny.4d.txt"),
        npz=write_npz(root / "kerasdata"),
        acl=write_acl(root / "aclImdb"),
    )


@pytest.fixture(scope="session")
def cli_experiment(
    tmp_path_factory: pytest.TempPathFactory, tiny: TinyInputs, run_cli
) -> CliExperiment:
    store = tmp_path_factory.mktemp("cli-store") / "store.sqlite"
    args = (
        "run",
        *flags(dataset=tiny.csv, **TINY_GRID, glove=tiny.glove, store=store),
    )
    first = run_cli(args)
    assert first.rc == 0, first.stderr[-3000:]
    second = run_cli(args)
    assert second.rc == 0, second.stderr[-3000:]
    return CliExperiment(store, (first, second), args)


@pytest.fixture(scope="session")
def cli_exports(cli_experiment: CliExperiment, run_cli_many) -> CliExports:
    store = cli_experiment.store
    results = run_cli_many(
        [
            ["export", "1", "--format", "json", "--store", store],
            ["export", "latest", "--format", "json", "--store", store],
            ["export", "latest", "--format", "md", "--store", store],
            ["export", "latest", "--format", "csv", "--store", store],
        ]
    )
    for result in results:
        assert result.rc == 0 and result.stderr == "", result.stderr
    j1, j2, md, csv_text = (r.stdout for r in results)
    return CliExports(json.loads(j1), json.loads(j2), md, csv_text)


@pytest.fixture(scope="session")
def three_seed_experiment(
    tmp_path_factory: pytest.TempPathFactory, tiny: TinyInputs
) -> InProcessExperiment:
    from embtui.config import from_mapping
    from embtui.engine import runner
    from embtui.store import Store

    home = tmp_path_factory.mktemp("three-seeds")
    # 4 epochs at lr 0.01: enough learning that arms differ a little (p around 0.15 here),
    # so the statistics exported from it are not all degenerate.
    config = from_mapping(
        {
            **TINY_GRID,
            "seeds": "3",
            "epochs": "4",
            "learning_rate": "0.01",
            "dataset": str(tiny.csv),
            "glove": str(tiny.glove),
        }
    )
    events: list[Any] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBTUI_CACHE", str(home / "cache"))
        prepared = runner.prepare(config, sink=events.append)
    store_path = home / "store.sqlite"
    with Store(store_path) as store:
        exp_id = runner.create(store, prepared)
        status = runner.run(store, exp_id, prepared, sink=events.append)
    return InProcessExperiment(store_path, exp_id, status, tuple(events), prepared)


@pytest.fixture(scope="session")
def reviews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 600 generated reviews that SMALL_GRID trains on (tests.helpers.write_reviews)."""
    return write_reviews(tmp_path_factory.mktemp("reviews") / "reviews.csv")


@pytest.fixture(scope="session")
def reference(reviews: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """val_acc histories by (size, seed) of SMALL_GRID trained by `embtui run` without
    interruption (the fused engine, `auto`'s choice here): what every interrupted, resumed
    or concurrently trained copy on that engine must equal. Trained once per test process
    (once per xdist worker); `tf_reference` is the TensorFlow engine's."""
    store = tmp_path_factory.mktemp("reference") / "reference.sqlite"
    result = embtui(
        "run", "--plain", "--store", str(store), f"--dataset={reviews}", *flags(**SMALL_GRID)
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return histories(store)


@pytest.fixture(scope="session")
def tf_reference_run(reviews: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """`reference` trained by the TensorFlow engine, with its TensorBoard log: the
    histories, and the experiment's TensorBoard folder (what a Ray grid's driver must
    write too)."""
    home = tmp_path_factory.mktemp("tf-reference")
    store, logdir = home / "reference.sqlite", home / "tensorboard"
    args = flags(**{**SMALL_GRID, "engine": "tensorflow"})
    result = embtui(
        "run",
        "--plain",
        "--store",
        str(store),
        f"--dataset={reviews}",
        f"--tensorboard={logdir}",
        *args,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = logdir.iterdir()  # the experiment's folder, NAME-ID
    return histories(store), folder


@pytest.fixture(scope="session")
def tf_reference(tf_reference_run: tuple[dict, Path]) -> dict:
    """`reference` trained by the TensorFlow engine: what a grid of worker processes must
    equal (`workers = K` trains TensorFlow runs in processes; the fused engine, `auto`'s
    choice on a CPU-only machine, in threads), and Ray's workers."""
    return tf_reference_run[0]
