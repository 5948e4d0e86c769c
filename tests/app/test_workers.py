"""A background job that fails never closes the console and never fails silently: each
worker's failure reaches the message log (with its traceback) and a notification, and the
screen that started it puts its own state right (see embtui.app.workers)."""

from __future__ import annotations

from embtui.app.messages import ExportRequested
from embtui.app.screens.compare import CompareScreen
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.status_line import StatusLine
from embtui.app.workers import JOB_NAMES
from tests.app.conftest import record, settle, text_of, until
from tests.app.fake import FakeEngine


class Boom(ValueError):
    """The failure each test injects: a bug, not an EmbtuiError a job expects."""


def boom(*args: object, **kwargs: object) -> object:
    raise Boom("injected")


def reports(app, group: str) -> int:
    """How many times the console said that `group` failed (a toast line and a traceback
    in the message log each time)."""
    what = JOB_NAMES[group]
    said = sum(m.text.startswith(f"{what} failed: Boom: injected") for m in app.messages)
    traced = sum(m.title == f"{what} failed" and "Traceback" in m.text for m in app.messages)
    assert said == traced, (said, traced)
    return said


def reported(app, group: str) -> bool:
    return reports(app, group) > 0


async def test_a_failed_export_is_reported_and_clears_exporting(make_app, store_path, monkeypatch):
    exp = record(store_path)
    monkeypatch.setattr("embtui.app.export_file.write_export", boom)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.post_message(ExportRequested(exp, "final", "md"))
        await until(pilot, lambda: reported(app, "export"))
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # the console stays
        assert "exporting" not in app.main.query_one(StatusLine).text


async def test_failed_statistics_are_reported_on_the_main_screen(make_app, store_path, monkeypatch):
    record(store_path)
    monkeypatch.setattr("embtui.report.model.build_report", boom)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("g")  # grouped cells want the statistics
        await until(pilot, lambda: reported(app, "report"))
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert "statistics failed: Boom: injected" in app.main.query_one(StatusLine).text


async def test_a_failed_comparison_says_so_on_the_compare_screen(make_app, store_path, monkeypatch):
    record(store_path)
    monkeypatch.setattr("embtui.report.model.build_report", boom)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await until(pilot, lambda: reported(app, "compare"))
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        conclusion = text_of(app.screen.query_one("#conclusion"))
        assert conclusion == "the comparison could not be computed: Boom: injected"


async def test_a_failed_pool_check_is_reported(make_app, store_path, monkeypatch):
    a, b = record(store_path), record(store_path)
    monkeypatch.setattr("embtui.report.model.build_report", boom)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.main.marked_experiments = {a, b}
        await pilot.press("c")
        await until(pilot, lambda: reported(app, "pool"))
        assert isinstance(app.screen, MainScreen)
        assert "pooling failed: Boom: injected" in app.main.query_one(StatusLine).text


async def test_a_failed_liveness_check_is_reported(make_app, store_path, monkeypatch):
    record(store_path)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        monkeypatch.setattr("embtui.store.Store.recover", boom)  # from the next poll on
        await until(pilot, lambda: reported(app, "owners"))
        await pilot.pause(1.0)  # five more polls, each failing: said once, not five times
        assert reports(app, "owners") == 1
        assert isinstance(app.screen, MainScreen)


async def test_a_failed_system_probe_is_reported(make_app, store_path):
    record(store_path)
    app = make_app(probe=boom, sample_every_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: reported(app, "system"))
        await pilot.pause(0.5)  # the sampler stops asking a probe that failed
        assert reports(app, "system") == 1
        assert isinstance(app.screen, MainScreen)


async def test_a_failed_warm_up_is_reported_and_the_form_stays(make_app, monkeypatch):
    engine = FakeEngine()
    monkeypatch.setattr(engine, "warm_up", boom)
    app = make_app(engine=engine, open_configure=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        await until(pilot, lambda: reported(app, "warm-up"))
        assert type(app.screen).__name__ == "ConfigureScreen"
