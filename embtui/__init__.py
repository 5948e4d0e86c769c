"""embtui: a terminal experiment console for text-classification embedding experiments.

Importing the package is cheap on purpose: it must not import TensorFlow or Textual, so
that `embtui --help` answers at once and the console paints before TensorFlow loads.
"""

__version__ = "0.1.0"
