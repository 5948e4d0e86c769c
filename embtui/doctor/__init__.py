"""`embtui doctor`: what on this box would stop `embtui run`, and how to fix it, on one screen.

A fresh GPU box reached over SSH breaks in a few predictable places: TensorFlow missing or a
CPU-only wheel, an NVIDIA driver that TensorFlow cannot use, no network for the Keras IMDB
download, no GloVe vectors, a store path that is not a store, a terminal too small for the
console. Each check is a small function that returns a `Check` row and never raises,
so one broken part of the box cannot hide the others, and the tests can call each check with
their own paths, hosts and fake probes.

The doctor only looks: it never downloads, never creates or migrates the store, and reads
datasets only as far as needed to know whether the run would accept them. FAIL means
`embtui run` with this configuration would stop; warn means it would run, but not as well as
it could (on the CPU, say).

One module per row, in the table's order: runtime (embtui, Python, TensorFlow), gpu, kernel
(the training engine and its compiled-kernel cache), data,
glove, store, terminal, metrics (what the console's system pane can show); check holds
the row type. This module runs them and prints the table.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from embtui.config import ExperimentConfig
from embtui.doctor.check import FAIL, OK, WARN, Check
from embtui.doctor.data import check_data, keras_datasets_dir, probe_host
from embtui.doctor.glove import check_glove
from embtui.doctor.gpu import Driver, DriverGpu, check_gpu, probe_driver
from embtui.doctor.kernel import check_kernel
from embtui.doctor.metrics import check_metrics
from embtui.doctor.ray import check_ray
from embtui.doctor.runtime import check_embtui, load_tensorflow
from embtui.doctor.store import check_store
from embtui.doctor.terminal import check_terminal


def _guarded(name: str, check: Callable[..., Check], *args: Any, **kwargs: Any) -> Check:
    """Run one check; a check that breaks becomes a FAIL row instead of a traceback."""
    try:
        return check(*args, **kwargs)
    except Exception as exc:
        return _broken(name, exc)


def _broken(name: str, exc: Exception) -> Check:
    return Check(
        name,
        FAIL,
        f"the check itself failed: {type(exc).__name__}: {exc}",
        "report this line to embtui's maintainers",
    )


def _tensorflow_rows(console: Any) -> tuple[Check, Check]:
    """Import TensorFlow (the slow part, a status line meanwhile) and ask it for GPUs."""
    from contextlib import nullcontext

    from embtui.quiet import tensorflow_notices_filtered

    status = (
        console.status("loading TensorFlow (a few seconds)...")
        if console.is_terminal
        else nullcontext()
    )
    tf: Any = None
    with status, tensorflow_notices_filtered():
        try:
            tf_row, tf = load_tensorflow()
        except Exception as exc:
            tf_row = _broken("tensorflow", exc)
        gpu_row = _guarded("gpu", lambda: check_gpu(tf, probe_driver()))
    return tf_row, gpu_row


def summary(checks: list[Check]) -> str:
    failed = [c.name for c in checks if c.failed]
    warned = [c.name for c in checks if c.status == WARN]
    if failed:
        n = len(failed)
        return (
            f"{n} problem{'s' * (n != 1)}: {', '.join(failed)} (see the fix column); "
            "`embtui run` would fail"
        )
    note = f" ({len(warned)} warning{'s' * (len(warned) != 1)}: {', '.join(warned)})"
    return "ready: `embtui run` will work" + (note if warned else "")


def run_doctor(
    config: ExperimentConfig,
    store_path: str | None,
    *,
    console: Any = None,
    ray: str | None = None,
) -> int:
    """Check this box for `config`, print the table and the verdict; 0 when a run would work,
    2 when the Ray cluster named by `ray` (`embtui doctor --ray ADDRESS`) cannot be used,
    else 1."""
    from rich.console import Console
    from rich.table import Table

    from embtui.escape import rich_text

    console = console or Console()
    # The network probe may wait its full timeout: it runs while TensorFlow loads.
    data_box: list[Check] = []
    data_thread = threading.Thread(
        target=lambda: data_box.append(_guarded("data", check_data, config)),
        name="doctor-data",
        daemon=True,
    )
    data_thread.start()
    glove = _guarded("glove", check_glove, config)
    store = _guarded("store", check_store, store_path)
    terminal = _guarded("terminal", check_terminal, console=console)
    metrics = _guarded("metrics", check_metrics)
    # Asking a Ray cluster takes seconds too (at most its probe's and join's deadlines).
    ray_box: list[Check] = []
    ray_thread = threading.Thread(
        target=lambda: ray_box.append(_guarded("ray", check_ray, config, ray)),
        name="doctor-ray",
        daemon=True,
    )
    ray_thread.start()
    kernel = _guarded("kernel", check_kernel, config)
    tf_row, gpu_row = _tensorflow_rows(console)
    data_thread.join(30)
    data = data_box[0] if data_box else Check("data", FAIL, "the data check did not finish", "")
    ray_thread.join(30)
    ray_row = ray_box[0] if ray_box else Check("ray", FAIL, "the Ray check did not finish", "")
    checks = [
        _guarded("embtui", check_embtui),
        tf_row,
        gpu_row,
        kernel,
        data,
        glove,
        store,
        terminal,
        metrics,
        ray_row,
    ]

    arms = ", ".join(config.embeddings)
    table = Table(
        title=rich_text(f"embtui doctor: {config.name} (dataset {config.dataset}; arms {arms})"),
        show_lines=True,
        expand=False,
    )
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail", overflow="fold", ratio=3)
    table.add_column("fix", overflow="fold", ratio=2)
    styles = {OK: "green", WARN: "yellow", FAIL: "bold red"}
    for check in checks:
        table.add_row(
            rich_text(check.name),
            rich_text(check.status, style=styles.get(check.status, "")),
            rich_text(check.detail),
            rich_text(check.fix),
        )
    console.print(table)
    verdict = summary(checks)
    console.print(rich_text(verdict, style="bold red" if verdict[0].isdigit() else "bold green"))
    if ray is not None and ray_row.failed:
        return 2  # the cluster named by --ray cannot be used: as `embtui run --ray` exits
    return 1 if any(c.failed for c in checks) else 0


__all__ = [
    "FAIL",
    "OK",
    "WARN",
    "Check",
    "Driver",
    "DriverGpu",
    "check_data",
    "check_embtui",
    "check_glove",
    "check_gpu",
    "check_kernel",
    "check_metrics",
    "check_ray",
    "check_store",
    "check_terminal",
    "keras_datasets_dir",
    "load_tensorflow",
    "probe_driver",
    "probe_host",
    "run_doctor",
    "summary",
]
