"""The ray row: whether `embtui run --ray` could use a Ray cluster, and what it holds."""

from __future__ import annotations

import importlib.util
from typing import Any

from embtui.config import ExperimentConfig
from embtui.doctor.check import FAIL, OK, WARN, Check
from embtui.errors import EmbtuiError, printable
from embtui.versions import distribution_version

INSTALL = "pip install 'embtui[ray]'"


def check_ray(config: ExperimentConfig, address: str | None = None) -> Check:
    """Ray installed or not; with `address` (from `embtui doctor --ray ADDRESS`; "" is the
    cluster on this machine) or an experiment that asks for Ray, the cluster's nodes, CPUs
    and GPUs, or why it cannot be reached."""
    wanted = address is not None or config.cluster == "ray"
    if importlib.util.find_spec("ray") is None:
        if wanted:
            return Check("ray", FAIL, "Ray is not installed", INSTALL)
        return Check("ray", OK, f"not installed (only --ray needs it: {INSTALL})")
    version = distribution_version("ray") or "?"
    if not wanted:
        return Check("ray", OK, f"Ray {version} installed (--ray trains on a cluster)")
    target = address or config.ray_address or "auto"
    try:
        nodes, cpus, gpus = cluster_summary(target)
    except Exception as exc:  # whatever Ray raises, the row says it in one line
        text = " ".join(str(exc).split())[:300] or type(exc).__name__
        if not isinstance(exc, EmbtuiError):
            text = f"cannot connect to {printable(target)}: {text}"
        return Check("ray", FAIL, f"Ray {version}: {text}", _fix(text))
    status = OK if nodes else WARN
    return Check(
        "ray",
        status,
        f"Ray {version} cluster at {printable(target)}: {nodes} node{'s' * (nodes != 1)}, "
        f"{cpus:g} CPUs, {gpus:g} GPUs",
    )


def _fix(reason: str) -> str:
    """What to do about a cluster that cannot be used: the reason says it for a token, a
    version or another service; else start one."""
    if any(word in reason for word in ("token", "runs Ray", "another service")):
        return "as the detail says"
    return "start one: ray start --head (on this machine), then embtui run --ray auto"


def cluster_summary(address: str) -> tuple[int, float, float]:
    """(alive nodes, CPUs, GPUs) of the Ray cluster at `address`; connects and leaves."""
    import ray

    from embtui.engine.executors.ray_connect import connect, shutdown

    connect(address)  # within seconds, in one line, whatever answers there (or nothing)
    try:
        nodes: list[dict[str, Any]] = [n for n in ray.nodes() if n.get("Alive")]
        resources = ray.cluster_resources()
        return len(nodes), float(resources.get("CPU", 0)), float(resources.get("GPU", 0))
    finally:
        shutdown()
