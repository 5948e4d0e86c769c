"""One experiment trained for real (TensorFlow) through the console, on tiny data."""

from __future__ import annotations

import csv
import random

import pytest

from embtui.app.app import EmbtuiApp
from embtui.app.screens.main import MainScreen
from embtui.app.widgets.epoch_table import EpochTable
from embtui.app.widgets.runs_table import RunsTable
from embtui.config import ExperimentConfig
from tests.app.conftest import settle, stored
from tests.helpers import wait_until

GOOD = ["great", "wonderful", "superb", "moving", "brilliant", "fun"]
BAD = ["awful", "boring", "dull", "terrible", "waste", "bad"]


def tiny_csv(path):
    rng = random.Random(0)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for i in range(60):
            words = GOOD if i % 2 else BAD
            writer.writerow([" ".join(rng.choice(words) for _ in range(8)) + " film", i % 2])
    return path


pytestmark = pytest.mark.tensorflow  # the real engine in the test process (so slow)


async def test_ctrl_s_trains_for_real_and_the_table_shows_the_stored_values(tmp_path):
    config = ExperimentConfig(
        name="tiny",
        dataset=str(tiny_csv(tmp_path / "tiny.csv")),
        sizes=(10,),
        embeddings=("learned",),
        epochs=2,
        seeds=1,
        val_size=20,
        maxlen=12,
        vocab_size=50,
        embedding_dim=4,
        batch_size=8,
    )
    store_path = tmp_path / "real.sqlite"
    app = EmbtuiApp(store_path, config, tmp_path, poll_interval=0.2)  # the real engine
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        store = stored(store_path)
        (exp,) = store.experiments()
        (run,) = store.runs(exp.id)
        assert (exp.status, run.status) == ("done", "done")
        epochs = store.run_epochs(run.id)
        assert [e.epoch for e in epochs] == [1, 2]
        row = app.screen.query_one(RunsTable).cells(str(run.id))
        assert row[4:6] == ["done", "2/2"]
        assert row[9] == f"{epochs[-1].val_acc:.4f}"
        assert app.screen.query_one(EpochTable).row_keys == ["1", "2"]


def _latin1_csv(path):
    tiny_csv(path)
    path.write_bytes(path.read_text(encoding="utf-8").replace("film", "café").encode("latin-1"))
    return path


def _bad_glove(path):
    path.write_text("great 0.5 0.25\nawful 0.5 lots\n", encoding="utf-8")
    return path


async def test_bad_input_shows_the_cli_message_inline_and_the_console_carries_on(tmp_path):
    """The real engine's own error text (the very line `embtui run` prints) in the console:
    in the form, under the field it concerns, and the form still answers keys."""
    from textual.widgets import Static

    from embtui.app.screens.configure import ConfigureScreen
    from embtui.engine import runner
    from embtui.errors import EmbtuiError

    good = tiny_csv(tmp_path / "tiny.csv")
    base = ExperimentConfig(
        name="bad",
        dataset=str(good),
        sizes=(10,),
        embeddings=("learned", "glove"),
        epochs=1,
        seeds=1,
        val_size=20,
        maxlen=12,
        vocab_size=50,
    )
    cases = [
        base.replace(dataset=str(_latin1_csv(tmp_path / "latin.csv"))),
        base.replace(glove=str(_bad_glove(tmp_path / "glove.txt"))),
        base.replace(sizes=(10, 500)),
    ]
    for number, config in enumerate(cases):
        with pytest.raises(EmbtuiError) as cli_error:
            runner.prepare(config)
        store_path = tmp_path / f"store{number}.sqlite"
        app = EmbtuiApp(store_path, config, tmp_path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, ConfigureScreen)
            status = str(app.screen.query_one("#form-status", Static).content)
            assert status == f"✗ not started: {cli_error.value}"
            await pilot.press("f1")  # still answering keys
            await settle(pilot)
            assert type(app.screen).__name__ == "HelpScreen"
        assert stored(store_path).experiments() == []


def _epochs(store_path) -> int:
    from tests.helpers import epoch_count

    return epoch_count(store_path)


@pytest.mark.parametrize("terminal_first", [False, True], ids=["signal-first", "terminal-first"])
def test_closing_the_consoles_terminal_cancels_after_the_epoch(tmp_path, terminal_first):
    """The real console in a pseudo-terminal, training for real; the terminal goes away
    (SIGHUP, as when an SSH connection drops): the epoch finishes and the experiment is
    `cancelled` (resumable), never left `interrupted`. When the connection drops, the
    terminal is gone before the console has handled the signal (`terminal-first`: its
    writes fail for a moment first; a failed write used to end Textual's writer thread,
    and the console then hung on its next frames, never closing)."""
    import os
    import pty
    import signal
    import subprocess
    import sys
    import time

    toml = tmp_path / "tiny.toml"
    toml.write_text(
        f'name = "hangup"\ndataset = "{tiny_csv(tmp_path / "tiny.csv")}"\nsizes = [40]\n'
        # Enough epochs that the fused engine (a few ms each here) is still training when
        # the terminal goes away.
        'embeddings = ["learned"]\nepochs = 10000\nseeds = 1\nval_size = 20\nmaxlen = 12\n'
        "vocab_size = 50\nembedding_dim = 4\nbatch_size = 8\n",
        encoding="utf-8",
    )
    store_path = tmp_path / "hangup.sqlite"
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "embtui", str(toml), "--store", str(store_path)],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"},
    )
    os.close(follower)
    try:
        drawn = bytearray()

        def form_drawn() -> bool:
            chunk = _read(leader)
            assert chunk is not None, "the console closed its terminal"
            drawn.extend(chunk)
            return b"New experiment" in drawn

        # Until the console has drawn its form it has not put the terminal in raw mode, and
        # ctrl+s would be the terminal's XOFF (stop output), not a key for the console.
        wait_until(form_drawn, 60, "the experiment form on the terminal", process=proc)
        os.write(leader, b"\x13")  # ctrl+s
        wait_until(
            lambda: _drain(leader) or _epochs(store_path) >= 2,
            120,
            "two epochs trained from the console",
            process=proc,
            interval=0.1,
        )
        if terminal_first:
            os.close(leader)
            time.sleep(0.5)  # the console draws every epoch: its writes fail meanwhile
            proc.send_signal(signal.SIGHUP)
        else:
            proc.send_signal(signal.SIGHUP)
            os.close(leader)
        assert proc.wait(timeout=60) == 128 + signal.SIGHUP
    finally:
        if proc.poll() is None:
            proc.kill()
    store = stored(store_path)
    (exp,) = store.experiments()
    (run,) = store.runs(exp.id)
    assert (exp.status, run.status) == ("cancelled", "cancelled")
    assert 2 <= len(store.run_epochs(run.id)) < 10000


def _read(fd: int) -> bytes | None:
    import select

    ready, _, _ = select.select([fd], [], [], 0)
    if ready:
        import os

        try:
            return os.read(fd, 65536)
        except OSError:
            return None
    return b""


def _drain(fd: int) -> bool:
    """Read what the console drew (a full pty would block it); never a condition."""
    _read(fd)
    return False
