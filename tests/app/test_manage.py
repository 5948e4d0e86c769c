"""What users of similar tools reach for: filter, sort, an experiment's configuration and
environment, delete, rename, and copying a row over SSH."""

from __future__ import annotations

from textual.widgets import Input

from embtui.app.screens.choice import ChoiceScreen
from embtui.app.screens.confirm import ConfirmScreen
from embtui.app.screens.info import ExperimentInfoScreen, InfoTable
from embtui.app.screens.main import MainScreen
from embtui.app.screens.prompt import PromptScreen
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.filter_bar import FilterBar
from embtui.app.widgets.runs_table import RunsTable
from embtui.app.widgets.status_line import StatusLine
from tests.app.conftest import SMALL, record, settle, stored, until


def _column(table: RunsTable, index: int) -> list[str]:
    return [table.cells(k)[index] for k in table.row_keys]


async def test_slash_filters_the_runs_by_any_column_as_you_type(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        status = app.screen.query_one(StatusLine)
        await pilot.press("slash", *"glove")
        assert _column(table, 2) == ["glove"] * 4
        assert "filter: glove" in status.flags
        assert table.border_title.endswith("4 of 8 shown")
        await pilot.press(*" size=50")
        assert [(c[1], c[2]) for c in map(table.cells, table.row_keys)] == [("50", "glove")] * 2
        await pilot.press("enter")  # keeps the filter, back to the runs
        assert app.focused is table, app.focused
        assert len(table.row_keys) == 2, (table.row_keys, app.main.run_filter)
        await pilot.press("slash")
        app.screen.query_one(FilterBar).value = "colour=red"  # pasted: no such column
        await pilot.pause()
        assert status.error and status.text == (
            "filter 'colour=red': no column 'colour'; columns: size, arm, seed, status, "
            "reason, epoch, loss, acc, val_loss, val_acc, best"
        )
        assert len(table.row_keys) == 2  # the table as it was
        await pilot.press("escape")  # clears the filter
        assert len(table.row_keys) == 8 and "filter" not in status.flags
        assert app.focused is table
        runs = stored(store_path).runs(exp_id)
        await pilot.press("slash", *"status:done", "enter")
        assert table.row_keys == [str(r.id) for r in runs]


async def test_o_and_a_header_click_sort_the_runs(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        cursor_key = table.current_key
        await pilot.press("o")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press(*["j"] * 9, "enter")  # the 9th column: val_acc, best first
        values = _column(table, 9)
        assert values == sorted(values, reverse=True) and values != _column_in_grid_order(app)
        assert table.current_key == cursor_key  # the cursor stays on its run
        assert "sort val_acc▼" in app.screen.query_one(StatusLine).flags
        assert str(table.columns["val_acc"].label) == "▼val_acc"  # type: ignore[index]
        # A click on the header sorts by that column; a second click reverses it.
        header = (1 + _x_of(table, "size") + 2, 1)  # inside the border, on "size"
        await pilot.click(RunsTable, offset=header)
        await pilot.pause()
        assert _column(table, 1) == sorted(_column(table, 1), key=int)
        await pilot.click(RunsTable, offset=header)
        await pilot.pause()
        assert _column(table, 1) == sorted(_column(table, 1), key=int, reverse=True)
        assert "sort size▼" in app.screen.query_one(StatusLine).flags


def _x_of(table: RunsTable, key: str) -> int:
    x = 0
    for column in table.ordered_columns:
        if column.key.value == key:
            return x
        x += column.get_render_width(table)
    raise KeyError(key)


def _column_in_grid_order(app) -> list[str]:
    return [f"{r.latest.val_acc:.4f}" for r in app.main.runs]


async def test_enter_on_an_experiment_shows_its_configuration_and_environment(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(ExperimentList).focus()
        await pilot.press("enter")
        assert isinstance(app.screen, ExperimentInfoScreen)
        table = app.screen.query_one(InfoTable)
        rows = {k: table.cells(k)[-1] for k in table.row_keys}
        assert rows["experiment:name"] == "small"
        assert rows["configuration:sizes"] == "10, 50"
        assert rows["configuration:dataset"] == "fake.csv"
        assert rows["environment:chance level"] == "0.5"
        assert rows["runs:by status"] == "8 done"
        assert rows["experiment:store"] == str(store_path)
        # y copies the highlighted value (OSC 52).
        table.move_to_key("configuration:sizes")
        await pilot.press("y")
        assert app.clipboard == "10, 50"
        await pilot.press("escape")
        assert isinstance(app.screen, MainScreen)
        assert stored(store_path).experiment(exp_id).name == "small"


async def test_y_copies_the_row_under_the_cursor(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        await pilot.press("j", "y")
        run = stored(store_path).runs(exp_id)[1]
        assert app.clipboard == "\t".join(c for c in table.cells(str(run.id)) if c)
        assert app.clipboard.startswith("10\tlearned\t1\tdone\t3/3\t")
        assert app.screen.query_one(StatusLine).text.startswith("copied: 10 learned 1 done")


async def test_d_deletes_the_selected_experiment_after_asking(make_app, store_path, tmp_path):
    keep = record(store_path)
    gone = record(store_path, SMALL.replace(name="scratch"))
    (tmp_path / "runs.sqlite.checkpoints").mkdir()
    checkpoint = (
        tmp_path / "runs.sqlite.checkpoints" / f"run-{stored(store_path).runs(gone)[0].id}.npz"
    )
    checkpoint.write_bytes(b"x")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.main.experiment_id == gone
        await pilot.press("d")
        assert isinstance(app.screen, ConfirmScreen)
        assert "Delete experiment 2 'scratch' with its 8 runs" in app.screen.question
        await pilot.press("n")  # no: nothing happens
        assert [e.id for e in stored(store_path).experiments()] == [keep, gone]
        await pilot.press("d", "y")
        await settle(pilot)
        assert [e.id for e in stored(store_path).experiments()] == [keep]
        assert app.main.experiment_id == keep
        assert app.screen.query_one(ExperimentList).row_keys == [str(keep)]
        assert app.messages[-1].text == "deleted experiment 2 'scratch'"
    assert not checkpoint.exists()
    assert len(stored(store_path).runs(keep)) == 8


async def test_f2_renames_the_selected_experiment_with_the_configs_rule(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("f2")
        assert isinstance(app.screen, PromptScreen)
        field = app.screen.query_one(Input)
        assert field.value == "small"
        await pilot.press("ctrl+u", *"a/b", "enter")  # refused, in one line, stays open
        assert isinstance(app.screen, PromptScreen)
        error = str(app.screen.query_one("#prompt-error").content)
        assert error == "name = 'a/b': a non-empty name without slashes or control characters"
        await pilot.press("ctrl+u", *"baseline", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert stored(store_path).experiment(exp_id).name == "baseline"
        assert app.screen.query_one(ExperimentList).cells(str(exp_id))[3] == "baseline"


async def test_n_after_a_rename_starts_from_the_new_name_and_a_namesake_is_flagged(
    make_app, store_path
):
    exp_id = record(store_path)
    stored(store_path).rename_experiment(exp_id, "live80")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("n")
        form = app.screen
        assert form.query_one("#f-name", Input).value == "live80"
        await pilot.press("ctrl+s")  # the same name again: allowed, and said
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await settle(pilot)
        (new,) = [e.id for e in stored(store_path).experiments() if e.id != exp_id]
        assert stored(store_path).namesakes(new) == [exp_id]
        expected = f"experiment {new} has the name of #{exp_id}: the ids tell them apart"
        assert any(expected in m.text for m in app.messages)


def test_the_info_screen_shows_the_data_fingerprint_on_one_line(store_path):
    """Per-shape hashes made the fingerprint's JSON many lines tall: it reads as one line."""
    from embtui.app.screens.info import info_rows
    from embtui.config import ExperimentConfig
    from tests.report.test_duplicates import fingerprint
    from tests.report.test_duplicates import record as record_values

    with stored(store_path) as store:
        exp = record_values(store, ExperimentConfig(sizes=(10,), seeds=1), fingerprint())
        rows = {key: value for _, key, value in info_rows(store, exp)}
    assert rows["data fingerprint"] == (
        "train tttttttt, val vvvvvvvv, glove gggggggg, validation reviews rrrrrrrr, "
        "shapes 10000x150"
    )
