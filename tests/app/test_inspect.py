"""`i` on a run: its words, its reviews and a word map, read from the arrays it kept.

The runs are the fake engine's (scripted epochs); the arrays they kept (blank reviews, a
model of zeros) are replaced here, with the real writer (`embtui.inspect.kept`) into the
real store's folder, by word vectors made so that the answers are known: "great" and
"superb" point one way, "awful" and "dire" the other, and the Dense kernel reads the first
way as positive.
"""

from __future__ import annotations

import shutil

import numpy as np
from textual_plotext import PlotextPlot

from embtui.app.screens.inspect import InspectScreen, WordMap
from embtui.app.widgets.runs_table import RunsTable
from embtui.inspect.kept import save, save_shape
from embtui.store import learned_folder_of, learned_shape_path
from tests.app.conftest import SMALL, record, screen_lines, settle, stored, until

WORDS = ["", "", "", "", "great", "superb", "awful", "dire", "film", "plot", "good", "bad"]


def keep_for(store_path, exp_id: int) -> list[int]:
    vocab, maxlen, dim = SMALL.vocab_size[0], SMALL.maxlen[0], 4
    words = WORDS + [f"w{i}" for i in range(len(WORDS), vocab)]
    rng = np.random.default_rng(0)
    table = rng.normal(0, 0.01, (vocab, dim)).astype(np.float32)
    table[4] = table[5] = table[10] = [1, 0, 0, 0]
    table[6] = table[7] = table[11] = [-1, 0, 0, 0]
    kernel = np.tile([1.0, 0, 0, 0], maxlen).reshape(-1, 1).astype(np.float32)
    y = np.array([1, 0] * 50, np.int8)
    x_val = np.zeros((100, maxlen), np.int32)
    x_val[:, -1] = np.where(y == 1, 4, 6)
    x_val[0, -1] = 6  # a positive review the model reads as negative: its one mistake
    logits = np.where(x_val[:, -1] == 4, 3.0, -3.0).astype(np.float32)
    learned_shape_path(store_path, exp_id, vocab, maxlen).unlink()  # the runs' blank reviews
    save_shape(store_path, exp_id, maxlen, words, x_val, y, table)
    ids = [r.id for r in stored(store_path).runs(exp_id)]
    for run_id in ids:
        save(store_path, run_id, logits, [table, kernel, np.zeros(1, np.float32)], True)
    return ids


async def test_i_opens_the_runs_words_reviews_and_word_map(make_app, store_path):
    exp_id = record(store_path)
    ids = keep_for(store_path, exp_id)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.screen.query_one(RunsTable)
        table.focus()
        await pilot.press("space")  # the first run marked, the cursor on it
        await pilot.press("down", "i")
        await until(pilot, lambda: isinstance(app.screen, InspectScreen), what="the screen")
        screen = app.screen
        await until(pilot, lambda: screen.view is not None, what="the run's arrays")
        assert screen.run_id == ids[1] and screen.others == (ids[0],)
        text = "\n".join(screen_lines(app))
        assert f"#{ids[1]} 10/learned/s1" in text
        positive = next(line for line in text.splitlines() if "most positive:" in line)
        # The three positive words score alike: ties keep the vocabulary's order.
        assert positive.split("most positive:")[1].strip().startswith("great +1.000, superb")
        assert "awful" in next(line for line in text.splitlines() if "most negative:" in line)
        assert "GloVe" in text and f"#{ids[0]} 10/learned/s0" in text  # neighbours beside
        await pilot.press("r")
        text = "\n".join(screen_lines(app))
        assert "accuracy 0.9900" in text
        assert "review 0 (positive, predicted p=0.047)" in text
        await pilot.press("p")
        maps = list(screen.query(WordMap))
        assert [m.view.run_id for m in maps] == [ids[1], ids[0]]
        assert all(isinstance(m, PlotextPlot) and m.display for m in maps)
        await pilot.press("escape")
        assert not isinstance(app.screen, InspectScreen)


async def test_a_run_that_kept_nothing_says_so(make_app, store_path):
    record(store_path)
    shutil.rmtree(learned_folder_of(store_path))  # as a store from before runs kept arrays
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.screen.query_one(RunsTable).focus()
        await pilot.press("i")
        await until(pilot, lambda: isinstance(app.screen, InspectScreen), what="the screen")
        await until(
            pilot,
            lambda: "kept no weights or logits" in "\n".join(screen_lines(app)),
            what="the one-line reason",
        )
        assert app.is_running
