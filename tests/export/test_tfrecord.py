"""TensorBoard event records written without TensorFlow (`embtui.export.tfrecord`): the
checksum against its published check values, and every record against the bytes TensorFlow
itself writes for the same event."""

from __future__ import annotations

import math
import struct

import pytest

from embtui.export.tfrecord import crc32c, event, frame, scalar_summary


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"", 0x00000000),
        (b"123456789", 0xE3069283),  # the check value of CRC-32C
        (bytes(32), 0x8A9136AA),  # RFC 3720 (iSCSI), B.4: 32 bytes of zeros
        (b"\xff" * 32, 0x62A8AB43),  # ... of ones
        (bytes(range(32)), 0x46DD794E),  # ... incrementing
        (bytes(range(31, -1, -1)), 0x113FDB5C),  # ... decrementing
    ],
)
def test_the_checksum_is_crc32c(data, crc):
    assert crc32c(data) == crc


def test_records_and_events_are_what_tensorboards_own_writer_and_protos_make(tmp_path):
    """TensorBoard's package (no TensorFlow) has its own record writer and the Event
    protos: framing byte for byte, and our events parse back to the same messages
    (the bytes themselves against TensorFlow: the `tensorflow` test below)."""
    pytest.importorskip("tensorboard")
    from tensorboard.compat.proto import event_pb2
    from tensorboard.summary.writer.record_writer import RecordWriter

    for data in (b"", b"embtui", bytes(range(256)) * 3):
        with open(tmp_path / "theirs", "wb") as handle:
            RecordWriter(handle).write(data)
        assert frame(data) == (tmp_path / "theirs").read_bytes()

    pairs = [("epoch_loss", 0.6931471805599453), ("epoch_accuracy", 1e39), ("λ", -1e39)]
    parsed = event_pb2.Event.FromString(event(1_765_000_000.5, 300, summary=scalar_summary(pairs)))
    assert (parsed.wall_time, parsed.step) == (1_765_000_000.5, 300)
    got = [
        (v.tag, v.metadata.plugin_data.plugin_name, v.metadata.data_class, v.tensor.dtype)
        for v in parsed.summary.value
    ]
    assert got == [(tag, "scalars", 1, 1) for tag, _ in pairs]  # DATA_CLASS_SCALAR, DT_FLOAT
    values = [list(v.tensor.float_val) for v in parsed.summary.value]
    assert values == [
        [struct.unpack("<f", struct.pack("<f", pairs[0][1]))[0]],
        [math.inf],
        [-math.inf],
    ]
    version = event_pb2.Event.FromString(event(2.0, file_version="brain.Event:2"))
    assert (version.wall_time, version.step, version.file_version) == (2.0, 0, "brain.Event:2")


def test_an_event_leaves_out_fields_at_their_default_and_refuses_a_negative_step():
    assert event(0.0) == b""
    assert event(0.0, 1) == b"\x10\x01"
    assert event(0.0, 300) == b"\x10\xac\x02"  # a varint over two bytes
    with pytest.raises(ValueError, match="never negative"):
        event(1.0, -1)


#: Values a run's metrics take: ordinary ones, float32's edges and beyond, a diverged run's.
VALUES = [0.6931471805599453, 0.0, -0.0, 1e-45, 3.4e38, 1e39, -1e39, math.inf, -math.inf, math.nan]


@pytest.mark.tensorflow
# TensorFlow casts 1e39 as numpy does, to inf, and numpy warns of it.
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@pytest.mark.parametrize("step", [1, 2, 127, 128, 300, 2**40])
def test_each_record_is_the_bytes_tensorflow_writes(step, tmp_path):
    """The same Event built with TensorFlow's protos and written by its TFRecordWriter,
    as embtui wrote them before it wrote them itself: every byte equal."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2
    from tensorflow.core.util import event_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"),
        data_class=summary_pb2.DATA_CLASS_SCALAR,
    )
    pairs = [(f"epoch_{k}", v) for k, v in enumerate(VALUES)] + [("épоch λ", 0.5)]
    wall = 1_765_000_000.123456 + step
    theirs = [
        event_pb2.Event(wall_time=wall, file_version="brain.Event:2"),
        event_pb2.Event(
            wall_time=wall,
            step=step,
            summary=summary_pb2.Summary(
                value=[
                    summary_pb2.Summary.Value(
                        tag=tag, metadata=metadata, tensor=tf.make_tensor_proto(v, "float32")
                    )
                    for tag, v in pairs
                ]
            ),
        ),
    ]
    path = tmp_path / "events.out.tfevents.test"
    with tf.io.TFRecordWriter(str(path)) as writer:
        for proto in theirs:
            writer.write(proto.SerializeToString())
    ours = frame(event(wall, file_version="brain.Event:2")) + frame(
        event(wall, step, summary=scalar_summary(pairs))
    )
    assert ours == path.read_bytes()
