"""Installed package versions, read from their metadata (nothing is imported).

The one place embtui asks which TensorFlow, Keras or GloVe package is installed: the
experiment's recorded environment and `embtui doctor` both read it here.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def distribution_version(name: str) -> str | None:
    """The installed version of a pip distribution, or None when it is not installed."""
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def framework_versions() -> dict[str, str]:
    """Installed TensorFlow (either wheel) and Keras versions, for an experiment's record."""
    out = {}
    for key, dists in (("tensorflow", ("tensorflow", "tensorflow-cpu")), ("keras", ("keras",))):
        for dist in dists:
            found = distribution_version(dist)
            if found:
                out[key] = found
                break
    return out
