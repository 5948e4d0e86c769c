"""TensorBoard's event files written without TensorFlow.

An event file is a TFRecord file of `Event` protocol buffers. This module writes the few
messages embtui needs (the file's version record, a step's scalars as `tf.summary.scalar`
writes them, and a prepared `Summary`, such as the HParams plugin's) in protobuf's wire format,
each framed as TensorFlow's `TFRecordWriter` frames a record: the length as a little-endian
uint64, its masked CRC-32C, the bytes, their masked CRC-32C. The bytes are the ones
TensorFlow writes for the same event (tests/export/test_tfrecord.py compares them), so
TensorBoard and `tf.compat.v1.train.summary_iterator` read them as their own.

Importing TensorFlow takes seconds and hundreds of MB: a grid on the fused engine, or a Ray
driver (whose workers train), writes its TensorBoard files without it.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable
from typing import BinaryIO

#: The CRC-32C (Castagnoli) polynomial, reversed: the checksum TFRecord files use.
_POLY = 0x82F63B78
#: Added to a rotated CRC to mask it (TensorFlow's `crc32c::Mask`).
_MASK_DELTA = 0xA282EAD8
#: `DataType.DT_FLOAT` and `DataClass.DATA_CLASS_SCALAR` in TensorFlow's protos.
_DT_FLOAT = 1
_DATA_CLASS_SCALAR = 1


def _table() -> tuple[int, ...]:
    rows = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ _POLY if crc & 1 else crc >> 1
        rows.append(crc)
    return tuple(rows)


_CRC_TABLE = _table()


def crc32c(data: bytes) -> int:
    """The CRC-32C of `data` (`crc32c(b"123456789") == 0xE3069283`)."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """The CRC as a TFRecord stores it: rotated right by 15 bits, plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC, the bytes, their masked CRC."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", masked_crc32c(length))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


# -- protobuf's wire format, for the fields used here ---------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if not value:
            out.append(low)
            return bytes(out)
        out.append(low | 0x80)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _double_field(number: int, value: float) -> bytes:
    return _varint(number << 3 | 1) + struct.pack("<d", value)


#: `SummaryMetadata(plugin_data=PluginData(plugin_name="scalars"), data_class=SCALAR)`.
_SCALAR_METADATA = _length_delimited(1, _length_delimited(1, b"scalars")) + _varint_field(
    4, _DATA_CLASS_SCALAR
)


def _float32(value: float) -> bytes:
    """`value` as a little-endian float32, rounded as numpy rounds it: beyond float32's
    range it is an infinity (`struct` alone refuses such a value)."""
    try:
        return struct.pack("<f", value)
    except OverflowError:
        return struct.pack("<f", math.copysign(math.inf, value))


def _float_tensor(value: float) -> bytes:
    """`TensorProto` of a float32 scalar, as `tf.make_tensor_proto(value, "float32")`:
    its dtype, an empty (present) shape and the value in the packed `float_val`."""
    return (
        _varint_field(1, _DT_FLOAT)
        + _length_delimited(2, b"")
        + _length_delimited(5, _float32(value))
    )


def scalar_summary(values: Iterable[tuple[str, float]]) -> bytes:
    """A `Summary` holding each (tag, value) as `tf.summary.scalar` writes it: the value
    as a float32 tensor, with the scalar plugin's metadata."""
    return b"".join(
        _length_delimited(
            1,
            _length_delimited(1, tag.encode("utf-8"))
            + _length_delimited(8, _float_tensor(value))
            + _length_delimited(9, _SCALAR_METADATA),
        )
        for tag, value in values
    )


def event(
    wall_time: float, step: int = 0, *, file_version: str = "", summary: bytes = b""
) -> bytes:
    """An `Event`: fields left at their default are not written, as protobuf does."""
    if step < 0:
        raise ValueError(f"step {step}: an event's step is never negative")
    return (
        (_double_field(1, wall_time) if wall_time else b"")
        + (_varint_field(2, step) if step else b"")
        + (_length_delimited(3, file_version.encode("utf-8")) if file_version else b"")
        + (_length_delimited(5, summary) if summary else b"")
    )


def write_event(file: BinaryIO, data: bytes) -> None:
    """Append one event's record to an open event file and flush it to the system, so a
    watching TensorBoard sees it at once."""
    file.write(frame(data))
    file.flush()
