"""Seeds trained side by side (`StackedTrainer`) compute what each run trained alone does.

Three bounds, each checked here:

* Against plain Keras `fit`: every run of a stack within the Trainer's tolerances
  (tests/engine/test_trainer.py: loss and val_loss within 1e-5 absolute, accuracies within
  one example), for every stackable head and embedding arm.
* Against other stacks: a run's numbers are bit for bit the same in any stack of two or
  more runs, whatever its companions and its place in the stack.
* A stack of one: TensorFlow runs a batch dimension of 1 through other kernels, so it
  agrees with larger stacks to float32 rounding (1e-6 here), not bit for bit.

And a stacked run stops, snapshots and continues as a run trained alone does.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from embtui.engine.experimental.stacked import Member, StackedTrainer, stackable
from embtui.engine.trainer import Trainer
from tests.engine.test_trainer import (
    EPOCHS,
    VOCAB,
    XV,
    YV,
    X,
    Y,
    assert_same_metrics,
    config,
    glove_for,
    keras_reference,
)

# Every test here trains (about 22 s together), and no executor uses the stacked trainer:
# the quick loop leaves them to the full suite.
pytestmark = pytest.mark.slow

ALL = np.arange(len(Y))


def stacked_history(cfg, arm: str, seeds: list[int], trainer: StackedTrainer | None = None):
    """Each seed's epochs (lists of EpochMetrics), trained as one stack."""
    trainer = trainer or StackedTrainer(Trainer(cfg, arm, glove_for(arm)), len(seeds))
    members = [Member(run_id=i, seed=seed, subset=ALL) for i, seed in enumerate(seeds)]
    epochs = list(trainer.fit(X, Y, XV, YV, members, epochs=cfg.epochs))
    return [[epoch[i] for epoch in epochs] for i in range(len(seeds))]


def numbers(history) -> list[tuple[float, float, float, float]]:
    return [(e.loss, e.acc, e.val_loss, e.val_acc) for e in history]


@pytest.mark.parametrize("arm", ["learned", "glove", "glove-tuned"])
@pytest.mark.parametrize("head", ["flatten", "avgpool"])
def test_every_run_of_a_stack_matches_plain_keras_fit(arm, head):
    cfg = config(head, "rmsprop", lr=0.01)
    ours = stacked_history(cfg, arm, [5, 6])
    for seed, history in zip([5, 6], ours, strict=True):
        assert [e.run_id for e in history] == [seed - 5] * EPOCHS
        assert_same_metrics(history, keras_reference(cfg, arm, seed))
    # Not vacuous: the two seeds train differently.
    assert numbers(ours[0]) != numbers(ours[1])


def test_each_stacked_run_ends_with_keras_velocity_and_weights():
    """The stack's lazy row update owes untouched rows their decays until each epoch ends;
    then each run's snapshot holds the velocity table, embedding and Dense weights Keras'
    dense update left for that seed (bound as for the Trainer: relative 1e-4)."""
    cfg = config("flatten", "rmsprop", lr=0.01)
    trainer = StackedTrainer(Trainer(cfg, "learned", None), 2)
    stacked_history(cfg, "learned", [5, 6], trainer)
    for s, seed in enumerate([5, 6]):
        fitted: list = []
        keras_reference(cfg, "learned", seed=seed, model_out=fitted)
        ours = trainer.snapshot(s)
        velocity = fitted[0].optimizer._velocities[0].numpy()
        assert ours[5].shape == velocity.shape == (VOCAB, 8)
        untouched = ~np.isin(np.arange(VOCAB), X)
        assert (velocity[untouched] == 0).all() and (velocity[~untouched] > 0).any()
        np.testing.assert_allclose(ours[5], velocity, rtol=1e-4, atol=1e-12)
        assert int(ours[3]) == int(fitted[0].optimizer.iterations)
        for got, want in zip(ours[:3], fitted[0].get_weights(), strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("arm", ["learned", "glove", "glove-tuned"])
def test_a_run_is_bit_identical_whatever_it_is_stacked_with(arm):
    cfg = config("flatten", "rmsprop", lr=0.01)
    base = Trainer(cfg, arm, glove_for(arm))
    pair = stacked_history(cfg, arm, [5, 6], StackedTrainer(base, 2))
    first_of_three = stacked_history(cfg, arm, [5, 1, 2], StackedTrainer(base, 3))
    last_of_four = stacked_history(cfg, arm, [3, 4, 6, 5], StackedTrainer(base, 4))
    assert numbers(pair[0]) == numbers(first_of_three[0]) == numbers(last_of_four[3])
    assert numbers(pair[1]) == numbers(last_of_four[2])
    alone = stacked_history(cfg, arm, [5], StackedTrainer(base, 1))
    got, want = np.array(numbers(alone[0])), np.array(numbers(pair[0]))
    assert np.max(np.abs(got - want)) <= 1e-6


def test_a_stacked_run_continues_from_its_snapshot_exactly():
    """Stop after epoch 1, snapshot each run, continue in a new fit: epochs 2.. are those
    of the uninterrupted stack, bit for bit; and the snapshot has a solo Trainer's layout."""
    cfg = config("flatten", "rmsprop", lr=0.01)
    base = Trainer(cfg, "learned", None)
    trainer = StackedTrainer(base, 2)
    whole = stacked_history(cfg, "learned", [5, 6], trainer)

    stop = threading.Event()
    members = [Member(0, 5, ALL), Member(1, 6, ALL)]
    seen = []
    for epoch in trainer.fit(X, Y, XV, YV, members, epochs=cfg.epochs, stop=stop):
        seen.append(epoch)
        stop.set()  # cancel: the fit ends after this epoch
    assert [[e.epoch for e in epoch] for epoch in seen] == [[1, 1]]
    snapshots = [trainer.snapshot(0), trainer.snapshot(1)]
    assert [a.shape for a in snapshots[0]] == [a.shape for a in base.snapshot()]
    assert int(snapshots[0][3]) == -(-len(Y) // cfg.batch_size)  # the optimizer's steps

    resumed = [Member(0, 5, ALL, after=(1, snapshots[0])), Member(1, 6, ALL, (1, snapshots[1]))]
    rest = list(StackedTrainer(base, 2).fit(X, Y, XV, YV, resumed, epochs=cfg.epochs))
    assert [e[0].epoch for e in rest] == list(range(2, EPOCHS + 1))
    for i in range(2):
        assert numbers([e[i] for e in rest]) == numbers(whole[i][1:])

    # A solo Trainer takes the same snapshot and continues within its tolerances.
    solo = list(
        Trainer(cfg, "learned", None).fit(
            X, Y, XV, YV, seed=5, epochs=cfg.epochs, after=(1, snapshots[0])
        )
    )
    got, want = np.array(numbers(solo)), np.array(numbers(whole[0][1:]))
    assert np.max(np.abs(got - want)) <= 1e-5


def test_a_stack_trains_on_each_runs_own_examples():
    """A member's subset selects its training examples: a stack of two runs of one seed on
    different halves equals each half trained alone by the Trainer."""
    cfg = config("avgpool", "rmsprop", lr=0.01)
    halves = [np.arange(0, 22), np.arange(22, 44)]
    trainer = StackedTrainer(Trainer(cfg, "learned", None), 2)
    members = [Member(i, 5, half) for i, half in enumerate(halves)]
    epochs = list(trainer.fit(X, Y, XV, YV, members, epochs=cfg.epochs))
    for i, half in enumerate(halves):
        alone = list(
            Trainer(cfg, "learned", None).fit(X[half], Y[half], XV, YV, seed=5, epochs=cfg.epochs)
        )
        got, want = np.array(numbers([e[i] for e in epochs])), np.array(numbers(alone))
        assert np.max(np.abs(got - want)) <= 1e-5
    assert numbers([e[0] for e in epochs]) != numbers([e[1] for e in epochs])


def test_which_arms_stack():
    assert stackable(config("flatten", "rmsprop"))
    assert stackable(config("avgpool", "rmsprop"))
    assert not stackable(config("conv1d", "rmsprop"))
    assert not stackable(config("lstm", "rmsprop"))
    assert not stackable(config("flatten", "adam"))
    assert not stackable(config("flatten", "sgd"))


def test_a_stack_refuses_runs_it_cannot_train_together():
    cfg = config("flatten", "rmsprop")
    trainer = StackedTrainer(Trainer(cfg, "learned", None), 2)
    snapshot = Trainer(cfg, "learned", None).snapshot()
    with pytest.raises(ValueError, match="a stack of 2 runs was given 1"):
        list(trainer.fit(X, Y, XV, YV, [Member(0, 5, ALL)], epochs=2))
    mixed = [Member(0, 5, ALL), Member(1, 6, ALL, after=(1, snapshot))]
    with pytest.raises(ValueError, match="continue from the same epoch"):
        list(trainer.fit(X, Y, XV, YV, mixed, epochs=2))
    uneven = [Member(0, 5, ALL), Member(1, 6, ALL[:20])]
    with pytest.raises(ValueError, match="as many examples"):
        list(trainer.fit(X, Y, XV, YV, uneven, epochs=2))
