"""RMSprop's `1 - rho` as Keras computes it: in Python (0.09999999999999998), then cast to
float32 (0.1). The TensorFlow trainer's row-wise update once computed it from a float32
rho (1 - 0.9f = 0.10000002), a 2.2e-7 relative difference in every velocity increment.
New experiments use Keras' value; an experiment recorded before keeps the old arithmetic,
so that resuming it computes what its first epochs did."""

from __future__ import annotations

import numpy as np
import pytest

from embtui.engine.trainer import RowRMSprop
from tests.helpers import LazyModule

# Imported by the first test that uses them, not by collecting (every xdist worker collects).
keras = LazyModule("keras")
tf = LazyModule("tensorflow")
pytestmark = pytest.mark.tensorflow

# One occurrence per row: Keras' velocity increment is then exactly (1 - rho) * g^2.
G = np.array([[0.3, -1.7, 2.5e-3], [1.1, 0.77, -0.05]], np.float32)
ROWS = [2, 0]


def keras_velocity() -> np.ndarray:
    """Keras' own RMSprop step on an embedding table with this sparse gradient."""
    table = keras.Variable(np.zeros((4, 3), np.float32))
    optimizer = keras.optimizers.RMSprop(learning_rate=0.001)
    optimizer.build([table])
    optimizer.apply([tf.IndexedSlices(tf.constant(G), tf.constant(ROWS), (4, 3))], [table])
    return optimizer._velocities[0].numpy()


def row_velocity(**kwargs) -> np.ndarray:
    table = tf.Variable(np.zeros((4, 3), np.float32))
    velocity = tf.Variable(np.zeros((4, 3), np.float32))
    math = RowRMSprop(0.9, 1e-7, 4, **kwargs)
    math.rows(table, velocity, tf.IndexedSlices(tf.constant(G), tf.constant(ROWS)), 0.001)
    return velocity.numpy()


def test_the_row_update_adds_what_keras_adds_to_a_velocity():
    theirs = keras_velocity()
    np.testing.assert_array_equal(theirs[ROWS], np.float32(0.1) * (G * G))
    np.testing.assert_array_equal(row_velocity(), theirs)


def test_an_older_experiment_keeps_its_float32_one_minus_rho():
    old = row_velocity(legacy_one_minus_rho=True)
    expected = (np.float32(1) - np.float32(0.9)) * (G * G)
    np.testing.assert_array_equal(old[ROWS], expected)
    assert not np.array_equal(old, keras_velocity())  # the difference is real
    assert np.float32(1) - np.float32(0.9) == pytest.approx(0.10000002, abs=1e-8)
