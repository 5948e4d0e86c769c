"""tools/import_cycles.py, the CI check that embtui's modules import no cycle, can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "import_cycles.py"


def check(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), str(package)], capture_output=True, text=True, timeout=60
    )


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    pkg = tmp_path / "demo"
    (pkg / "engine").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "engine" / "runner.py").write_text("from demo.engine import parallel\n")
    (pkg / "engine" / "parallel.py").write_text(
        "def work():\n    from demo.engine.runner import x\n"
    )
    (pkg / "store.py").write_text("import json\n")
    result = check(pkg)
    assert result.returncode == 1
    assert "cycle: demo.engine.parallel <-> demo.engine.runner" in result.stdout


def test_embtui_has_no_import_cycle():
    result = check(ROOT / "embtui")
    assert result.returncode == 0, result.stdout
    assert result.stdout.endswith(", 0 cycles\n")
