"""A run's kept logits reproduce what its trainer recorded, for both engines and every head
whose logits the model computes (the issue: val_acc exactly, val_loss to 1e-6)."""

from __future__ import annotations

import numpy as np
import pytest

from embtui.engine.fused import FusedTrainer
from embtui.engine.trainer import Trainer
from embtui.inspect import analysis as an
from tests.engine.test_trainer import EPOCHS, XV, YV, X, Y, config, glove_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("engine", ["tensorflow", "fused"])
@pytest.mark.parametrize(("head", "arm"), [("flatten", "learned"), ("avgpool", "glove-tuned")])
def test_logits_reproduce_the_last_epochs_validation(engine, head, arm):
    cfg = config(head, "rmsprop", lr=0.01)
    make = Trainer if engine == "tensorflow" else FusedTrainer
    trainer = make(cfg, arm, glove_for(arm))
    last = list(trainer.fit(X, Y, XV, YV, seed=3, epochs=EPOCHS))[-1]
    logits = trainer.val_logits(XV)
    assert logits.shape == (len(YV),) and logits.dtype == np.float32
    assert an.accuracy(logits, YV) == last.val_acc
    assert an.bce_from_logits(logits, YV) == pytest.approx(last.val_loss, abs=1e-6)
    weights = trainer.weights()
    assert len(weights) == 3 and weights[0].shape == (cfg.vocab_size, weights[0].shape[1])
