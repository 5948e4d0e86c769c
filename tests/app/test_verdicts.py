"""One report, everywhere: the compare screen (read from the rendered screen), `embtui run`'s
closing summary, the Markdown and the JSON export lead with the same verdicts and show the
same main effects, comparison for comparison.

The runs are recorded with hand-made values (`record_values`), so the verdicts are exact
and mixed: some arms clearly apart, some not. With four arms the verdicts are the best arm
against every other (their own Holm family) and the all-pairs table is an appendix; with two
they are the per-size comparisons.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3

import pytest

from embtui.app.screens.compare import CompareScreen
from embtui.app.widgets.cells import DASH
from embtui.config import ExperimentConfig
from embtui.escape import markdown_text
from embtui.export import render
from embtui.progress import print_summary
from embtui.report.model import build_report
from embtui.report.verdicts import verdicts
from embtui.stats import format_p
from tests.app.conftest import screen_lines, settle, stored, text_of
from tests.helpers import record_values

SWEEP = ExperimentConfig(
    name="sweep",
    dataset="fake.csv",
    sizes=(50, 500),
    embeddings=("learned", "glove"),
    head=("flatten", "avgpool"),
    seeds=3,
    epochs=2,
    val_size=100,
)
TWO = SWEEP.replace(name="two", head="flatten")


def final(size: int, factors: dict, seed: int) -> float:
    """GloVe clearly ahead, avgpool a little, more reviews better; seed noise of ±0.03."""
    level = 0.6 + 0.1 * (factors["embeddings"] == "glove") + 0.1 * (size == 500)
    level += 0.03 * (factors.get("head") == "avgpool")
    noise = random.Random(f"{size} {factors['embeddings']} {factors['head']} {seed}")
    return round(level + noise.uniform(-0.03, 0.03), 6)


def ci(row: dict) -> str:
    return f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"


def in_a_row(lines: list[str], *cells: str, sep: str = r"[\s│|]+") -> bool:
    """Whether one line shows `cells` in this order, whole, with only separators between."""
    pattern = re.compile(r"(^|[\s│|])" + sep.join(map(re.escape, cells)) + r"($|[\s│|])")
    return any(pattern.search(line) for line in lines)


async def compare_screen_lines(pilot) -> list[str]:
    """Every line of the compare screen, scrolled from top to bottom (never sideways)."""
    app = pilot.app
    body = app.screen.query_one("#compare-body")
    lines: list[str] = []
    y = 0
    while True:
        body.scroll_to(y=y, animate=False)
        await pilot.pause()
        lines += screen_lines(app)
        if y >= body.max_scroll_y:
            return lines
        y += body.size.height // 2


@pytest.mark.parametrize("config", [SWEEP, TWO], ids=["4 arms", "2 arms"])
async def test_every_view_leads_with_the_same_verdicts_and_main_effects(
    make_app, store_path, config, capsys
):
    exp_id = record_values(store_path, config, final)
    report = build_report(stored(store_path), exp_id)
    doc = json.loads(render(report, "json"))
    md = render(report, "md")
    print_summary(report)  # as `embtui run` ends, into a log (not a terminal)
    closing = capsys.readouterr().out.splitlines()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        screen = await compare_screen_lines(pilot)
        conclusion = text_of(app.screen.query_one("#conclusion"))
        family_line = text_of(app.screen.query_one("#verdict-family"))

    family = doc["verdict_family"]
    rows = doc["verdicts"]
    alpha = family["alpha"]
    sweep = config is SWEEP
    # The JSON leads with the verdicts, and they are the rule's family.
    assert list(doc)[:4] == ["verdicts", "verdict_family", "main_effects", "conclusion"]
    if sweep:
        best = [
            (b["size"], b["best"], o["arm"], o["diff"], o["ci_low"], o["ci_high"], o["p_holm"])
            for b in doc["sweep"]["best"]
            for o in b["others"]
        ]
        assert family["holm_tests"] == doc["sweep"]["holm_family_best"] == 6
        assert doc["conclusion"] == doc["sweep"]["conclusion"]
        assert doc["main_effects"] == doc["sweep"]["effects"]
        assert [s["statement"] for s in family["statements"]] == [
            b["verdict"] for b in doc["sweep"]["best"]
        ]
    else:
        best = [
            (c["size"], c["arm_a"], c["arm_b"], c["diff"], c["ci_low"], c["ci_high"], c["p_holm"])
            for c in doc["comparisons"]
        ]
        assert family["holm_tests"] == 2 and doc["main_effects"] == []
        assert doc["conclusion"] == doc["statistics"]["conclusion"]
    got = [
        (r["size"], r["arm_a"], r["arm_b"], r["diff"], r["ci_low"], r["ci_high"], r["p_holm"])
        for r in rows
    ]
    assert got == best
    assert any(r["better"] for r in rows)
    assert not sweep or not all(r["better"] for r in rows)  # some called, some not

    # Every view heads them with the same family sentence and ends with the same conclusion.
    assert family_line == f"Verdicts: {family['text']}"
    closing_text = re.sub(r"\s+", " ", " ".join(closing))  # its paragraphs wrap at 120
    assert f"Verdicts: {family['text']}" in closing_text
    assert family["text"] in md
    assert conclusion == doc["conclusion"]
    assert markdown_text(doc["conclusion"]) in md  # escaped for Markdown, word for word
    assert doc["conclusion"] in closing_text

    # Comparison for comparison: the same arms, difference, interval, p and verdict.
    verdicts_md = md.split("## Best arm against each other arm\n")[-1].split("\n## ")[0]
    results_md = md.split("## Results: ")[1].split("\n## ")[0]
    for r in rows:
        diff, interval, p = f"{r['diff']:+.3f}", ci(r), format_p(r["p_holm"], alpha)
        if sweep:
            assert in_a_row(screen, r["verdict"], r["arm_a"], r["arm_b"], diff, interval, p), r
            assert in_a_row(closing, r["arm_a"], r["arm_b"], diff, interval, p, r["verdict"]), r
            assert (
                f"| {r['size']} | {r['arm_a']} | {r['arm_b']} | {diff} | {interval} | {p} | "
                f"{r['verdict']} |" in verdicts_md
            ), r
        else:
            means = [
                f"{g['mean']:.3f} ± {g['half_width']:.3f} ({g['n']})"
                for g in doc["summary"]
                if g["size"] == r["size"]
            ]
            assert any(
                re.search(
                    re.escape(r["verdict"])
                    + r".*"
                    + re.escape(diff)
                    + r"\s+"
                    + re.escape(interval)
                    + r"\s+"
                    + re.escape(p),
                    line,
                )
                and all(m in line for m in means)
                for line in screen
            ), r
            assert in_a_row(closing, *means, diff, interval, p, r["verdict"]), r
            assert in_a_row(results_md.splitlines(), diff, interval, p), r
            assert f" {r['verdict']} |" in results_md
    for s in family["statements"]:
        if sweep:
            assert f"{s['size']} reviews: {s['statement']}" in "\n".join(screen)
            assert f"| {s['size']} | " in results_md and f"| {s['statement']} |" in results_md

    # The main effects: the same rows everywhere.
    effects_md = md.split("## Main effects\n")[-1].split("\n## ")[0] if sweep else ""
    for e in doc["main_effects"]:
        name = f"{e['factor']}: {e['level']} vs {e['baseline']}"
        diff, interval, p = f"{e['diff']:+.3f}", ci(e), format_p(e["p_holm"], alpha)
        n = str(e["n_pairs"])
        assert in_a_row(screen, name, e["verdict"], n, diff, interval, p), e
        assert in_a_row(closing, name, n, diff, interval, p, e["verdict"]), e
        assert (
            f"| {e['factor']} | {e['level']} | {e['baseline']} | {n} | {diff} | {interval} | "
            f"{p} | {e['verdict']} |" in effects_md
        ), e
    assert len(doc["main_effects"]) == (2 if sweep else 0)

    # The appendix: every pair, its own Holm family, each pair named whole.
    if sweep:
        assert len(doc["comparisons"]) == 12
        for c in doc["comparisons"]:
            diff, interval = f"{c['diff']:+.3f}", ci(c)
            p = format_p(c["p_holm"], alpha)
            cells = (str(c["size"]), c["verdict"], c["arm_a"], c["arm_b"], diff, interval, p)
            assert in_a_row(screen, *cells), c
        assert "Appendix" in "\n".join(screen) and "## All pairs (appendix)" in md
        assert "across all 12 pairs" in "\n".join(screen)
    else:
        assert "Appendix" not in "\n".join(screen)


async def test_at_80x24_a_sweeps_verdicts_name_both_arms_whole(make_app, store_path):
    exp_id = record_values(store_path, SWEEP, final)
    rows = json.loads(render(build_report(stored(store_path), exp_id), "json"))["verdicts"]
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        screen = await compare_screen_lines(pilot)
        table = app.screen.query_one("#summary")
        assert table.virtual_size.width <= table.scrollable_content_region.width
    for r in rows:
        assert in_a_row(screen, r["verdict"], r["arm_a"], r["arm_b"]), r


async def test_one_arm_says_there_is_nothing_to_compare_in_every_view(make_app, store_path, capsys):
    exp_id = record_values(store_path, TWO.replace(embeddings="learned"), final)
    report = build_report(stored(store_path), exp_id)
    doc = json.loads(render(report, "json"))
    assert doc["verdicts"] == [] and doc["main_effects"] == []
    text = doc["verdict_family"]["text"]
    assert text == "no two arms have finished runs at the same size: nothing to compare."
    print_summary(report)
    assert f"Verdicts: {text}" in capsys.readouterr().out
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert text_of(app.screen.query_one("#verdict-family")) == f"Verdicts: {text}"


async def test_a_sweeps_size_with_one_arm_fills_its_row_with_dashes(make_app, store_path):
    """At a size where only one arm finished, the verdicts table's row says so and has a
    cell in every column, a dash where there is nothing to compare."""
    exp_id = record_values(store_path, SWEEP, final)
    store = stored(store_path)
    alone = [
        r.id
        for r in store.runs(exp_id)
        if r.size == 500
        and (r.factors.get("embeddings"), r.factors.get("head")) != ("learned", "flatten")
    ]
    db = sqlite3.connect(store_path)
    db.executemany("UPDATE runs SET status = 'failed' WHERE id = ?", [(i,) for i in alone])
    db.commit()
    db.close()
    (at_500,) = [s for s in verdicts(build_report(store, exp_id)).sizes if s.size == 500]
    assert not at_500.comparisons
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        table = app.screen.query_one("#summary")
        columns = [c.value for c in table.columns]
        assert columns == ["size", "verdict", "best", "other", "diff", "ci", "p"]
        assert table.cells("500") == ["500", at_500.statement, *[DASH] * 5]
