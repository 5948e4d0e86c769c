"""Hostile strings through every headless entry point, checked in every output.

The strings are Rich and Textual markup (`[x=']`, an action, a variable, a style), terminal
escapes (an OSC 52 clipboard write, an OSC 0 title, a screen clear), a bidi override, a
spreadsheet formula, a Markdown pipe and HTML. They enter as a flag, a TOML value, a CSV
header, a Ray address, `rename`, `EmbtuiCallback`'s arm and head, and names already in a
store (recorded by an older embtui); they come out on stdout and stderr of `run`, `list`,
`export`, `rename` and argparse, each checked for raw control or bidi characters and for
the string shown as itself (its escapes visible, its brackets kept).

The console's side is `tests/app/test_hostile_console.py`.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from pathlib import Path

import pytest

from embtui.cli import main
from embtui.config import CALLBACK_SOURCE, ConfigError, check_name, from_mapping
from embtui.escape import (
    clipboard,
    csv_cell,
    html,
    markdown_cell,
    markdown_text,
    rich_text,
    terminal,
)
from embtui.store import Store
from tests.helpers import record_experiment

#: Accepted as names, arms and heads (no control or bidi character), but markup, actions,
#: formulas, pipes or HTML where they land.
MARKUP = (
    "[x=']",
    "[@click=app.quit]QQQ",
    "[$accent]x",
    "[bold red]big",
    '=HYPERLINK("e.invalid","x")',  # a name has no slash
    "pipe|x <sup>2",
    "x <img src=x onerror=alert(1)>",
)
#: Refused as new names, arms and heads; shown escaped where a store already holds them.
CONTROL = (
    "\x1b]52;c;aGk=\x07",  # OSC 52: writes the clipboard
    "\x1b]0;owned\x07",  # OSC 0: sets the window title
    "wipe\x1b[2J\x1b[H",  # clears the screen
    "safe\u202edelete-me",  # a bidi override: reads reversed
    "iso\u2066late",  # a bidi isolate
)
HOSTILE = MARKUP + CONTROL
IDS = [f"s{i}" for i in range(len(HOSTILE))]


def clean(text: str) -> None:
    """No control character but newline, no bidi or other invisible character."""
    bad = [
        c
        for c in text
        if c != "\n" and unicodedata.category(c) in ("Cc", "Cf") and c not in "\u200c\u200d"
    ]
    assert not bad, f"raw {sorted(set(bad))!r} in output:\n{text!r}"


def run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        code = main(list(args))
    except SystemExit as exit:  # argparse's usage errors
        code = int(exit.code or 0)
    out = capsys.readouterr()
    clean(out.out)
    clean(out.err)
    return code, out.out, out.err


# -- the escaping module itself ----------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_every_escaper_leaves_no_control_or_bidi_character(text):
    for escaped in (
        terminal(text),
        markdown_text(text),
        markdown_cell(text),
        html(text),
        str(csv_cell(text)),
        rich_text(text).plain,
        clipboard(text),
    ):
        clean(escaped)


def test_the_escapers_say_what_they_promise():
    assert terminal("a\x1b[2Jb\u202ec\u200bd") == "a\\x1b[2Jb\\u202ec\\u200bd"
    assert terminal("\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645") == (
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ in Persian stays
    )
    assert markdown_cell("pipe|x <sup>2") == "pipe\\|x &lt;sup&gt;2"
    assert markdown_text("p<0.001 & *x*") == "p<0.001 &amp; \\*x\\*"
    assert markdown_text("glove_tuned _x_") == "glove_tuned \\_x\\_"
    assert html('<a href="x">') == "&lt;a href=&quot;x&quot;&gt;"
    assert csv_cell("=1+2") == "'=1+2"
    assert csv_cell("-x") == "'-x"
    assert csv_cell("@SUM(A1)") == "'@SUM(A1)"
    assert csv_cell(-0.25) == -0.25 and csv_cell(3) == 3 and csv_cell(None) is None
    assert csv_cell("\tx") == "'\\tx"
    assert rich_text("[bold]x[/]").plain == "[bold]x[/]"
    assert clipboard("a\tb\x1b]52;c;x\x07\nc") == "a\tb\\x1b]52;c;x\\x07\nc"


# -- validation: new names, callback strings and Ray addresses -----------------------------


@pytest.mark.parametrize("text", CONTROL, ids=IDS[len(MARKUP) :])
def test_new_names_refuse_control_and_bidi_characters_in_one_escaped_line(text):
    with pytest.raises(ConfigError) as refused:
        check_name(text)
    message = str(refused.value)
    assert message.startswith("name = ")
    clean(terminal(message))
    with pytest.raises(ConfigError):
        from_mapping({"name": text})


@pytest.mark.parametrize("text", MARKUP, ids=IDS[: len(MARKUP)])
def test_markup_names_are_accepted_as_they_are(text):
    assert check_name(text) == text
    assert from_mapping({"name": text}).name == text


def test_zwnj_and_other_invisibles_are_accepted_and_a_recorded_bidi_name_still_resumes():
    persian = "\u0622\u0632\u0645\u0627\u06cc\u0634\u200c\u0647\u0627"  # آزمایش‌ها
    assert check_name(persian) == persian
    assert check_name("zero\u200bwidth") == "zero\u200bwidth"  # shown escaped, not refused
    recorded = from_mapping({"name": "safe\u202edelete-me"}, new=False)
    assert recorded.name == "safe\u202edelete-me"
    assert recorded.replace(workers=2).name == "safe\u202edelete-me"
    with pytest.raises(ConfigError):
        recorded.replace(name="again\u202e")


@pytest.mark.parametrize(
    "address", ["gpu\x1b]0;x\x07:6379", "\x1b[2J:6379", "host\u202e:6379", "host:63\u0667\u0669"]
)
def test_a_ray_address_with_escapes_or_bidi_characters_is_refused(address):
    with pytest.raises(ConfigError) as refused:
        from_mapping({"cluster": "ray", "ray_address": address})
    assert "ray_address = " in str(refused.value)


def test_a_ray_address_flag_with_esc_is_one_escaped_line_and_exit_2(capsys, tmp_path):
    code, out, err = run(
        capsys, "run", "--ray", "gpu\x1b]0;x\x07:6379", "--store", str(tmp_path / "s.sqlite")
    )
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "gpu\\x1b]0;x\\x07:6379" in err


@pytest.mark.tensorflow
@pytest.mark.parametrize("text", CONTROL, ids=IDS[len(MARKUP) :])
def test_embtui_callback_refuses_control_and_bidi_arms_and_heads(text, tmp_path):
    pytest.importorskip("keras")
    from embtui.callbacks import EmbtuiCallback

    with pytest.raises(ConfigError, match=r"^arm = "):
        EmbtuiCallback(tmp_path / "s.sqlite", arm=text)
    with pytest.raises(ConfigError, match=r"^head = "):
        EmbtuiCallback(tmp_path / "s.sqlite", arm="ok", head=text)
    assert not (tmp_path / "s.sqlite").exists()


# -- names and callback strings already in a store: list, export, rename -----------------


@pytest.fixture
def hostile_store(tmp_path) -> Path:
    """One experiment per hostile name (as an older embtui or a script recorded it), and
    one callback experiment whose arms and head are the hostile strings, with a failed run
    whose error quotes one."""
    path = tmp_path / "s.sqlite"
    with Store(path) as store:
        for name in HOSTILE:
            record_experiment(
                store, name, {"name": name, "embeddings": ["learned"]}, [(10, "learned", 0, 0.6)]
            )
        config = {"source": CALLBACK_SOURCE, "name": "callback", "head": HOSTILE[0]}
        runs = [
            (10, {"embeddings": arm, "head": HOSTILE[1]}, 0, 0.5 + i / 100)
            for i, arm in enumerate(HOSTILE)
        ]
        runs.append((10, {"embeddings": "plain", "head": "h"}, 0, None))
        record_experiment(store, "callback", config, runs, error=f"OSError: {HOSTILE[-4]}")
    return path


def test_list_shows_every_stored_name_arm_and_error_as_text(hostile_store, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # room for the error column
    code, out, err = run(capsys, "list", "--store", str(hostile_store))
    assert (code, err) == (0, "")
    clean(out)
    for text in HOSTILE:  # one line per experiment: the names
        assert terminal(text) in out, text
    callback = len(HOSTILE) + 1  # `list ID`: that experiment's runs, their arms and errors
    code, out, err = run(capsys, "list", str(callback), "--store", str(hostile_store))
    assert (code, err) == (0, "")
    clean(out)
    for text in HOSTILE:
        assert terminal(text) in out, text
    assert f"OSError: {terminal(HOSTILE[-4])}" in out


def test_export_to_stdout_shows_every_name_and_arm_escaped(hostile_store, capsys):
    for exp_id, name in enumerate(HOSTILE, 1):
        for fmt in ("md", "csv", "summary-csv"):
            code, out, err = run(
                capsys, "export", str(exp_id), "--format", fmt, "--store", str(hostile_store)
            )
            assert (code, err) == (0, "")
        code, out, err = run(capsys, "export", str(exp_id), "--store", str(hostile_store))
        assert out.startswith(f"# embtui experiment {exp_id}: {markdown_text(name)}\n")
    callback = str(len(HOSTILE) + 1)
    for fmt in ("csv", "summary-csv"):
        code, out, _ = run(
            capsys, "export", callback, "--format", fmt, "--store", str(hostile_store)
        )
        rows = list(csv.DictReader(io.StringIO(out)))
        arms = {r["arm"] for r in rows}
        assert arms == {str(csv_cell(a)) for a in HOSTILE}  # the failed run has no rows
        assert all(not r["arm"].startswith(("=", "+", "-", "@")) for r in rows)


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_rename_refuses_or_prints_the_new_name_escaped(text, hostile_store, capsys):
    code, out, err = run(capsys, "rename", "1", text, "--store", str(hostile_store))
    if text in CONTROL:
        assert code == 2 and out == "" and err.count("\n") == 1
        assert terminal(text) in err
        with Store(hostile_store, create=False) as store:
            assert store.experiment(1).name == HOSTILE[0]
    else:
        assert (code, err) == (0, "")
        assert out == f"experiment 1: '{HOSTILE[0]}' is now '{text}'\n"


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_a_usage_error_quotes_the_bad_value_escaped(text, capsys):
    code, out, err = run(capsys, "export", "1", "--format", text)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert terminal(text) in err


# -- new input: TOML values, a CSV header, flags ------------------------------------------


def _toml(value: str) -> str:
    return (
        '"'
        + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" for c in value)
        + '"'
    )


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_a_hostile_dataset_or_glove_path_in_toml_is_quoted_escaped(text, tmp_path, capsys):
    """`dataset` (missing) and `glove` (missing) hold the string: `loading data: PATH` (the
    progress) and the error after it, both on stderr, show it escaped, exit 2, nothing
    recorded."""
    toml = tmp_path / "e.toml"
    toml.write_text(
        f'name = "e"\ndataset = {_toml("d-" + text + ".csv")}\nsizes = [10]\nseeds = 1\n',
        encoding="utf-8",
    )
    store = tmp_path / "s.sqlite"
    code, out, err = run(capsys, "run", str(toml), "--plain", "--store", str(store))
    *progress, error = err.splitlines()
    assert code == 2 and out == "" and error.startswith("embtui: error: ")
    assert terminal(f"d-{text}.csv") in error
    assert progress == [f"loading data: {terminal(str(tmp_path / ('d-' + text + '.csv')))}"]
    toml.write_text(
        'name = "e"\ndataset = "d.csv"\nembeddings = ["glove"]\nval_size = 10\n'
        f"glove = {_toml('g-' + text + '.txt')}\nsizes = [10]\nseeds = 1\n",
        encoding="utf-8",
    )
    (tmp_path / "d.csv").write_text("text,label\n" + "good movie,1\nbad movie,0\n" * 20)
    code, out, err = run(capsys, "run", str(toml), "--plain", "--store", str(store))
    *progress, error = err.splitlines()
    assert code == 2 and out == "" and error.startswith("embtui: error: ")
    assert terminal(f"g-{text}.txt") in error
    assert all(not line.startswith("embtui: error") for line in progress)


@pytest.mark.parametrize("text", CONTROL, ids=IDS[len(MARKUP) :])
def test_a_control_name_in_toml_or_a_flag_is_refused_in_one_escaped_line(text, tmp_path, capsys):
    toml = tmp_path / "e.toml"
    toml.write_text(f'name = {_toml(text)}\ndataset = "d.csv"\n', encoding="utf-8")
    for args in (["run", str(toml)], ["run", "--name", text, "--dataset", "d.csv"]):
        code, out, err = run(capsys, *args, "--store", str(tmp_path / "s.sqlite"))
        assert code == 2 and out == "" and err.count("\n") == 1
        assert terminal(text) in err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_hostile_csv_header_is_named_escaped(tmp_path, capsys):
    """A CSV without a text column: the error lists the columns it found, every one of
    them a hostile string."""
    data = tmp_path / "d.csv"
    with open(data, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*HOSTILE, "label"])
        for i in range(40):
            writer.writerow([*("w" for _ in HOSTILE), i % 2])
    code, _, err = run(
        capsys, "run", "--dataset", str(data), "--plain", "--store", str(tmp_path / "s.sqlite")
    )
    progress, error = err.splitlines()  # `loading data: PATH`, then the one error line
    assert code == 2 and progress.startswith("loading data: ")
    for text in HOSTILE:
        assert terminal(text) in error, text


# -- progress lines and the doctor's table ---------------------------------------------


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_progress_lines_show_paths_addresses_arms_and_errors_escaped(text, capsys):
    from rich.console import Console

    from embtui.engine.events import RunFinished, RunStarted, Stage
    from embtui.progress import LiveReporter, PlainReporter

    events = [
        Stage(None, f"loading data: d-{text}.csv"),
        Stage(None, f"connecting to Ray at {text}:6379"),
        RunStarted(1, 1, 0, 2, 10, text, 0, "CPU"),
        RunFinished(1, 1, "failed", f"OSError: {text}"),
    ]
    stream = io.StringIO()
    plain = PlainReporter(stream)
    for event in events:
        plain(event)
    lines = stream.getvalue().splitlines()
    clean(stream.getvalue())
    assert lines == [
        f"loading data: d-{terminal(text)}.csv",
        f"connecting to Ray at {terminal(text)}:6379",
        f"run 1/2: size 10, {terminal(text)}, seed 0 on CPU",
        f"  failed: OSError: {terminal(text)}",
    ]
    live = LiveReporter(epochs=2)
    for event in events[:3]:
        live(event)
    console = Console(file=io.StringIO(), width=300, record=True, color_system=None)
    console.print(live.progress.get_renderable())
    shown = console.export_text()
    clean(shown)
    assert f"size 10 · {terminal(text)} · seed 0" in shown  # brackets kept: not markup
    live(events[3])  # the failure is printed above the bars, on stderr
    printed = capsys.readouterr().err
    clean(printed.replace("\x1b[", ""))  # Rich's own colour codes, nothing of the string's
    assert f"OSError: {terminal(text)}" in ansi_plain(printed)


def ansi_plain(ansi: str) -> str:
    """The text a terminal shows for output with ANSI colour codes."""
    from rich.text import Text

    return Text.from_ansi(ansi).plain


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_the_doctor_table_shows_the_name_and_paths_escaped(text, tmp_path, monkeypatch):
    from rich.console import Console

    from embtui import doctor
    from embtui.config import ExperimentConfig
    from embtui.doctor import OK, Check, Driver

    monkeypatch.setattr(doctor, "load_tensorflow", lambda: (Check("tensorflow", OK, "x"), None))
    monkeypatch.setattr(doctor, "probe_driver", lambda: Driver(present=False))
    name = MARKUP[HOSTILE.index(text) % len(MARKUP)]
    dataset = tmp_path / f"d-{text}.csv"
    config = ExperimentConfig(name=name, dataset=str(dataset), sizes=(10,), val_size=20)
    console = Console(file=io.StringIO(), width=400, record=True, color_system=None)
    assert doctor.run_doctor(config, str(tmp_path / "s.sqlite"), console=console) == 1
    shown = console.export_text()
    clean(shown)
    assert f"embtui doctor: {name} (dataset {terminal(str(dataset))};" in shown
    assert terminal(dataset.name) in shown.split("embtui doctor:")[1]  # the data row


def test_the_closing_summary_names_hostile_arms_as_typed(hostile_store, capsys, monkeypatch):
    """`embtui run`'s closing summary (a two-arm table and its conclusion) of two hostile
    arms: the arm names head columns and fill the verdicts, never parsed as markup."""
    from embtui.progress import print_summary
    from embtui.report.model import build_report

    monkeypatch.setenv("COLUMNS", "300")  # each verdict on one line
    with Store(hostile_store) as store:
        config = {"source": CALLBACK_SOURCE, "name": "two"}
        arms = [HOSTILE[0], HOSTILE[-2]]
        runs = [
            (size, {"embeddings": arm, "head": "h"}, seed, 0.5 + 0.2 * i + 0.01 * seed)
            for size in (10, 20)
            for i, arm in enumerate(arms)
            for seed in range(3)
        ]
        exp = record_experiment(store, "two", config, runs)
        print_summary(build_report(store, exp))
    out = capsys.readouterr().out
    clean(out)
    flat = " ".join(out.split())
    assert f"{terminal(arms[1])} better" in flat  # the verdict, whole
    assert terminal(arms[0]) in flat


@pytest.mark.parametrize("text", CONTROL, ids=IDS[len(MARKUP) :])
def test_a_ray_address_with_escapes_in_toml_is_refused_in_one_escaped_line(text, tmp_path, capsys):
    toml = tmp_path / "e.toml"
    toml.write_text(
        f'name = "e"\ndataset = "d.csv"\ncluster = "ray"\nray_address = {_toml(text + ":6379")}\n',
        encoding="utf-8",
    )
    code, out, err = run(capsys, "run", str(toml), "--store", str(tmp_path / "s.sqlite"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert f"ray_address = {terminal(repr(text + ':6379'))}" in err
    assert not (tmp_path / "s.sqlite").exists()


@pytest.mark.parametrize("text", HOSTILE, ids=IDS)
def test_a_hostile_store_path_is_shown_escaped(text, tmp_path, capsys, monkeypatch):
    """`--store` in a folder named by the string: an empty store (`list` says where) and
    one that does not exist yet (`export` refuses in one line)."""
    monkeypatch.setenv("COLUMNS", "400")  # the path on one line
    folder = tmp_path / text
    folder.mkdir()
    with Store(folder / "s.sqlite"):
        pass
    code, out, err = run(capsys, "list", "--store", str(folder / "s.sqlite"))
    assert (code, err) == (0, "")
    assert out == f"no experiments yet in {terminal(str(folder / 's.sqlite'))}\n"
    code, out, err = run(capsys, "export", "1", "--store", str(folder / "none.sqlite"))
    assert code == 2 and out == "" and err.count("\n") == 1
    assert terminal(str(folder / "none.sqlite")) in err
