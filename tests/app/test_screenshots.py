"""SVG screenshots of the main screen at 120x40 and 80x24 (the sizes the console promises).

The test checks that the essentials are on screen at both sizes; with EMBTUI_SCREENSHOTS=1
it also refreshes the images in assets/screenshots/ that the README shows.
"""

from __future__ import annotations

import os

import pytest

from embtui.app.widgets.runs_table import RunsTable
from tests.app.conftest import REPO, record, settle


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_main_screen_screenshot(make_app, store_path, tmp_path, size):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        table.move_cursor(row=1)
        await pilot.press("space", "down", "down", "space")
        await settle(pilot)
        name = f"main-{size[0]}x{size[1]}.svg"
        folder = (
            REPO / "assets" / "screenshots" if os.environ.get("EMBTUI_SCREENSHOTS") else tmp_path
        )
        folder.mkdir(parents=True, exist_ok=True)
        app.save_screenshot(filename=name, path=str(folder))
    svg = (folder / name).read_text(encoding="utf-8")
    for text in ("experiments", f"#{exp_id}", "val_acc", "learned", "glove", "epoch"):
        assert text in svg.replace("&#160;", " "), text


def _folder(tmp_path):
    folder = REPO / "assets" / "screenshots" if os.environ.get("EMBTUI_SCREENSHOTS") else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_compare_screen_screenshot(make_app, store_path, tmp_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert type(app.screen).__name__ == "CompareScreen"
        folder = _folder(tmp_path)
        app.save_screenshot(filename="compare-120x40.svg", path=str(folder))
    svg = (folder / "compare-120x40.svg").read_text(encoding="utf-8").replace("&#160;", " ")
    for text in ("learned", "glove", "difference", "verdict", "Welch"):
        assert text in svg, text


async def test_configure_form_screenshot(make_app, tmp_path):
    from tests.app.conftest import SMALL

    app = make_app(SMALL)
    async with app.run_test(size=(100, 36)) as pilot:
        await settle(pilot)
        assert type(app.screen).__name__ == "ConfigureScreen"
        folder = _folder(tmp_path)
        app.save_screenshot(filename="configure-100x36.svg", path=str(folder))
    svg = (folder / "configure-100x36.svg").read_text(encoding="utf-8").replace("&#160;", " ")
    for text in ("sizes", "embeddings", "8 runs", "ctrl+s"):
        assert text in svg, text
