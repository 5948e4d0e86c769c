"""The kernel row: which engine this experiment would train with, and whether the fused
kernel is compiled already for each shape the grid trains (a first fused run of a shape
compiles it: a few seconds, once per machine).

Looks only: it never imports Numba (that would fix NUMBA_CACHE_DIR for the process) and
never compiles.
"""

from __future__ import annotations

from embtui.config import ExperimentConfig
from embtui.doctor.check import FAIL, OK, Check


def check_kernel(config: ExperimentConfig) -> Check:
    from embtui.engine.fused import (
        FUSED,
        choose_engine,
        config_is_warm,
        kernel_cache_folder,
        numba_available,
    )

    engine = choose_engine(config)
    if config.engine == FUSED and not numba_available():
        return Check(
            "kernel", FAIL, "engine = fused, but numba is not installed", "pip install numba"
        )
    if engine != FUSED:
        return Check("kernel", OK, f"engine {engine}: {_why_tensorflow(config)}")
    folder = kernel_cache_folder()
    if config_is_warm(config):
        return Check(
            "kernel", OK, f"engine fused; the compiled kernel is cached (warm) in {folder}"
        )
    return Check(
        "kernel",
        OK,
        f"engine fused; no compiled kernel in {folder} yet (cold): the first run compiles "
        "it, a few seconds, once",
    )


def _why_tensorflow(config: ExperimentConfig) -> str:
    """Why `engine = "auto"` (or the user) leaves this grid to TensorFlow."""
    from embtui.config import fused_gap
    from embtui.engine.fused import numba_available
    from embtui.sysmetrics import visible_gpus

    if config.engine == "tensorflow":
        return "asked for (engine = tensorflow)"
    if (gap := fused_gap(config)) is not None:
        return gap
    if config.cluster != "local":
        return "a Ray cluster's runs train with TensorFlow unless engine = fused"
    if visible_gpus():
        return "a GPU is visible, and TensorFlow trains on it"
    if not numba_available():
        return "numba is not installed (pip install numba for the fused CPU kernel)"
    return "chosen by engine = auto"
