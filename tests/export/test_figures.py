"""The report's figures and its single-file HTML: what is plotted is the report's numbers.

Stores are written by hand (real SQLite, no training): every run's per-epoch values come
from a seeded generator and are kept, so the expected means and 95% intervals are computed
here with numpy and scipy from the values written, never from the report under test. The
plotted numbers are read back from the matplotlib artists (lines, error bars, bands).
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pytest
from markdown_it import MarkdownIt
from scipy import stats as st

from embtui.cli import main as cli
from embtui.export import render
from embtui.export.figures import (
    DATA_FILE,
    Drawn,
    draw_figures,
    figure_bytes,
    figures_data,
    mpl_text,
    style,
)
from embtui.report.model import build_report
from embtui.store import EpochMetrics, Store
from tests.test_imports import brought_in

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SIZES = (10, 50, 200)
CHANCE = 0.52

Written = dict[tuple[int, str, int], list[tuple[float, float, float, float]]]


def write_store(
    path: Path,
    arms: dict[str, dict[str, Any]] | tuple[str, ...] = ("learned", "glove"),
    *,
    name: str = "grid",
    sizes: tuple[int, ...] = SIZES,
    seeds: int = 3,
    epochs: int = 4,
    config: dict[str, Any] | None = None,
) -> tuple[int, Written]:
    """An experiment whose every run trained `epochs` epochs with random but plausible
    values; returns its id and the (loss, acc, val_loss, val_acc) written per epoch, by
    (size, arm, seed). `arms` maps an arm's name to its factor values (a sweep), or names
    embeddings."""
    factors = arms if isinstance(arms, dict) else {a: a for a in arms}
    rng = np.random.default_rng(2026)
    cfg = config or {"name": name, "sizes": list(sizes), "embeddings": list(factors)}
    cells = [(s, f, i) for s in sizes for f in factors.values() for i in range(seeds)]
    names = {json.dumps(f, sort_keys=True): a for a, f in factors.items()}
    written: Written = {}
    with Store(path) as store:
        exp = store.create_experiment(name, cfg, cells, head="flatten", meta={"chance": CHANCE})
        for run in store.runs(exp):
            arm = names[json.dumps(factors_of(run, factors), sort_keys=True)]
            store.start_run(run.id, device="CPU", params=101, coverage=None)
            rows = []
            for e in range(1, epochs + 1):
                val_acc = float(
                    np.clip(0.5 + 0.05 * math.log10(run.size) + rng.normal(0, 0.03), 0, 1)
                )
                acc = float(min(1.0, val_acc + 0.08 * e + rng.normal(0, 0.01)))
                loss = float(0.7 / e + abs(rng.normal(0, 0.02)))
                val_loss = float(0.7 + 0.02 * e + abs(rng.normal(0, 0.02)))
                store.add_epoch(EpochMetrics(run.id, e, loss, acc, val_loss, val_acc, 0.1))
                rows.append((loss, acc, val_loss, val_acc))
            written[(run.size, arm, run.seed)] = rows
            store.finish_run(run.id, "done")
        store.set_experiment_status(exp, "done")
    return exp, written


def factors_of(run, factors: dict[str, Any]) -> Any:
    example = next(iter(factors.values()))
    if isinstance(example, str):
        return run.embedding
    return {k: run.factors[k] for k in example}


def report_of(path: Path, exp_id: int, **kw):
    with Store(path, create=False) as store:
        return build_report(store, exp_id, **kw)


def interval(values: list[float]) -> tuple[float, float, float]:
    """(mean, ci_low, ci_high): the Student-t 95% interval, computed here with scipy."""
    a = np.asarray(values)
    half = st.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / math.sqrt(len(a))
    return a.mean(), a.mean() - half, a.mean() + half


def figure(drawn: list[Drawn], name: str) -> Drawn:
    return next(d for d in drawn if d.name == name)


@pytest.fixture
def grid(tmp_path: Path) -> tuple[Path, int, Written]:
    path = tmp_path / "store.sqlite"
    exp, written = write_store(path)
    return path, exp, written


# -- what the figures plot ------------------------------------------------------------------


def test_the_size_figure_plots_each_cells_mean_and_95_interval_and_the_chance_line(grid):
    path, exp, written = grid
    report = report_of(path, exp)
    size_fig = figure(draw_figures(report), "size")
    ax = size_fig.figure.axes[0]
    lines = {line.get_label(): line for line in ax.get_lines()}
    bars = [c for c in ax.containers]
    for i, arm in enumerate(("learned", "glove")):
        expected = [interval([written[(s, arm, k)][-1][3] for k in range(3)]) for s in SIZES]
        assert lines[arm].get_ydata() == pytest.approx([m for m, _, _ in expected], abs=1e-12)
        # The error bars of this arm, one per size, end at the t-interval's ends.
        ends = [seg for c in bars[i * 3 : i * 3 + 3] for seg in c.lines[2][0].get_segments()]
        assert [(lo, hi) for (_, lo), (_, hi) in ends] == pytest.approx(
            [(lo, hi) for _, lo, hi in expected], abs=1e-12
        )
        # ... which are the report's own numbers, as the tables and JSON show them.
        groups = report.summary.curve(arm)
        assert [g.mean for g in groups] == pytest.approx(list(lines[arm].get_ydata()), abs=0)
    assert list(lines["chance"].get_ydata()) == [CHANCE, CHANCE]
    low, high = ax.get_ylim()
    assert 0.0 <= low < high <= 1.0
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "50", "200"]


def test_the_epoch_figures_plot_the_mean_over_seeds_of_every_epoch(grid):
    path, exp, written = grid
    drawn = draw_figures(report_of(path, exp))
    for name, (train_i, val_i) in (("epochs-accuracy", (1, 3)), ("epochs-loss", (0, 2))):
        fig = figure(drawn, name)
        panels = [ax for ax in fig.figure.axes if ax.get_visible()]
        assert [ax.get_title() for ax in panels] == [f"{s} training reviews" for s in SIZES]
        for ax, size in zip(panels, SIZES, strict=True):
            lines = {line.get_label(): line for line in ax.get_lines()}
            for arm in ("learned", "glove"):
                for which, col in (("training", train_i), ("validation", val_i)):
                    per_seed = np.array(
                        [[r[col] for r in written[(size, arm, k)]] for k in range(3)]
                    )
                    line = lines[f"{arm} {which}"]
                    assert list(line.get_xdata()) == [1, 2, 3, 4]
                    assert line.get_ydata() == pytest.approx(per_seed.mean(axis=0), abs=1e-12)
            # One 95% band per line, from the t-interval of each epoch.
            bands = [c for c in ax.collections]
            assert len(bands) == 4
        series = fig.data["series"]
        for s in series:
            col = {"acc": 1, "val_acc": 3, "loss": 0, "val_loss": 2}[s["metric"]]
            for e, lo, hi in zip(s["epochs"], s["ci_low"], s["ci_high"], strict=True):
                values = [written[(s["size"], s["arm"], k)][e - 1][col] for k in range(3)]
                _, want_lo, want_hi = interval(values)
                assert (lo, hi) == pytest.approx((want_lo, want_hi), abs=1e-12)
    acc = figure(drawn, "epochs-accuracy").figure.axes[0]
    assert acc.get_ylim()[0] >= 0.0 and acc.get_ylim()[1] <= 1.01


def test_figures_json_holds_the_plotted_numbers_which_are_the_json_exports(grid):
    path, exp, _ = grid
    report = report_of(path, exp)
    drawn = draw_figures(report)
    data = figures_data(report, drawn, "svg")
    assert list(data["figures"]) == ["epochs-accuracy", "epochs-loss", "size"]
    exported = json.loads(render(report, "json"))
    by_cell = {(row["size"], row["arm"]): row for row in exported["summary"]}
    size_ax = figure(drawn, "size").figure.axes[0]
    plotted = {line.get_label(): list(line.get_ydata()) for line in size_ax.get_lines()}
    for series in data["figures"]["size"]["series"]:
        rows = [by_cell[(s, series["arm"])] for s in series["sizes"]]
        assert series["mean"] == [r["mean"] for r in rows] == plotted[series["arm"]]
        assert series["ci_low"] == [r["ci_low"] for r in rows]
        assert series["ci_high"] == [r["ci_high"] for r in rows]
    # Per epoch: the mean of the exported runs' epochs.
    for series in data["figures"]["epochs-accuracy"]["series"]:
        runs = [
            r for r in exported["runs"] if r["size"] == series["size"] and r["arm"] == series["arm"]
        ]
        want = [
            np.mean([r["epochs"][e - 1][series["metric"]] for r in runs]) for e in series["epochs"]
        ]
        assert series["mean"] == pytest.approx(want, abs=1e-12)


def test_a_sweep_has_a_main_effects_figure_of_the_reports_paired_differences(tmp_path):
    path = tmp_path / "store.sqlite"
    arms = {
        f"{e} {h}": {"embeddings": e, "head": h}
        for e in ("learned", "glove")
        for h in ("flatten", "avgpool")
    }
    config = {
        "name": "sweep",
        "sizes": list(SIZES),
        "embeddings": ["learned", "glove"],
        "head": ["flatten", "avgpool"],
    }
    exp, _ = write_store(path, arms, name="sweep", config=config)
    report = report_of(path, exp)
    assert report.sweep is not None and len(report.sweep.effects) == 2
    drawn = draw_figures(report)
    assert [d.name for d in drawn] == ["epochs-accuracy", "epochs-loss", "size", "effects"]
    ax = figure(drawn, "effects").figure.axes[0]
    points = ax.get_lines()[0]
    effects = report.sweep.effects
    assert list(points.get_xdata()) == [e.diff for e in effects]
    ends = [c.lines[2][0].get_segments()[0] for c in ax.containers]
    assert [(seg[0][0], seg[1][0]) for seg in ends] == [(e.ci_low, e.ci_high) for e in effects]
    # The first effect on top: its label at the highest tick.
    labels = {
        tick: label.get_text()
        for tick, label in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)
    }
    assert [labels[y] for y in sorted(labels, reverse=True)] == [
        f"{e.factor}: {e.level} vs {e.baseline} (n={e.n_pairs})" for e in effects
    ]
    assert list(points.get_ydata()) == sorted(labels, reverse=True)
    doc = json.loads(render(report, "json"))
    rows = figures_data(report, drawn, "svg")["figures"]["effects"]["rows"]
    assert [(r["diff"], r["ci_low"], r["ci_high"]) for r in rows] == [
        (e["diff"], e["ci_low"], e["ci_high"]) for e in doc["sweep"]["effects"]
    ]


def test_figures_are_byte_identical_and_ignore_the_users_matplotlib_settings(grid):
    path, exp, _ = grid
    report = report_of(path, exp)
    first = {d.name: figure_bytes(d, "svg") for d in draw_figures(report)}
    with mpl.rc_context({"lines.linewidth": 7.0, "svg.hashsalt": None, "font.size": 20.0}):
        again = {d.name: figure_bytes(d, "svg") for d in draw_figures(report)}
        png = [figure_bytes(d, "png") for d in draw_figures(report)]
    assert again == first
    assert [figure_bytes(d, "png") for d in draw_figures(report)] == png
    for svg in first.values():
        assert svg.startswith(b"<?xml") and b"<svg" in svg
        assert b"dc:date" not in svg and b"Matplotlib v" not in svg
    assert all(p.startswith(PNG_SIGNATURE) and b"Software" not in p for p in png)
    assert mpl.rcParams["lines.linewidth"] != 7.0  # the user's settings are theirs again


def test_figures_drawn_in_two_threads_at_once_are_the_same_bytes(grid):
    """Console exports run in worker threads; matplotlib's settings are global, so two
    exports drawing at once must not see each other's style."""
    from concurrent.futures import ThreadPoolExecutor

    path, exp, _ = grid
    report = report_of(path, exp)
    alone = [figure_bytes(d, "svg") for d in draw_figures(report)]

    def draw(_: int) -> list[bytes]:
        return [figure_bytes(d, "svg") for d in draw_figures(report)]

    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(draw, range(4))) == [alone] * 4


def test_a_dollar_in_an_arm_name_is_shown_literally(tmp_path):
    path = tmp_path / "store.sqlite"
    arms = ("a$b$c", r"x$\nosuchcommand{$y")  # the second is not even valid mathtext
    exp, _ = write_store(path, arms, name="dollars")
    report = report_of(path, exp)
    assert report.arms == arms
    assert mpl_text("a$b$c") == r"a\$b\$c"
    for d in draw_figures(report):
        with style(), mpl.rc_context({"svg.fonttype": "none"}):  # text stays text
            from matplotlib.backends.backend_svg import FigureCanvasSVG

            buf = io.StringIO()
            FigureCanvasSVG(d.figure).print_svg(buf)
        svg = buf.getvalue()
        assert "a$b$c" in svg, d.name
        assert "x$\\nosuchcommand{$y" in svg, d.name
        figure_bytes(d, "png")  # draws without a mathtext error


def test_matplotlib_is_imported_only_to_draw():
    modules = ["embtui", "embtui.cli", "embtui.export.markdown", "embtui.export.figures"]
    found = brought_in([*modules, "embtui.export.html"], ("matplotlib", "markdown_it"))
    assert {m: found[m] for m in modules} == {m: [] for m in modules}


# -- `embtui export`: the Markdown and its figures folder --------------------------------------


def image_links(markdown: str) -> list[str]:
    """Every image's link in a Markdown text, as a Markdown reader resolves it."""
    from urllib.parse import unquote

    tokens = MarkdownIt("commonmark", {"html": False}).parse(markdown)
    return [
        unquote(str(child.attrGet("src")))
        for t in tokens
        for child in t.children or ()
        if child.type == "image"
    ]


def test_o_report_md_writes_the_figures_beside_it_linked_by_relative_paths(
    grid, tmp_path, monkeypatch, capsys
):
    path, exp, _ = grid
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    assert cli(["export", str(exp), "-o", "out/report.md", "--store", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == f"wrote out{os.sep}report-figures{os.sep}\nwrote out/report.md\n"
    folder = tmp_path / "out" / "report-figures"
    assert sorted(p.name for p in folder.iterdir()) == [
        "epochs-accuracy.svg",
        "epochs-loss.svg",
        DATA_FILE,
        "size.svg",
    ]
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    links = image_links(md)
    assert links == [
        "report-figures/epochs-accuracy.svg",
        "report-figures/epochs-loss.svg",
        "report-figures/size.svg",
    ]
    for link in links:
        assert (tmp_path / "out" / link).read_bytes().startswith(b"<?xml")
    assert f"]({'report-figures/' + DATA_FILE})" in md
    # The rest of the Markdown is exactly what stdout gets.
    plain = render(report_of(path, exp), "md")
    assert strip_figures(md) == strip_figures(plain)
    assert "## Figures" in plain and "-o report.md` writes this report with its figures" in plain


def strip_figures(md: str) -> str:
    return re.sub(r"^## Figures\n.*?(?=^## )", "", md, flags=re.M | re.S)


def test_figures_png_writes_png_files(grid, tmp_path, monkeypatch):
    path, exp, _ = grid
    monkeypatch.chdir(tmp_path)
    args = ["export", str(exp), "-o", "report.md", "--figures", "png", "--store", str(path)]
    assert cli(args) == 0
    links = image_links((tmp_path / "report.md").read_text(encoding="utf-8"))
    assert [Path(link).suffix for link in links] == [".png"] * 3
    for link in links:
        assert (tmp_path / link).read_bytes().startswith(PNG_SIGNATURE)
    data = json.loads((tmp_path / "report-figures" / DATA_FILE).read_text(encoding="utf-8"))
    assert data["figures"]["size"]["file"] == "size.png"


def test_figures_none_writes_no_folder(grid, tmp_path, monkeypatch):
    path, exp, _ = grid
    monkeypatch.chdir(tmp_path)
    assert cli(["export", str(exp), "-o", "r.md", "--figures", "none", "--store", str(path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["r.md", "store.sqlite"]
    assert (tmp_path / "r.md").read_text(encoding="utf-8") == render(report_of(path, exp), "md")


def test_export_to_stdout_is_the_plain_markdown_and_writes_no_files(
    grid, tmp_path, monkeypatch, capsys
):
    path, exp, _ = grid
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert cli(["export", str(exp), "--store", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out == render(report_of(path, exp), "md")
    assert err == ""
    assert os.listdir(work) == []
    assert image_links(out) == []
    assert f"`embtui export {exp} -o report.md` writes this report with its figures" in out


@pytest.mark.slow
def test_a_redirected_export_is_the_text_alone_in_a_real_process(grid, tmp_path):
    from tests.helpers import cli_env, run_cli_in

    path, exp, _ = grid
    work = tmp_path / "work"
    work.mkdir()
    result = run_cli_in(cli_env(tmp_path), ["export", str(exp), "--store", path], cwd=work)
    assert result.rc == 0 and result.stderr == ""
    assert result.stdout == render(report_of(path, exp), "md")
    assert os.listdir(work) == []


def test_figures_dir_writes_figures_for_stdout_and_links_them_from_where_the_text_goes(
    grid, tmp_path, monkeypatch, capsys
):
    path, exp, _ = grid
    monkeypatch.chdir(tmp_path)
    assert cli(["export", str(exp), "--figures-dir", "figs", "--store", str(path)]) == 0
    out = capsys.readouterr().out
    assert image_links(out) == ["figs/epochs-accuracy.svg", "figs/epochs-loss.svg", "figs/size.svg"]
    assert all((tmp_path / link).is_file() for link in image_links(out))
    # With -o elsewhere, the links are relative to the Markdown file.
    (tmp_path / "doc").mkdir()
    args = ["export", str(exp), "-o", "doc/r.md", "--figures-dir", "pics", "--store", str(path)]
    assert cli(args) == 0
    links = image_links((tmp_path / "doc" / "r.md").read_text(encoding="utf-8"))
    assert links[0] == "../pics/epochs-accuracy.svg"
    assert all((tmp_path / "doc" / link).resolve().is_file() for link in links)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--format", "csv", "--figures", "png"], "--figures: only --format md and html have"),
        (["--format", "json", "--figures-dir", "d"], "--figures-dir: only --format md and html"),
        (["--format", "html", "--figures-dir", "d"], "--figures-dir: --format html has its"),
        (["--figures-dir", "d", "--figures", "none"], "--figures-dir with --figures none"),
        (["--figures", "gif"], "argument --figures: invalid choice: 'gif'"),
        (["-o", "nowhere/r.md"], "nowhere/r.md: cannot write (no folder nowhere)"),
    ],
)
def test_bad_figure_flags_are_one_line_and_exit_2_writing_nothing(
    grid, tmp_path, monkeypatch, capsys, flags, message
):
    path, exp, _ = grid
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    try:
        rc = cli(["export", str(exp), *flags, "--store", str(path)])
    except SystemExit as exc:  # argparse's own refusals
        rc = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err, err
    assert os.listdir(work) == []


# -- the single-file HTML -------------------------------------------------------------------


class Page(HTMLParser):
    """What a browser would build: every element with its attributes, the text of each
    table cell, the h1 and the title."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.tables: list[list[list[str]]] = []
        self.texts: dict[str, str] = {"h1": "", "title": "", "style": ""}
        self._cell: list[str] | None = None
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag in self.texts:
            self._in = tag

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in:
            self.texts[self._in] += data


def markdown_tables(md: str) -> list[list[list[str]]]:
    """The cell text of every table in a Markdown text, as a Markdown reader sees it."""
    tables: list[list[list[str]]] = []
    tokens = MarkdownIt("commonmark", {"html": False}).enable("table").parse(md)
    for prev, t in zip([None, *tokens], tokens, strict=False):
        if t.type == "table_open":
            tables.append([])
        elif t.type == "tr_open":
            tables[-1].append([])
        elif t.type == "inline" and prev is not None and prev.type in ("th_open", "td_open"):
            text = "".join(c.content for c in t.children or () if c.type in ("text", "code_inline"))
            tables[-1][-1].append(text.strip())
    return tables


def external_references(page: Page) -> list[str]:
    found = [
        f"<{tag} {key}={value}>"
        for tag, attrs in page.elements
        for key, value in attrs.items()
        if key in ("src", "href", "srcset", "action", "data", "poster")
        and value
        and re.match(r"\s*(https?:)?//", value)
    ]
    found += [tag for tag, _ in page.elements if tag in ("script", "link", "iframe", "object")]
    if re.search(r"url\(|@import", page.texts["style"]):
        found.append("style with url() or @import")
    return found


def test_html_has_the_markdowns_tables_and_the_figures_inside(grid):
    path, exp, _ = grid
    report = report_of(path, exp)
    page = Page(render(report, "html"))
    md = render(report, "md")
    assert page.tables == markdown_tables(md)
    assert len(page.tables) >= 4 and page.tables[0][0][0] == "size"
    images = [attrs for tag, attrs in page.elements if tag == "img"]
    assert len(images) == 3
    for attrs in images:
        src = str(attrs["src"])
        assert src.startswith("data:image/svg+xml;base64,")
        svg = base64.b64decode(src.split(",", 1)[1])
        assert svg.startswith(b"<?xml") and b"<svg" in svg
        assert attrs["alt"]
    expected = [figure_bytes(d, "svg") for d in draw_figures(report)]
    assert [base64.b64decode(str(a["src"]).split(",", 1)[1]) for a in images] == expected
    assert external_references(page) == []
    assert page.texts["h1"] == f"embtui experiment {exp}: grid"
    assert page.texts["title"] == page.texts["h1"]


def test_html_with_png_figures_or_none(grid):
    path, exp, _ = grid
    report = report_of(path, exp)
    page = Page(render(report, "html", figures="png"))
    images = [str(attrs["src"]) for tag, attrs in page.elements if tag == "img"]
    assert len(images) == 3 and all(s.startswith("data:image/png;base64,") for s in images)
    assert all(base64.b64decode(s.split(",", 1)[1]).startswith(PNG_SIGNATURE) for s in images)
    bare = Page(render(report, "html", figures="none"))
    assert not [tag for tag, _ in bare.elements if tag == "img"]
    assert bare.tables == page.tables


def test_a_hostile_experiment_name_is_text_in_the_html_never_an_element(tmp_path):
    path = tmp_path / "store.sqlite"
    hostile = "x <img src=x onerror=alert(1)>"
    exp, _ = write_store(path, name=hostile)
    text = render(report_of(path, exp), "html")
    page = Page(text)
    assert [attrs for tag, attrs in page.elements if tag == "img" and attrs.get("src") == "x"] == []
    assert not any("onerror" in attrs for _, attrs in page.elements)
    assert [tag for tag, _ in page.elements if tag == "script"] == []
    assert hostile in page.texts["h1"]
    assert hostile in page.texts["title"]
    assert external_references(page) == []


def test_html_export_from_the_cli(grid, tmp_path, monkeypatch, capsys):
    path, exp, _ = grid
    monkeypatch.chdir(tmp_path)
    assert cli(["export", str(exp), "--format", "html", "-o", "r.html", "--store", str(path)]) == 0
    assert sorted(os.listdir(tmp_path)) == ["r.html", "store.sqlite"]
    written = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert written == render(report_of(path, exp), "html")
    assert cli(["export", str(exp), "--format", "html", "--store", str(path)]) == 0
    assert capsys.readouterr().out == written


def test_no_finished_run_means_no_figures_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "store.sqlite"
    with Store(path) as store:
        exp = store.create_experiment(
            "queued",
            {"name": "queued", "sizes": [10], "embeddings": ["learned"]},
            [(10, "learned", 0)],
        )
    monkeypatch.chdir(tmp_path)
    assert cli(["export", str(exp), "-o", "r.md", "--store", str(path)]) == 0
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "No run has finished yet, so there is nothing to plot." in md
    assert image_links(md) == []
    assert Page(render(report_of(path, exp), "html")).tables
