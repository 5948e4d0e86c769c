"""Experimental training code: built and tested, used by no executor.

What is here trains correctly (its tests bound it against Keras `fit`, as the Trainer's
do) but does not yet pay where embtui runs, so `embtui run`, the console and the executors
never import it; benchmarks do (bench/stacked.py, and bench/gpu.py through it), to measure
whether it pays on another device. Its tests are marked slow: they train, and keep the
quick loop for code a user meets.

* `stacked`: the seeds of one cell trained side by side as one stacked model.
"""
