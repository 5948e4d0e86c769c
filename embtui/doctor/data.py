"""The data row: keras-imdb's cache and download host, or the local dataset's shape."""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import zipfile
from collections.abc import Mapping
from pathlib import Path

from embtui.config import ExperimentConfig
from embtui.doctor.check import FAIL, OK, Check, size_text
from embtui.engine.keras_cache import (
    KERAS_IMDB_FILES,
    KERAS_IMDB_HASHES,
    cache_mismatches,
    keras_datasets_dir,
)

#: Where keras.datasets.imdb downloads imdb.npz and imdb_word_index.json from.
DOWNLOAD_HOST = "storage.googleapis.com"
DOWNLOAD_PORT = 443
KERAS_IMDB_REVIEWS = 25_000  # per split (train, test)

#: A CSV/TSV larger than this gets only its header checked (and a gzipped one its whole
#: stream, for damage): reading every row would take longer than the doctor should.
FULL_READ_LIMIT = 100 * 1024 * 1024

OFFLINE_FIX = (
    'use local reviews instead: dataset = "path/to/reviews.csv" (a CSV with text,label '
    "columns), a Keras imdb.npz (imdb_word_index.json beside it) or an aclImdb folder; on the "
    "command line: embtui run --dataset path/to/reviews.csv; or copy imdb.npz and "
    "imdb_word_index.json into {folder}"
)


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
    hashes: Mapping[str, str] = KERAS_IMDB_HASHES,
) -> Check:
    """Whether the run would get its reviews, and enough of them for val_size and sizes.

    keras-imdb: cached as the files Keras expects (`hashes`: Keras' own, by default), or
    its download host reachable. A path: it exists and has the shape
    that embtui.engine.data reads, checked without tokenizing anything, with the engine's
    own rules: only regular files (a FIFO is never opened), the same size limits, and
    compressed data read to its end, where its checksums are.
    """
    env = os.environ if env is None else env
    if config.dataset == "keras-imdb":
        return _check_keras_imdb(config, env, host, port, timeout, hashes)
    return _check_dataset_path(config)


def _check_keras_imdb(
    config: ExperimentConfig,
    env: Mapping[str, str],
    host: str | None,
    port: int | None,
    timeout: float,
    hashes: Mapping[str, str],
) -> Check:
    folder = keras_datasets_dir(env)
    missing = [f for f in KERAS_IMDB_FILES if not _non_empty_file(folder / f)]
    too_big = _fit_problem(config, KERAS_IMDB_REVIEWS, KERAS_IMDB_REVIEWS, "keras-imdb")
    if too_big:
        return too_big
    mismatched = cache_mismatches(folder, hashes)
    if mismatched:
        return Check(
            "data",
            FAIL,
            f"keras-imdb: {'; '.join(mismatched)}: Keras would delete it and download again",
            f"move it out of {folder} to download a fresh copy, or train on it as a local "
            f'file: dataset = "{folder / "imdb.npz"}"',
        )
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
    from embtui.engine.data import ALLOWED_FORMS, DataError, table_kind

    dataset = config.dataset
    path = Path(os.path.expanduser(dataset))
    shown = os.path.abspath(path)
    is_npz = path.suffix.lower() == ".npz"
    where = "relative paths start from the current folder, " + os.getcwd()
    if (is_npz or table_kind(path)) and not path.exists():
        return Check("data", FAIL, f"{shown}: no such file", f"check the path ({where})")
    try:
        if table_kind(path):
            return _check_csv(config, path, shown)
        if is_npz:
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


def _check_csv(config: ExperimentConfig, path: Path, shown: str) -> Check:
    from embtui.engine.data import read_reviews_table, table_kind

    kind = table_kind(path)
    size = path.stat().st_size  # a stat, not an open: a FIFO is refused by the readers
    if size > FULL_READ_LIMIT:
        return _check_big_table(config, path, shown, size)
    texts, _ = read_reviews_table(config.dataset, path)
    n = len(texts)
    too_big = _fit_problem(config, n - config.val_size, 0, config.dataset, csv_rows=n)
    if too_big:
        return too_big
    return Check(
        "data",
        OK,
        f"{kind} {shown}: {n:,} reviews ({n - config.val_size:,} train / "
        f"{config.val_size:,} val), {size_text(size)}",
    )


def _check_big_table(config: ExperimentConfig, path: Path, shown: str, size: int) -> Check:
    """Too big to read every row quickly: check that the header names the columns, and read
    a gzipped file's stream to its end, where its CRC is checked."""
    import csv

    from embtui.engine.data import GZIP_ERRORS, find_columns, open_table, table_kind

    kind = table_kind(path)
    gzipped = path.name.lower().endswith(".gz")
    try:
        with open_table(config.dataset, path) as handle:
            header = next(csv.reader(handle, delimiter="\t" if kind == "TSV" else ","), None)
            if header is None:
                return Check("data", FAIL, f"{shown}: empty file", "")
            find_columns(config.dataset, header)
            while gzipped and handle.read(1 << 20):
                pass
    except GZIP_ERRORS as exc:
        return Check("data", FAIL, f"{shown}: damaged gzip data ({exc})", "")
    except UnicodeDecodeError as exc:
        return Check("data", FAIL, f"{shown}: not UTF-8 text ({exc.reason})", "")
    except csv.Error as exc:
        return Check("data", FAIL, f"{shown}: not a readable CSV/TSV file ({exc})", "")
    whole = ", gzip stream intact" if gzipped else ""
    return Check(
        "data",
        OK,
        f"{kind} {shown} ({size_text(size)}): header fine{whole}; too big to check every row here",
    )


def _npy_shape(archive: zipfile.ZipFile, member: str) -> tuple[int, ...]:
    """The shape of an array in an .npz, from its header alone."""
    import numpy as np

    with archive.open(member) as raw:
        version = np.lib.format.read_magic(raw)
        if version == (1, 0):
            shape, _, _ = np.lib.format.read_array_header_1_0(raw)
        else:
            shape, _, _ = np.lib.format.read_array_header_2_0(raw)
    return tuple(shape)


def _damaged_member(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> str | None:
    """What `ZipFile.testzip` checks (every member read to its end, so its CRC is compared),
    naming the member and what is wrong with it; None when all are whole."""
    for info in members:
        try:
            with archive.open(info) as member:
                while member.read(1 << 20):
                    pass
        except Exception as exc:
            # A wrong CRC (BadZipFile), a broken deflate stream (zlib.error), a stream that
            # ends early (EOFError): the run would stop on each.
            return f"{info.filename}: damaged compressed data ({exc})"
    return None


def _check_npz(config: ExperimentConfig, path: Path, shown: str) -> Check:
    from embtui.engine.data import (
        WORD_INDEX_MAX_BYTES,
        DataError,
        check_npz_shapes,
        npz_members,
    )
    from embtui.files import regular_file

    keys = ("x_train", "y_train", "x_test", "y_test")
    regular_file(path, name=config.dataset, error=DataError)
    try:
        with zipfile.ZipFile(path) as archive:
            # Encrypted members, unreadable methods and a zip bomb are refused before any
            # member is read; then every member is read through once, as testzip does.
            members = npz_members(config.dataset, archive)
            names = {info.filename for info in members}
            absent = [k for k in keys if f"{k}.npy" not in names]
            if absent:
                return Check(
                    "data",
                    FAIL,
                    f"{shown}: no {', '.join(absent)} array; a Keras imdb .npz holds "
                    "x_train, y_train, x_test, y_test",
                    "",
                )
            damage = _damaged_member(archive, members)
            if damage:
                return Check("data", FAIL, f"{shown}: {damage}", "")
            shapes = {key: _npy_shape(archive, f"{key}.npy") for key in keys}
    except (zipfile.BadZipFile, ValueError) as exc:
        return Check("data", FAIL, f"{shown}: not a readable .npz archive ({exc})", "")
    check_npz_shapes(config.dataset, shapes)
    n_train, n_test = shapes["y_train"][0], shapes["y_test"][0]
    if config.word_index:
        ranks = Path(os.path.expanduser(config.word_index))
        fix = "word_index = the imdb_word_index.json that belongs to this .npz"
    else:
        ranks = path.with_name("imdb_word_index.json")
        fix = "put imdb_word_index.json beside the .npz, or set word_index = PATH"
    if not ranks.exists():
        return Check("data", FAIL, f"{ranks}: no such file (the .npz's word ranks)", fix)
    try:
        regular_file(
            ranks, name=f"word_index {ranks}", max_bytes=WORD_INDEX_MAX_BYTES, error=DataError
        )
    except DataError as exc:
        return Check("data", FAIL, str(exc), fix)
    too_big = _fit_problem(config, n_train, n_test, config.dataset)
    if too_big:
        return too_big
    return Check(
        "data",
        OK,
        f"Keras npz {shown}: {n_train:,} train / {n_test:,} test reviews, ranks in {ranks.name}",
    )


def _check_acl(config: ExperimentConfig, root: Path, shown: str) -> Check:
    from embtui.engine.data import acl_reviews

    # The engine's own listing: a missing folder, or a review that is a folder, a FIFO, a
    # broken link or too big, is the DataError the run would stop with.
    counts = {
        split: len(acl_reviews(config.dataset, root, split))
        for split in ("train/pos", "train/neg", "test/pos", "test/neg")
    }
    n_train = counts["train/pos"] + counts["train/neg"]
    n_test = counts["test/pos"] + counts["test/neg"]
    for split, n in (("train", n_train), ("test", n_test)):
        if n == 0:
            return Check("data", FAIL, f"{shown}: no .txt reviews in {split}/pos or {split}/neg")
    too_big = _fit_problem(config, n_train, n_test, config.dataset)
    if too_big:
        return too_big
    return Check("data", OK, f"aclImdb {shown}: {n_train:,} train / {n_test:,} test reviews")
