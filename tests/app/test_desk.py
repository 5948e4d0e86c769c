"""A day at the desk (issue 25): a notification never hides what the user is reading at the
bottom of the screen, the chart's x axis and the status line."""

from __future__ import annotations

import pytest
from textual.widgets._toast import Toast

from embtui.app.widgets.chart_pane import ChartPane
from embtui.app.widgets.status_line import StatusLine
from tests.app.conftest import record, settle


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_a_notification_leaves_the_chart_and_the_status_line_clear(
    make_app, store_path, tmp_path, size
):
    record(store_path)
    app = make_app()
    async with app.run_test(size=size, notifications=True) as pilot:
        await settle(pilot)
        path = tmp_path / "embtui-small-1.md"
        app.notify(f"wrote {path}", title="exported")
        app.notify("a second notification, under the first", severity="warning")
        await pilot.pause()
        await pilot.pause()
        toasts = list(app.screen.query(Toast))
        assert len(toasts) == 2
        chart = app.main.query_one(ChartPane).region
        status = app.main.query_one(StatusLine).region
        assert chart.height and status.height
        for toast in toasts:
            region = toast.region
            assert region.height >= 1 and region.width >= 10, region
            assert not region.overlaps(chart), (region, chart)  # its x axis included
            assert not region.overlaps(status), (region, status)
            assert region.y >= 1  # below the first title rule
