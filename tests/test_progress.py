"""The plain progress lines of `embtui run --plain`, as `tail -f` shows them."""

from __future__ import annotations

import io

from embtui.engine.events import RunFinished, RunStarted
from embtui.progress import PlainReporter
from embtui.store import EpochMetrics


def started(run_id: int, position: int) -> RunStarted:
    return RunStarted(1, run_id, position, 4, 10 * run_id, "learned", 0, "CPU")


def epoch(run_id: int, n: int) -> EpochMetrics:
    return EpochMetrics(run_id, n, 0.5, 0.75, 0.625, 0.5, 0.25)


def lines(*events) -> list[str]:
    out = io.StringIO()
    report = PlainReporter(out)
    for event in events:
        report(event)
    return out.getvalue().splitlines()


def test_one_run_at_a_time_reads_as_a_block_under_its_run():
    assert lines(started(1, 0), epoch(1, 1), RunFinished(1, 1, "done"), started(2, 1)) == [
        "run 1/4: size 10, learned, seed 0 on CPU",
        "  epoch 1: loss 0.5000 acc 0.7500 val_loss 0.6250 val_acc 0.5000 (0.25s)",
        "  done",
        "run 2/4: size 20, learned, seed 0 on CPU",
    ]


def test_runs_training_at_once_name_their_run_on_every_line():
    """Two workers (or Ray tasks): epoch lines interleave, so each says whose it is."""
    assert lines(
        started(1, 0),
        started(2, 1),
        epoch(1, 1),
        epoch(2, 1),
        RunFinished(1, 2, "failed", "out of memory"),
        epoch(1, 2),
        RunFinished(1, 1, "done"),
        started(3, 2),
        epoch(3, 1),
    ) == [
        "run 1/4: size 10, learned, seed 0 on CPU",
        "run 2/4: size 20, learned, seed 0 on CPU",
        "  run 1/4 epoch 1: loss 0.5000 acc 0.7500 val_loss 0.6250 val_acc 0.5000 (0.25s)",
        "  run 2/4 epoch 1: loss 0.5000 acc 0.7500 val_loss 0.6250 val_acc 0.5000 (0.25s)",
        "  run 2/4 failed: out of memory",
        "  run 1/4 epoch 2: loss 0.5000 acc 0.7500 val_loss 0.6250 val_acc 0.5000 (0.25s)",
        "  run 1/4 done",
        "run 3/4: size 30, learned, seed 0 on CPU",
        "  epoch 1: loss 0.5000 acc 0.7500 val_loss 0.6250 val_acc 0.5000 (0.25s)",
    ]
