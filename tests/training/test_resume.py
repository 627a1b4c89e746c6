"""A killed run resumed from its checkpoint ends with exactly the weights of the uninterrupted run."""

from __future__ import annotations

import json

import pytest
import torch

from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.checkpointing import STATE_FILE, list_checkpoints
from hf_vssl.training.loop import TrainingArguments, fit
from hf_vssl.training.pretrain import build_train_dataset


def _train(spec, dataset, output_dir, max_steps, resume=None, repeats=1):
    overrides = {"epochs": 2, "batch_size": 4, "repeated_samples": repeats}
    config = build_method_config(spec.name, overrides=overrides)
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=max_steps, save_steps=100, logging_steps=1,
        resume=resume, progress_bar=False,
    )  # fmt: skip
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    result = fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)
    return model, result


@pytest.mark.parametrize("repeats", [1, 2])
def test_resume_mid_epoch_gives_the_same_weights(tiny_spec, tiny_dataset, tmp_path, repeats):
    # 24 training videos / batch 4 = 6 steps per epoch: stop at step 4 (inside epoch 0), end at step 9;
    # repeats 2 (2 samples per decoded video): 12 videos read per epoch, 2 per step, the same 6 steps
    straight, straight_result = _train(
        tiny_spec, tiny_dataset, tmp_path / "straight", max_steps=9, repeats=repeats
    )
    _, first_half = _train(tiny_spec, tiny_dataset, tmp_path / "split", max_steps=4, repeats=repeats)
    checkpoint = list_checkpoints(tmp_path / "split")[-1]
    assert json.loads((checkpoint / STATE_FILE).read_text()) == {
        "epoch": 0,
        "batches_in_epoch": 4,
        "global_step": 4,
    }
    resumed, resumed_result = _train(
        tiny_spec, tiny_dataset, tmp_path / "split", max_steps=9, resume=True, repeats=repeats
    )

    assert resumed_result.global_step == straight_result.global_step == 9
    expected, actual = straight.state_dict(), resumed.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:  # weights, BN statistics and the queue buffer
        assert torch.equal(expected[name], actual[name]), name
    assert int(resumed.queue.filled) == 16  # the queue was filled across the interruption
    losses = [h["loss"] for h in straight_result.history]
    assert [h["loss"] for h in first_half.history + resumed_result.history] == losses
