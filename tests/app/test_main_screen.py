"""The main screen over a store filled with scripted runs: tables, the epoch pane, marks,
grouping, switching experiments, runs from other processes, tab stops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from rich.color import ColorSystem
from textual.color import Color

from embtui.app.widgets.chart_pane import ChartPane
from embtui.app.widgets.epoch_table import EpochPane, EpochTable
from embtui.app.widgets.experiment_list import ExperimentList
from embtui.app.widgets.metric_chart import MetricChart
from embtui.app.widgets.runs_table import RUN_COLUMNS, RunsTable
from tests.app.conftest import SMALL, record, screen_lines, settle, stored, until
from tests.app.fake import scripted_metrics


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_runs_table_shows_every_run_with_latest_values(make_app, store_path, size):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        runs = stored(store_path).runs(exp_id)
        assert table.row_keys == [str(r.id) for r in runs]
        first = runs[0]
        loss, acc, val_loss, val_acc = scripted_metrics(first.size, first.embedding, 0, 3)
        assert table.cells(str(first.id)) == [
            "",
            "10",
            "learned",
            "0",
            "done",
            "3/3",
            f"{loss:.4f}",
            f"{acc:.4f}",
            f"{val_loss:.4f}",
            f"{val_acc:.4f}",
            f"{val_acc:.4f}",
        ]
        # Nothing essential is cut: every column fits the pane, even at 80x24.
        assert table.virtual_size.width <= table.scrollable_content_region.width


async def test_the_epoch_pane_and_charts_show_the_run_under_the_cursor(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = stored(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        assert app.focused is table
        await pilot.press("j", "j")  # third run: size 10, glove, seed 0
        target = runs[2]
        epochs = app.screen.query_one(EpochTable)
        assert epochs.run_id == target.id
        assert epochs.row_keys == ["1", "2", "3"]
        expected = scripted_metrics(10, "glove", 0, 2)
        assert epochs.cells("2")[:5] == ["2", *(f"{v:.4f}" for v in expected)]
        assert app.screen.query_one(EpochPane).border_title == f"epochs · #{target.id} 10/glove/s0"
        loss_chart = app.screen.query_one("#loss-chart", MetricChart)
        val = [s for s in loss_chart.series if s.kind == "val"]
        assert [s.run_id for s in val] == [target.id]
        assert val[0].x == (1, 2, 3)
        assert val[0].y == tuple(scripted_metrics(10, "glove", 0, e)[2] for e in (1, 2, 3))
        acc_chart = app.screen.query_one("#acc-chart", MetricChart)
        train = [s for s in acc_chart.series if s.kind == "train"]
        assert train[0].y == tuple(scripted_metrics(10, "glove", 0, e)[1] for e in (1, 2, 3))
        # enter goes to the epochs of that run.
        await pilot.press("enter")
        assert app.focused is epochs


async def test_space_marks_runs_for_the_overlay_and_unmarks_them(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = stored(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        await pilot.press("j", "space", "j", "j", "space", "k", "k", "k")
        chart = app.screen.query_one("#loss-chart", MetricChart)
        # The run under the cursor first, then the marked ones.
        overlaid = [s.run_id for s in chart.series if s.kind == "val"]
        assert overlaid == [runs[0].id, runs[1].id, runs[3].id]
        assert len({s.colour for s in chart.series if s.kind == "val"}) == 3
        assert table.cells(str(runs[1].id))[0] == "●"
        await pilot.press("j", "j", "j", "space")  # unmark runs[3]
        assert [s.run_id for s in chart.series if s.kind == "val"] == [runs[3].id, runs[1].id]
        assert table.cells(str(runs[3].id))[0] == ""


async def test_g_groups_runs_by_size_and_arm_with_the_statistics(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.row_keys == ["10/learned", "10/glove", "50/learned", "50/glove"]
        row = table.cells("10/glove")
        report = app.main.report
        assert row[:4] == ["", "10", "glove", "2 done"]  # the seeds' count, by status
        assert row[4] == report.summary.group(10, "glove").label()
        assert "±" in row[4]
        assert table.border_title.endswith(" · grouped by arm")
        # Only the embeddings vary: grouped by them is grouped by arm, so `g` skips it.
        await pilot.press("g")
        await settle(pilot)
        assert len(table.row_keys) == 8
        assert "grouped" not in table.border_title


def _interval(values: list[float]) -> str:
    """Mean ± 95% Student-t half-width (n), computed here from the values."""
    from math import sqrt
    from statistics import mean, stdev

    from scipy.stats import t

    n = len(values)
    half = t.ppf(0.975, n - 1) * stdev(values) / sqrt(n)
    return f"{mean(values):.3f} ± {half:.3f} ({n})"


async def test_g_cycles_by_arm_then_by_each_varying_factor_then_off(make_app, store_path):
    """Issue 14: a sweep over embeddings, head and epochs. `g` groups by arm, then by each
    factor alone (its cells pool the runs over the other factors: n = 4 of 8 at a size),
    then shows the runs again; the title says what the rows are grouped by and the cursor
    stays on the group of the run it was on."""
    sweep = SMALL.replace(sizes="10", seeds=2, head="flatten,avgpool", epochs="2,3")
    exp_id = record(store_path, sweep)
    store = stored(store_path)
    runs = store.runs(exp_id)
    epochs = store.epochs(exp_id)
    final = {r.id: epochs[r.id][-1].val_acc for r in runs}
    assert len(runs) == 16 and all(r.status == "done" for r in runs)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        run_keys = list(table.row_keys)
        await pilot.press(*"j" * 15)  # glove avgpool epochs=3, seed 1: the last row
        target = next(r for r in runs if str(r.id) == table.current_key)
        assert target.factors["embeddings"] == "glove"
        assert (target.factors["head"], target.factors["epochs"]) == ("avgpool", 3)

        def cells_by(label: Callable[[dict], str]) -> dict[str, list[float]]:
            cells: dict[str, list[float]] = {}
            for r in runs:
                cells.setdefault(f"10/{label(r.factors)}", []).append(final[r.id])
            return cells

        steps = [
            ("arm", "arm", lambda f: f"{f['embeddings']} {f['head']} epochs={f['epochs']}"),
            ("embeddings", "embeddings", lambda f: f["embeddings"]),
            ("head", "head", lambda f: f["head"]),
            ("epochs", "epochs", lambda f: f"epochs={f['epochs']}"),
        ]
        for name, header, label in steps:
            await pilot.press("g")
            await until(pilot, lambda: app.main.report is not None)
            await settle(pilot)
            cells = cells_by(label)
            assert table.border_title.endswith(f" · grouped by {name}")
            assert table.row_keys == list(cells), name
            assert [c.value for c in table.columns][:4] == ["mark", "size", "arm", "status"]
            labels = {k.value: str(c.label).strip() for k, c in table.columns.items()}
            assert labels["arm"] == header
            for key, values in cells.items():
                row = table.cells(key)
                assert row[1:4] == ["10", key[3:], f"{len(values)} done"], key
                assert row[4] == _interval(values), key
                assert row[5] == f"{sum(values) / len(values):.4f}"  # best = final here
            # The cursor is on the target run's group, not on the first row.
            assert table.current_key == f"10/{label(target.factors)}"
            assert table.cursor_row == list(cells).index(table.current_key) > 0
            assert app.main.cursor_run is not None
            assert target.id in table.runs_under_cursor()
        await pilot.press("g")
        await settle(pilot)
        assert table.row_keys == run_keys
        assert "grouped" not in table.border_title
        # Back on the run it started on, and the epoch pane with it.
        assert table.current_key == str(target.id)
        assert table.cursor_row == 15
        assert app.screen.query_one(EpochTable).run_id == target.id


async def test_grouped_by_a_factor_another_experiment_is_grouped_by_arm(make_app, store_path):
    """A factor that does not vary in the experiment switched to groups nothing: its runs
    are grouped by arm, and the next `g` shows them ungrouped."""
    plain = record(store_path, SMALL.replace(name="plain", sizes="10"))
    sweep = record(store_path, SMALL.replace(name="sweep", sizes="10", head="flatten,avgpool"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.main.experiment_id == sweep
        await pilot.press("g", "g")
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.border_title.endswith(" · grouped by embeddings")
        assert table.row_keys == ["10/learned", "10/glove"]
        app.screen.query_one(ExperimentList).focus()
        await pilot.press("k")
        await until(pilot, lambda: app.main.experiment_id == plain)
        await settle(pilot)
        assert table.border_title.endswith(" · grouped by arm")
        assert table.row_keys == ["10/learned", "10/glove"]
        table.focus()
        await pilot.press("g")
        await settle(pilot)
        assert len(table.row_keys) == 4
        assert "grouped" not in table.border_title


async def test_moving_in_the_experiment_list_switches_experiment(make_app, store_path):
    first = record(store_path)
    second = record(store_path, SMALL.replace(sizes="10", seeds=1, name="other"))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.main.experiment_id == second  # the latest is shown first
        assert len(app.screen.query_one(RunsTable).row_keys) == 2
        app.screen.query_one(ExperimentList).focus()
        await pilot.press("k")
        await settle(pilot)
        assert app.main.experiment_id == first
        assert len(app.screen.query_one(RunsTable).row_keys) == 8
        assert app.screen.query_one(RunsTable).border_title.startswith(f"runs · #{first} small")


async def test_runs_written_by_another_connection_appear(make_app, store_path):
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert app.screen.query_one(ExperimentList).row_keys == []
        assert "no runs yet" in "\n".join(screen_lines(app))  # not an empty frame
        await asyncio.to_thread(record, store_path)  # as `embtui run` elsewhere would
        table = app.screen.query_one(RunsTable)

        def statuses() -> list[str]:
            return [table.cells(key)[4] for key in table.row_keys]

        # The watcher polls every 0.2 s here (1 s in the console); the runs appear queued as
        # soon as the experiment is recorded, then finish.
        await until(pilot, lambda: statuses() == ["done"] * 8, what="8 finished runs")
        assert app.screen.query_one(ExperimentList).row_keys == ["1"]


def _is_accent(widget, accent: Color) -> bool:
    colour = widget.styles.border_top[1]
    return all(abs(a - b) <= 3 for a, b in zip(colour.rgb, accent.rgb, strict=True))


def _title_on_accent(widget, accent: Color) -> bool:
    """The pane's title drawn as a label on the accent colour: more than a thin rule, and
    a background a 256-colour terminal keeps apart from the panes' near-black (234/235)."""
    colour = widget.styles.border_title_background
    return all(abs(a - b) <= 3 for a, b in zip(colour.rgb, accent.rgb, strict=True))


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_every_tab_stop_shows_focus_and_z_fills_the_screen(make_app, store_path, size):
    """Five panes, five tab stops; the focused one's border (or title rule) takes the accent
    colour, the others do not: focus is never invisible."""
    record(store_path)
    app = make_app()
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        screen = app.screen
        panes = {
            "experiments": screen.query_one(ExperimentList),
            "runs": screen.query_one(RunsTable),
            "epochs": screen.query_one(EpochPane),
            "charts": screen.query_one(ChartPane),
        }
        focus_of = {
            "experiments": panes["experiments"],
            "runs": panes["runs"],
            "epochs": screen.query_one(EpochTable),
            "charts": panes["charts"],
        }
        accent = Color.parse(app.current_theme.accent)
        order = ["runs", "epochs", "charts", "experiments", "runs"]
        assert app.focused is focus_of["runs"]
        for i, name in enumerate(order):
            if i:
                await pilot.press("tab")
            assert app.focused is focus_of[name], (name, app.focused)
            await pilot.pause()
            for other, pane in panes.items():
                assert _is_accent(pane, accent) == (other == name), (name, other)
                assert _title_on_accent(pane, accent) == (other == name), (name, other)
        await pilot.press("z")
        assert screen.maximized is panes["runs"]
        await pilot.press("escape")
        assert screen.maximized is None


def _styles_of_row(table, y: int) -> set[str]:
    """How one rendered row looks on a 16-colour terminal (TERM=screen): its colours
    downgraded to the 16 the terminal has, and underline or reverse. Bold is left out: on
    such terminals it often only brightens the colour, and the header is bold too."""
    out = set()
    for segment in table.render_line(y):
        style = segment.style
        if style is None or not segment.text.strip():
            continue
        colour = style.color.downgrade(ColorSystem.STANDARD).number if style.color else None
        bgcolor = style.bgcolor.downgrade(ColorSystem.STANDARD).number if style.bgcolor else None
        out.add(f"{colour}/{bgcolor}/u{bool(style.underline)}/r{bool(style.reverse)}")
    return out


@pytest.mark.parametrize("focused", [True, False])
async def test_with_16_colours_the_selected_row_does_not_look_like_the_header(
    make_app, store_path, focused
):
    record(store_path)
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        experiments = app.screen.query_one(ExperimentList)
        if focused:
            experiments.focus()
            await pilot.pause()
        assert experiments.cursor_row == 1
        header = _styles_of_row(experiments, 0)
        selected = _styles_of_row(experiments, 2)  # header, row 0, row 1 (the cursor)
        other = _styles_of_row(experiments, 1)
        assert header and selected and other
        assert header != selected
        assert other != selected


async def test_the_chart_is_eight_rows_high_at_80x24_with_its_legend_outside(make_app, store_path):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        chart = app.screen.query_one("#loss-chart", MetricChart)
        # The plot's own rows: all but the x axis and its labels.
        assert chart.content_region.height - 2 >= 8
        lines = screen_lines(app)
        legend_row = app.screen.query_one("#legend").region.y
        assert "━ val ┄ train" in lines[legend_row]
        plot_rows = range(chart.region.y, chart.region.bottom)
        assert not any("val" in lines[y] or "train" in lines[y] for y in plot_rows)


async def test_a_sweep_names_its_arms_as_the_report_does(make_app, store_path):
    """A sweep over head and epochs: the arm column, the groups and the epoch counts are
    each run's own (`glove avgpool epochs=2`), as the exports name them."""
    from embtui.report.model import build_report

    sweep = SMALL.replace(sizes="10", seeds=1, head="flatten,avgpool", epochs="2,3")
    exp_id = record(store_path, sweep)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        rows = [table.cells(k) for k in table.row_keys]
        report = build_report(stored(store_path), exp_id)
        assert [r[2] for r in rows] == [r.arm for r in report.runs]
        assert rows[0][2] == "learned flatten epochs=2"
        assert [r[5] for r in rows] == ["2/2", "3/3"] * 4
        await pilot.press("g")
        await settle(pilot)
        assert table.row_keys == [f"10/{arm}" for arm in report.summary.arms]


async def test_at_80_columns_a_sweeps_runs_table_leaves_out_what_does_not_fit(make_app, store_path):
    sweep = SMALL.replace(sizes="10", seeds=1, head="flatten,avgpool")
    record(store_path, sweep)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert "acc" not in [c.value for c in table.columns]
        assert [c.value for c in table.columns][:6] == [
            "mark",
            "size",
            "arm",
            "seed",
            "status",
            "epoch",
        ]
        assert "val_acc" in [c.value for c in table.columns]
        assert table.virtual_size.width <= table.scrollable_content_region.width
        # The title names the columns left out and the key that shows them.
        assert table.hidden and "acc" in table.hidden
        assert table.border_title.endswith(f"w shows {', '.join(table.hidden)}")
        await pilot.press("w")
        assert [c.value for c in table.columns] == [key for key, _, _ in RUN_COLUMNS]
        assert "w shows" not in table.border_title


@pytest.mark.parametrize(
    ("sweep", "keys"),
    [(False, ("dollar_sign",)), (False, ("dollar_sign", "dollar_sign")), (True, ("w", "w"))],
)
async def test_a_rebuilt_runs_table_keeps_the_cursor_on_its_run(make_app, store_path, sweep, keys):
    """Issue 13: the cursor never moves under a user who has moved it; `$` and `w` change
    the columns (the table is rebuilt), the cursor stays on the same run, and the epoch
    pane with it. (`w` changes them at 80 columns only where a sweep's arms take the room.)"""
    exp_id = record(store_path, SMALL.replace(head="flatten,avgpool") if sweep else SMALL)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        runs = stored(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        await pilot.press("j", "j", "j", "j", "j")  # row 6
        target = runs[5]
        assert table.current_key == str(target.id)
        for key in keys:
            await pilot.press(key)
            await settle(pilot)
            assert table.cursor_row == 5
            assert table.current_key == str(target.id)
            assert app.screen.query_one(EpochTable).run_id == target.id


async def test_leaving_and_entering_grouped_view_keeps_the_cursor_on_its_run(make_app, store_path):
    exp_id = record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        runs = stored(store_path).runs(exp_id)
        table = app.screen.query_one(RunsTable)
        await pilot.press("j", "j", "j", "j", "j")  # 50/learned, seed 1
        target = runs[5]
        assert (target.size, target.embedding, target.seed) == (50, "learned", 1)
        await pilot.press("g")
        await settle(pilot)
        assert table.current_key == "50/learned"  # its group
        assert table.cursor_row == 2
        await pilot.press("dollar_sign")
        await settle(pilot)
        assert table.current_key == "50/learned"
        await pilot.press("dollar_sign", "j")  # 50/glove
        await settle(pilot)
        group_run = app.main.cursor_run
        assert group_run is not None and group_run.arm == "glove" and group_run.run.size == 50
        await pilot.press("g")
        await settle(pilot)
        # Back to the runs: the run the epoch pane showed for that group.
        assert table.current_key == str(group_run.id)
        assert app.screen.query_one(EpochTable).run_id == group_run.id


async def test_switching_experiments_at_80_columns_fits_the_columns_to_the_new_rows(
    make_app, store_path
):
    """Seen in tmux: after `k` `j` in the experiment list the runs table kept the widths of
    its freshly rebuilt columns (the labels'), `10 lea 0 done 2/2 0.35 0.6`, until focus
    moved."""
    sweep = record(
        store_path, SMALL.replace(name="sweep", sizes="10", seeds=1, head="flatten,lstm")
    )
    plain = record(store_path, SMALL.replace(name="plain", epochs=2))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(ExperimentList).focus()
        for key, exp_id in (("k", sweep), ("j", plain)):
            await pilot.press(key)
            await until(pilot, lambda exp_id=exp_id: app.main.experiment_id == exp_id)
            await pilot.pause(0.3)  # the console idle, as the user sees it (no re-read)
            table = app.screen.query_one(RunsTable)
            cells = [value for value in table.cells(table.row_keys[0]) if value]
            lines = screen_lines(app)
            header = lines.index(next(line for line in lines if "─runs" in line)) + 1
            # The first run's row, every cell whole.
            assert lines[header + 1].split() == " ".join(cells).split(), lines[header : header + 2]


async def test_at_80x24_the_selected_experiment_is_in_view_when_the_console_opens(
    make_app, store_path
):
    """The list has three lines at 80x24; the console opens on the newest experiment (#3),
    and the list shows it, not #1 and #2."""
    for name in ("one", "two", "three"):
        record(store_path, SMALL.replace(name=name, sizes="10", seeds=1))
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.pause(0.2)
        experiments = app.screen.query_one(ExperimentList)
        assert app.main.experiment_id == 3
        assert experiments.current_key == "3"
        lines = screen_lines(app)
        top = lines.index(next(line for line in lines if "─experiments" in line))
        shown = [line.split()[:4] for line in lines[top + 2 : top + 4]]
        assert ["3", "done", "2/2", "three"] in shown, lines[top : top + 4]


async def test_grouped_at_80_columns_each_cell_reads_its_runs_once(make_app, store_path):
    """The grouped table had an `n` column before `status`: `2 2 done`. The runs of a cell
    are counted once, by status, under a `runs` header."""
    record(store_path, SMALL, stop_after=3)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("g")
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert [c.value for c in table.columns][:4] == ["mark", "size", "arm", "status"]
        assert table.cells("10/learned")[:4] == ["", "10", "learned", "1 done, 1 cancelled"]
        assert table.cells("10/glove")[:4] == ["", "10", "glove", "2 cancelled"]
        lines = screen_lines(app)
        top = lines.index(next(line for line in lines if "─runs" in line))
        assert lines[top + 1].split()[:3] == ["size", "arm", "runs"]
        assert lines[top + 2].split()[:6] == ["10", "learned", "1", "done,", "1", "cancelled"]
        assert table.virtual_size.width <= table.scrollable_content_region.width


async def test_the_experiments_pane_at_80x24_shows_runs_done_whole_and_cuts_the_name(
    make_app, store_path
):
    """`running 2/3` read as 2 of 3 when the pane cut `2/30`: the name comes last now."""
    long = SMALL.replace(name="a-rather-long-name-" + "x" * 70, seeds=15)
    exp_id = record(store_path, long, stop_after=2)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        done = sum(r.status == "done" for r in stored(store_path).runs(exp_id))
        total = len(stored(store_path).runs(exp_id))
        assert total == 60  # two sizes x two arms x 15 seeds
        row = next(line for line in screen_lines(app) if line.lstrip().startswith(f"{exp_id} "))
        assert f" {done}/{total} " in row
        assert "a-rather-long" in row


async def test_an_experiment_of_thousands_of_runs_opens_grouped_by_arm(make_app, store_path):
    """10,000 rows of seeds are unreadable and took seconds to draw (issue 23, item 12): a
    grid of more than GROUP_FROM runs opens one row per (size, arm) cell; `g` shows every
    run, and refreshes after that leave the user's choice alone."""
    from embtui.app.screens.main import GROUP_FROM
    from embtui.store import Store

    with Store(store_path) as store:
        cells = [
            (size, arm, seed)
            for size in (10, 50)
            for arm in ("learned", "glove")
            for seed in range(GROUP_FROM // 4 + 1)
        ]
        store.create_experiment("big", {"sizes": [10, 50]}, cells)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        assert table.row_keys == ["10/learned", "10/glove", "50/learned", "50/glove"]
        assert table.border_title.endswith(" · grouped by arm")
        await pilot.press("g")
        await settle(pilot)
        assert len(table.row_keys) == len(cells) > GROUP_FROM


async def test_browsing_an_older_store_leaves_its_schema_alone(make_app, store_path):
    """The console reads a v2 store (an older embtui may be training in it) as it is: it
    lists its experiment and never upgrades it (issue 23, item 9)."""
    import socket
    import sqlite3

    from tests.test_store import dead_pid
    from tests.test_store_versions import add_v2_experiment, schema, v2_store

    v2_store(store_path)
    exp_id = add_v2_experiment(
        store_path, status="running", pid=dead_pid(), host=socket.gethostname()
    )
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.pause(0.5)  # a poll or two: the owner check runs on it
        await settle(pilot)
        assert [e.id for e in app.main.experiments] == [exp_id]
        assert app.screen.query_one(RunsTable).row_keys
    assert schema(store_path)[0] == 2
    db = sqlite3.connect(store_path)
    assert db.execute("SELECT status FROM experiments").fetchall() == [("running",)]
    db.close()
