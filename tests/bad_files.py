"""Hostile files for the reader tests: FIFOs, files that only look huge, zip bombs, damaged
compressed streams, Excel's byte-order mark.

Every builder writes real bytes (or a real FIFO) at the path it is given and returns it, so
the engine, doctor and CLI tests feed the readers exactly what a user could; nothing is
mocked. Each is small and fast: the zip bomb is 3 MB on disk.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BOM = "\ufeff"
MIB = 1 << 20


def _parent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def fifo(path: Path) -> Path:
    """A named pipe: opening it for reading blocks until a writer comes (none ever does)."""
    os.mkfifo(_parent(path))
    return path


def sparse(path: Path, size: int) -> Path:
    """A file that stats as `size` bytes of zeros but takes no disk space (a hole)."""
    with open(_parent(path), "wb") as handle:
        handle.truncate(size)
    return path


def link(path: Path, target: str | Path) -> Path:
    """A symbolic link at `path` to `target` (a device such as /dev/zero, or nothing)."""
    _parent(path).symlink_to(target)
    return path


def acl_with(root: Path, entry: str, make: Callable[[Path], object]) -> Path:
    """The tiny aclImdb folder of tests.conftest with `make(root / entry)` added to it."""
    from tests.helpers import write_acl

    write_acl(root, n_train=8, n_test=8)
    make(root / entry)
    return root


def with_bom(path: Path, text: str) -> Path:
    """`text` as UTF-8 with a byte-order mark in front, as Excel's "CSV UTF-8" saves it."""
    _parent(path).write_bytes((BOM + text).encode("utf-8"))
    return path


def _finish_within(
    seconds: float, call: Callable[[], object], fifos: tuple[Path, ...]
) -> tuple[object, BaseException | None]:
    """(what `call()` returned, what it raised), failing the test if it runs `seconds`.

    A reader that opens one of `fifos` blocks for ever; after the time is up each FIFO is
    opened for writing and closed, which hands the blocked reader an end of file, so the
    test fails rather than hangs.
    """
    outcome: list[tuple[object, BaseException | None]] = []

    def attempt() -> None:
        try:
            outcome.append((call(), None))
        except BaseException as exc:
            outcome.append((None, exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        for path in fifos:
            with contextlib.suppress(OSError):
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(5)
        pytest.fail(f"still reading after {seconds} s: it opened a FIFO or an endless file")
    return outcome[0]


def raised_within(seconds: float, call: Callable[[], object], *fifos: Path) -> BaseException:
    """What `call()` raised; the test fails if it hangs (see above) or raises nothing."""
    _, exc = _finish_within(seconds, call, fifos)
    if exc is None:
        pytest.fail("accepted a file it should have refused")
    return exc


def raised_or_returned(seconds: float, call: Callable[[], object], *fifos: Path) -> Any:
    """What `call()` returned (or raise what it raised); the test fails if it hangs."""
    value, exc = _finish_within(seconds, call, fifos)
    if exc is not None:
        raise exc
    return value


# -- zip files, byte by byte ----------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One zip member as stored: its compressed bytes and what the headers declare."""

    name: str
    data: bytes  # as stored (compressed with `method`)
    size: int  # declared uncompressed size
    crc: int
    method: int = 8  # 0 stored, 8 deflate, 9 deflate64 (which zipfile cannot read)
    flags: int = 0  # bit 0: encrypted


def write_zip(path: Path, members: list[Member]) -> Path:
    """A zip archive holding `members` exactly as given (no zip64: sizes under 4 GiB)."""
    body = io.BytesIO()
    central = io.BytesIO()
    for m in members:
        name = m.name.encode()
        offset = body.tell()
        # Local header: signature, version, flags, method, time, date (1980-01-01), CRC,
        # compressed size, uncompressed size, name length, extra length.
        fields = (20, m.flags, m.method, 0, 0x21, m.crc, len(m.data), m.size)
        body.write(
            struct.pack("<IHHHHHIII", 0x04034B50, *fields) + struct.pack("<HH", len(name), 0)
        )
        body.write(name + m.data)
        central.write(
            struct.pack(
                "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, len(name), 0, 0, 0, 0, 0, offset
            )
            + name
        )
    directory = central.getvalue()
    end = struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(directory), body.tell(), 0
    )
    _parent(path).write_bytes(body.getvalue() + directory + end)
    return path


def raw_deflate(data: bytes) -> bytes:
    """`data` as a raw deflate stream, the way zip stores a deflated member."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def deflate_broken_midway(data: bytes) -> bytes:
    """A deflate stream whose first half of `data` decompresses fine, then a block of the
    reserved type 3 (the byte 0xff after a flush), on which zlib raises
    `zlib.error: invalid block type`."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data[: len(data) // 2]) + c.flush(zlib.Z_FULL_FLUSH) + b"\xff" * 16


#: CRC-32 of 3,000 MiB of zeros (zlib.crc32 over 3,000 MiB blocks of zeros; precomputed,
#: since computing it takes most of a second).
_CRC_3000_MIB_ZEROS = 0x753D8009


def zip_bomb(path: Path, name: str = "x_train.npy") -> Path:
    """A 3 MB zip whose one member honestly expands to 3,000 MiB of zeros (3.1 GB).

    One MiB of zeros deflates to 1,037 bytes ending in a full flush, after which the
    compressor starts afresh, so the same bytes repeated 3,000 times are the deflate stream
    of 3,000 MiB of zeros; a final empty block ends it.
    """
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    data = block * 3000 + c.flush()
    return write_zip(path, [Member(name, data, 3000 * MIB, _CRC_3000_MIB_ZEROS)])


@contextlib.contextmanager
def inflated() -> Iterator[list[int]]:
    """Count the bytes that zip members yield while the block runs: `[count]` after it.

    A zip bomb refused "from its declared sizes" inflates (next to) nothing; a reader that
    decompressed it first would show gigabytes here, on a fast machine or a loaded one,
    where a stopwatch could only guess."""
    count = [0]
    read, read1 = zipfile.ZipExtFile.read, zipfile.ZipExtFile.read1

    def counted(method: Callable[..., bytes]) -> Callable[..., bytes]:
        def wrapper(self: zipfile.ZipExtFile, *args: Any) -> bytes:
            data = method(self, *args)
            count[0] += len(data)
            return data

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(zipfile.ZipExtFile, "read", counted(read))
        patch.setattr(zipfile.ZipExtFile, "read1", counted(read1))
        yield count


def gzip_bomb(path: Path) -> Path:
    """A 3 MB .gz file that honestly expands to 3,000 MiB of zeros: one endless line."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = c.compress(bytes(MIB)) + c.flush(zlib.Z_FULL_FLUSH)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0
    trailer = struct.pack("<II", _CRC_3000_MIB_ZEROS, (3000 * MIB) & 0xFFFFFFFF)
    _parent(path).write_bytes(header + block * 3000 + c.flush() + trailer)
    return path


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def _ragged(reviews: list[list[int]]) -> np.ndarray:
    out = np.empty(len(reviews), dtype=object)
    for i, review in enumerate(reviews):
        out[i] = review
    return out


def damaged_npz(path: Path, kind: str) -> Path:
    """A Keras-format .npz (and its word index) whose x_train member cannot be read.

    kind "corrupt": its deflate stream breaks halfway (zlib.error); "encrypted": flagged as
    encrypted (zipfile wants a password: RuntimeError); "deflate64": compressed with the
    method Windows uses for big files, which zipfile cannot read (NotImplementedError).
    """
    arrays = {
        "x_train": _ragged([[1, 2, 3], [2, 3], [1]] * 40),
        "y_train": np.array([1, 0, 1] * 40),
        "x_test": _ragged([[1, 2], [3]]),
        "y_test": np.array([1, 0]),
    }
    members = []
    for key, array in arrays.items():
        raw = npy_bytes(array)
        member = Member(f"{key}.npy", raw_deflate(raw), len(raw), zlib.crc32(raw))
        if key == "x_train" and kind == "corrupt":
            member = Member(member.name, deflate_broken_midway(raw), len(raw), member.crc)
        elif key == "x_train" and kind == "encrypted":
            member = Member(member.name, raw, len(raw), member.crc, method=0, flags=1)
        elif key == "x_train" and kind == "deflate64":
            member = Member(member.name, member.data, len(raw), member.crc, method=9)
        members.append(member)
    write_zip(path, members)
    (path.parent / "imdb_word_index.json").write_text('{"a": 1, "b": 2, "c": 3}')
    return path


def npz_of(path: Path, **arrays: object) -> Path:
    """An .npz of `arrays` (numpy.savez) with a small word index beside it."""
    _parent(path)
    np.savez(path, **arrays)  # type: ignore[arg-type]
    (path.parent / "imdb_word_index.json").write_text('{"a": 1, "b": 2, "c": 3}')
    return path


def rank0_npz(path: Path) -> Path:
    """A Keras-format .npz whose x_train is a single number (a 0-d array), not reviews."""
    return npz_of(
        path,
        x_train=np.int64(3),
        y_train=np.array([1, 0]),
        x_test=_ragged([[1, 2], [3]]),
        y_test=np.array([1, 0]),
    )


# -- gzip -----------------------------------------------------------------------------------


def gzip_bytes(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def damaged_gzip(path: Path, data: bytes, how: str = "flipped") -> Path:
    """`data` gzipped, then damaged in the middle of the stream.

    how "flipped": one byte in the middle of the compressed data inverted (zlib.error or a
    CRC mismatch, gzip.BadGzipFile); "truncated": the last third cut off (EOFError).
    """
    packed = bytearray(gzip_bytes(data))
    if how == "flipped":
        middle = len(packed) // 2
        packed[middle] ^= 0xFF
    else:
        del packed[len(packed) * 2 // 3 :]
    _parent(path).write_bytes(bytes(packed))
    return path
