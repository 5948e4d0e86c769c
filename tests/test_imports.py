"""Import boundaries, checked in fresh interpreters (this process may have TensorFlow loaded).

`import embtui` and everything the CLI needs before training must not pull in TensorFlow
(seconds to import) so that `embtui --help`, `list` and `export` answer at once; the engine
must never pull in Textual, so that it runs headless.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("tensorflow", "keras", "numba")  # numba: the fused engine's compiler, lazily
UI = ("textual", "textual_plotext")


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after running `code` in a new interpreter."""
    probe = f"{code}\nimport sys\nprint(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return set(proc.stdout.split())


def brought_in(modules: list[str], packages: tuple[str, ...]) -> dict[str, list[str]]:
    """Import `modules` one after another in a new interpreter; for each, which of
    `packages` were loaded by the time it was imported (so the first culprit is named)."""
    probe = (
        "import importlib, json, sys\n"
        "out = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    top = {m.split('.')[0] for m in sys.modules}\n"
        f"    out[name] = sorted(top & set({packages!r}))\n"
        "print(json.dumps(out))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_import_embtui_loads_neither_tensorflow_nor_textual():
    loaded = loaded_after("import embtui")
    assert "embtui" in loaded
    assert not loaded & {*HEAVY, *UI}, loaded & {*HEAVY, *UI}


CHEAP = [
    "embtui.cli",
    "embtui.config",
    "embtui.store",
    "embtui.stats",
    "embtui.report.model",
    "embtui.report.verdicts",
    "embtui.export.markdown",
    "embtui.export.json",
    "embtui.export.csv",
    "embtui.export.tensorboard",
    "embtui.progress",
    "embtui.listing",
    "embtui.doctor",
]
ENGINE = [
    "embtui.engine.runner",
    "embtui.engine.trainer",
    "embtui.engine.models",
    "embtui.engine.data",
    "embtui.engine.glove",
    "embtui.engine.events",
    "embtui.engine.fused",
    "embtui.engine.run",
]


def test_the_cli_store_stats_and_exports_import_no_tensorflow():
    found = brought_in(CHEAP, HEAVY)
    assert list(found) == CHEAP
    assert {m: p for m, p in found.items() if p} == {}


def test_the_engine_imports_no_textual_and_keras_only_lazily():
    found = brought_in(ENGINE, (*HEAVY, *UI))
    assert list(found) == ENGINE
    assert {m: p for m, p in found.items() if p} == {}


@pytest.mark.slow  # its probe imports TensorFlow in a fresh interpreter: about 4 s
def test_the_keras_callback_brings_keras_but_never_the_console():
    found = brought_in(["embtui.callbacks"], (*HEAVY, *UI))
    assert "keras" in found["embtui.callbacks"]  # it subclasses keras.callbacks.Callback
    assert not set(found["embtui.callbacks"]) & set(UI)


def test_the_probe_sees_what_a_module_imports():
    """Not vacuous: the same probe does report the packages a module really loads."""
    found = brought_in(["embtui.config", "embtui.stats"], ("scipy", "numpy"))
    assert found == {"embtui.config": [], "embtui.stats": ["numpy", "scipy"]}


def test_help_answers_without_tensorflow():
    loaded = loaded_after(
        "import contextlib, io\n"
        "from embtui.cli import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "assert 'run' in out.getvalue() and 'export' in out.getvalue()"
    )
    assert not loaded & set(HEAVY)


def test_the_console_script_and_python_dash_m_both_answer_help():
    script = Path(sys.executable).parent / "embtui"
    commands = [[sys.executable, "-m", "embtui", "--help"]]
    if script.exists():
        commands.append([str(script), "--help"])
    for command in commands:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage: embtui")
        assert proc.stderr == ""
    version = subprocess.run(
        [sys.executable, "-m", "embtui", "--version"], capture_output=True, text=True
    )
    from embtui import __version__

    assert version.stdout.strip() == f"embtui {__version__}"
