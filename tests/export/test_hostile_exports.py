"""Exports of hostile names: every user or data string reads as text, never as syntax.

Stores are recorded without training (`tests.helpers.record_experiment`): experiments whose
names, dataset and GloVe paths, data description, error messages and (through
`EmbtuiCallback`'s records) arm and head strings are markup, HTML, formulas, escape
sequences or bidi overrides. The Markdown is parsed with markdown-it-py as CommonMark with
GFM tables: every table keeps its header's column count, no raw HTML token appears, and
each name shows as its own text. The CSVs hold no control character and no text cell a
spreadsheet would run as a formula; the JSON holds every string exactly as recorded.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from embtui.config import CALLBACK_SOURCE
from embtui.escape import terminal
from embtui.export import render
from embtui.report.model import build_report
from embtui.store import Store
from tests.helpers import record_experiment

HOSTILE = (
    "pipe|x <sup>2",
    "x <img src=x onerror=alert(1)>",
    "[x=']",
    "[@click=app.quit]QQQ",
    '=HYPERLINK("http://e.invalid","x")',
    "\x1b]52;c;aGk=\x07",
    "\x1b]0;owned\x07title\x1b[2J",
    "safe\u202edelete-me",
    "`tick` *star* _under_ ~~strike~~",
    "back\\slash &amp; <!-- c --> # end ##",
    "+1-1@x",
    "@SUM(A1)",
    "line\nbreak\rreturn\ttab",
    "zero\u200bwidth\u2066isolate",
)
IDS = [f"h{i}" for i in range(len(HOSTILE))]
MD = MarkdownIt("commonmark").enable("table")
#: Characters that must never reach an export raw: controls, bidi controls, invisibles.
RAW = ("\x1b", "\x07", "\r", "\u202e", "\u2066", "\u200b")
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def configured(name: str, dataset: str, error: str, meta_extra: dict | None = None) -> tuple:
    """(name, config, runs, meta) of a configured learned-vs-GloVe grid with hostile text
    in its name, paths, data description, GloVe source and one failed run's error."""
    config = {
        "name": name,
        "dataset": dataset,
        "glove": f"vectors/{name}.txt",
        "sizes": [10, 20],
        "embeddings": ["learned", "glove"],
        "seeds": 3,
        "epochs": 2,
    }
    runs: list[tuple] = [
        (size, arm, seed, 0.5 + 0.01 * seed + (0.1 if arm == "glove" else 0) + size / 1000)
        for size in (10, 20)
        for arm in ("learned", "glove")
        for seed in range(3)
    ]
    runs.append((20, "learned", 3, None))
    meta = {
        "chance": 0.5,
        "data": f"{name} (80 reviews)",
        "glove": name,
        "glove_dim": 4,
        "glove_coverage": 0.5,
        "fingerprint": {"val_reviews": "same-reviews"},
        "device": name,
        **(meta_extra or {}),
    }
    return name, config, runs, meta


def callback_experiment(name: str, arms: list[str], head: str) -> tuple:
    """A user's own fits recorded by EmbtuiCallback: arm and head strings as given."""
    config = {
        "source": CALLBACK_SOURCE,
        "name": name,
        "embeddings": arms,
        "sizes": [10],
        "seeds": [0],
        "epochs": 2,
        "head": head,
    }
    runs = [
        (size, {"embeddings": arm, "head": head}, seed, 0.5 + 0.05 * i + 0.01 * seed)
        for size in (10, 20)
        for i, arm in enumerate(arms)
        for seed in range(3)
    ]
    return name, config, runs, {"chance": 0.5}


def exports(path: Path, ids: int | list[int]) -> dict[str, str]:
    with Store(path, create=False) as store:
        report = build_report(store, ids)
        return {fmt: render(report, fmt) for fmt in ("md", "csv", "summary-csv", "json")}


def build(path: Path, *experiments: tuple, error: str = "ValueError: boom") -> list[int]:
    with Store(path) as store:
        return [
            record_experiment(store, name, config, runs, meta=meta, error=error)
            for name, config, runs, meta in experiments
        ]


# -- what the checks read -------------------------------------------------------------


def all_tokens(tokens: list[Token]) -> list[Token]:
    out = []
    for t in tokens:
        out.append(t)
        out += all_tokens(t.children or [])
    return out


def inline_text(token: Token) -> str:
    """What a reader sees of an inline token: its text, code and line breaks."""
    return "".join(
        c.content if c.type in ("text", "code_inline") else "\n" if "break" in c.type else ""
        for c in all_tokens(token.children or [])
    )


def tables(tokens: list[Token]) -> list[list[list[str]]]:
    """Every table as rows of rendered cell texts (the header row first)."""
    out: list[list[list[str]]] = []
    row: list[str] | None = None
    for i, t in enumerate(tokens):
        if t.type == "table_open":
            out.append([])
        elif t.type == "tr_open":
            row = []
        elif t.type in ("th_open", "td_open"):
            assert row is not None
            row.append(inline_text(tokens[i + 1]))
        elif t.type == "tr_close":
            out[-1].append(row or [])
    return out


def check_markdown(md: str) -> tuple[list[str], list[list[list[str]]]]:
    """The rendered headings and tables of a Markdown export, after checking that no raw
    HTML token appears and that every table row has its header's column count."""
    tokens = MD.parse(md)
    html = [t.content for t in all_tokens(tokens) if t.type in ("html_inline", "html_block")]
    assert html == [], f"raw HTML in the Markdown: {html}"
    for c in RAW:
        assert c not in md, f"{c!r} reached the Markdown raw"
    found = tables(tokens)
    assert found, "no table found"
    for table in found:
        assert {len(row) for row in table} == {len(table[0])}, table
    # markdown-it pads or cuts a body row to its header's width (as GFM says), so the
    # source rows are counted too: a `|` inside a value would add a cell there.
    blocks: list[list[int]] = []
    fenced, previous = False, ""
    for line in md.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and line.startswith("|"):
            unescaped = line.replace("\\\\", "").replace("\\|", "")
            if not previous.startswith("|"):
                blocks.append([])
            blocks[-1].append(unescaped.count("|") - 1)
        previous = line if not fenced else ""
    assert [b[0] for b in blocks] == [len(t[0]) for t in found]
    for block in blocks:
        assert set(block) == {block[0]}, f"a table row with another column count: {block}"
    headings = [
        inline_text(tokens[i + 1]) for i, t in enumerate(tokens) if t.type == "heading_open"
    ]
    return headings, found


def cell_texts(found: list[list[list[str]]]) -> set[str]:
    return {cell for table in found for row in table for cell in row}


def check_csv(text: str) -> list[dict[str, str]]:
    """The rows of a CSV export, after checking every cell: no control or invisible
    character, and no text that a spreadsheet would run as a formula."""
    rows = list(csv.reader(io.StringIO(text)))
    for row in rows:
        for cell in row:
            bad = [c for c in cell if unicodedata.category(c) in ("Cc", "Cf")]
            assert not bad, f"{bad} in CSV cell {cell!r}"
            if cell.startswith(FORMULA):
                float(cell)  # only a number may start like a formula
    header = rows[0]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


# -- the tests --------------------------------------------------------------------------


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_a_hostile_experiment_name_and_paths_read_as_text_in_every_export(name, tmp_path):
    path = tmp_path / "s.sqlite"
    [exp] = build(path, configured(name, f"data/{name}.csv", name), error=f"OSError: {name}")
    out = exports(path, exp)
    headings, found = check_markdown(out["md"])
    assert headings[0] == f"embtui experiment {exp}: {terminal(name)}"
    cells = cell_texts(found)
    # The Configuration table shows the name and the dataset path as their text, and the
    # failed run's error is in the Runs table.
    assert terminal(name) in cells
    assert terminal(f"data/{name}.csv") in cells
    assert any(terminal(name) in cell for cell in cells if cell.startswith("failed"))
    paragraphs = "\n".join(inline_text(t) for t in MD.parse(out["md"]) if t.type == "inline")
    assert f"Data: {terminal(name)} (80 reviews)" in paragraphs
    assert f"GloVe: {terminal(name)} (4-d)" in paragraphs
    for fmt in ("csv", "summary-csv"):
        check_csv(out[fmt])
    doc = json.loads(out["json"])
    assert doc["experiment"]["name"] == name


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_hostile_callback_arms_and_heads_read_as_text_in_every_export(name, tmp_path):
    """Three arms (the sweep's tables) and two arms (the two-arm tables, whose header
    names the arms), with a hostile arm, head and experiment name."""
    path = tmp_path / "s.sqlite"
    arms3 = [name, f"{name} 2", "plain"]
    arms2 = [name, "plain"]
    ids = build(
        path,
        callback_experiment(name, arms3, head=name),
        callback_experiment(f"two {name}", arms2, head=name),
    )
    for exp, arms in zip(ids, (arms3, arms2), strict=True):
        out = exports(path, exp)
        headings, found = check_markdown(out["md"])
        assert headings[0].endswith(terminal(name))
        cells = cell_texts(found)
        header_cells = {cell for table in found for cell in table[0]}
        for arm in arms:
            shown = terminal(arm)
            assert shown in cells or f"{shown} final" in header_cells, (arm, cells)
        rows = check_csv(out["csv"])
        assert {r["arm"] for r in rows} == {_csv_text(a) for a in arms}
        assert {r["head"] for r in rows} == {_csv_text(name)}
        cells_csv = check_csv(out["summary-csv"])
        assert {r["arm"] for r in cells_csv} == {_csv_text(a) for a in arms}
        doc = json.loads(out["json"])
        assert {r["embedding"] for r in doc["runs"]} == set(arms)


@pytest.mark.parametrize("name", HOSTILE, ids=IDS)
def test_a_pool_of_hostile_names_and_dataset_files_reads_as_text(name, tmp_path):
    """Two experiments pooled: their names in the heading and the list, and their dataset
    file names as the factor that tells them apart, in every arm's name."""
    path = tmp_path / "s.sqlite"
    ids = build(
        path,
        configured(name, f"a/{name}.csv", name),
        configured(f"b {name}", "b/plain.csv", name),
    )
    out = exports(path, ids)
    headings, found = check_markdown(out["md"])
    assert headings[0] == (
        f"embtui experiments {ids[0]}, {ids[1]} compared: {terminal(name)}, b {terminal(name)}"
    )
    cells = cell_texts(found)
    assert any(terminal(f"{name}.csv") in cell for cell in cells), cells
    for fmt in ("csv", "summary-csv"):
        check_csv(out[fmt])
    json.loads(out["json"])


def _csv_text(text: str) -> str:
    shown = terminal(text)
    return "'" + shown if text.startswith(FORMULA) or shown.startswith(FORMULA) else shown
