"""What the package promises about where it installs: Python 3.10 and later.

This machine has one Python (3.11), so the older end of the range is checked by reading the
code: vermin finds the oldest Python each module's syntax and standard-library use needs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_code_runs_on_the_oldest_python_the_package_declares():
    declared = re.search(r'requires-python = ">=(3\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert declared, "pyproject.toml declares requires-python"
    vermin = Path(sys.executable).with_name("vermin")
    if not vermin.exists():
        pytest.skip("vermin is not installed (pip install -e '.[test]' brings it)")
    result = subprocess.run(
        [
            str(vermin),
            "--no-tips",
            "--eval-annotations",
            "-t=" + declared.group(1) + "-",
            "--violations",
            str(ROOT / "embtui"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Minimum required versions: {declared.group(1)}" in result.stdout
