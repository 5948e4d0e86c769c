"""The Textual console: configure experiments, watch them train live, compare and export.

A view on the run store: everything it shows is read from the SQLite file, so an experiment
trained by `embtui run` in another process appears here too. Importing this package (or
`embtui.app.app`) must not import TensorFlow; the engine is loaded inside the training worker.
"""
