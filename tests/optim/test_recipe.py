"""Optimiser and per-step schedule built from a config's recipe fields."""

import dataclasses
import itertools

import pytest
import torch

from hf_vssl.methods.sdc import SDCConfig
from hf_vssl.optim import LARS
from hf_vssl.optim.recipe import RECIPE_FIELDS, OptimizerRecipe, build_optimizer, build_scheduler, lr_lambda


def test_recipe_reads_every_recipe_field_of_a_method_config():
    config = SDCConfig(weight_decay=2e-5)
    recipe = OptimizerRecipe.from_config(config, epochs=2)
    assert recipe.epochs == 2 and recipe.batch_size == 96 and recipe.lr_milestones == (120, 160)
    for name in RECIPE_FIELDS:
        if name not in ("epochs", "lr_milestones"):
            assert getattr(recipe, name) == getattr(config, name), name
    assert config.optimizer_recipe == dataclasses.replace(recipe, epochs=200)
    assert isinstance(build_optimizer([torch.nn.Parameter(torch.zeros(2))], recipe), torch.optim.Adam)


def test_step_schedule_decays_at_milestone_epochs():
    recipe = OptimizerRecipe(
        epochs=18, batch_size=30, lr_schedule="step", lr_milestones=(6, 12), learning_rate=1e-3
    )
    factor = lr_lambda(recipe, steps_per_epoch=10)
    assert factor(59) == 1.0
    assert factor(60) == pytest.approx(0.1)
    assert factor(120) == pytest.approx(0.01)


def test_lars_recipe_builds_lars_with_the_seed_trust_coefficient():
    recipe = OptimizerRecipe(epochs=1, batch_size=1, optimizer="lars", learning_rate=0.6, weight_decay=1e-6)
    optimizer = build_optimizer([torch.nn.Parameter(torch.ones(2, 2))], recipe)
    assert isinstance(optimizer, LARS) and optimizer.param_groups[0]["trust_coefficient"] == 0.001


def test_vicc_recipe_adapts_every_parameter_as_the_release_unless_switched():
    """ViCC release `src/main_single.py:321`: apex LARC over every parameter (no bias/BN exclusion)."""
    from hf_vssl.methods.vicc import ViCCConfig

    params = [torch.nn.Parameter(torch.ones(2, 2))]
    released = build_optimizer(params, OptimizerRecipe.from_config(ViCCConfig()))
    assert isinstance(released, LARS) and released.param_groups[0]["exclude_bias_and_norm"] is False
    switched = OptimizerRecipe.from_config(ViCCConfig(lars_exclude_bias_and_norm=True))
    assert build_optimizer(params, switched).param_groups[0]["exclude_bias_and_norm"] is True


def test_cosine_schedule_runs_per_step_to_the_final_lr():
    recipe = OptimizerRecipe(epochs=2, batch_size=4, lr_schedule="cosine", learning_rate=0.6, final_lr=0.0006)
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = build_optimizer([parameter], recipe)
    scheduler = build_scheduler(optimizer, recipe, steps_per_epoch=5)
    lrs = []
    for _ in range(10):
        lrs.append(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(0.6)
    assert all(a > b for a, b in itertools.pairwise(lrs))  # decays at every step, not every epoch
    assert scheduler.get_last_lr()[0] == pytest.approx(0.0006)


def test_bad_recipe_values_name_the_field():
    with pytest.raises(ValueError, match="optimizer"):
        OptimizerRecipe(epochs=1, batch_size=1, optimizer="rmsprop")
    with pytest.raises(ValueError, match="lr_milestones"):
        OptimizerRecipe(epochs=1, batch_size=1, lr_milestones=(5, 2))
