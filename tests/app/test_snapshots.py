"""The console as the user sees it: SVG snapshots of the main, compare, configure, help and
message-log screens at 80x24 and 120x40 (pytest-textual-snapshot), and the README's
screenshots, which are copies of some of them.

After a deliberate change of the screens: `pytest tests/app/test_snapshots.py
--snapshot-update`, look at the new SVGs, then `python -m tests.app.scenes` for the README.
"""

from __future__ import annotations

import re

import pytest

from tests.app.scenes import README, SCENES, SIZES, app_for, screenshot_file, snapshot_file


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("name", list(SCENES))
def test_snapshot(snap_compare, tmp_path, name, size):
    scene = SCENES[name]
    assert snap_compare(app_for(scene, tmp_path), terminal_size=size, run_before=scene.run_before)


def _normal(svg: str) -> str:
    """Rich gives each SVG a random id; the pictures are the same without it."""
    return re.sub(r"\bterminal-\d+-", "terminal-", svg)


@pytest.mark.parametrize(("name", "size"), README)
def test_the_readme_screenshots_are_the_snapshots(name, size):
    shown = screenshot_file(name, size).read_text(encoding="utf-8")
    assert _normal(shown) == _normal(snapshot_file(name, size).read_text(encoding="utf-8")), (
        f"{screenshot_file(name, size).name} differs from its snapshot: "
        "run python -m tests.app.scenes"
    )
