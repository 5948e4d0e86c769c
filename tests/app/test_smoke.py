from embtui.app.widgets.runs_table import RunsTable
from tests.app.conftest import record


async def test_shows_scripted_runs(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        print(table.row_count)
        app.save_screenshot("/tmp/shot.svg")
        assert table.row_count == 8
