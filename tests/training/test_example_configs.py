"""The example configs build their method's config and carry each paper's default recipe."""

from __future__ import annotations

from pathlib import Path

import pytest

from hf_vssl.cli.common import load_config_file
from hf_vssl.hub.zoo import get_preset
from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe

CONFIGS = Path(__file__).parents[2] / "examples" / "configs"
# file -> (method, backbone type, optimizer, lr, weight decay, schedule, milestones, epochs, global batch)
SEED_RECIPES = {
    "vicc_s3d_ucf101.yaml": ("vicc", "vssl-s3d", "lars", 0.6, 1e-6, "cosine", (), 300, 192),  # ViCC supp.
    "pace_r21d_ucf101.yaml": (
        "pace",
        "vssl-r2plus1d",
        "sgd",
        1e-3,
        5e-3,
        "step",
        (6, 12),
        18,
        30,
    ),  # Pace Prediction supp.
    "mfo_r3d18_ucf101.yaml": ("mfo", "vssl-r3d", "adam", 1e-3, 1e-5, "step", (200,), 300, 256),  # MFO supp.
    "sdc_r21d_ucf101.yaml": (
        "sdc",
        "vssl-r2plus1d",
        "adam",
        1e-3,
        1e-5,
        "step",
        (120, 160),
        200,
        96,
    ),  # SDC supp.
}


def test_every_example_config_is_checked():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(SEED_RECIPES)


@pytest.mark.parametrize("name", sorted(SEED_RECIPES))
def test_example_config_builds_the_seed_recipe(name):
    values = load_config_file(CONFIGS / name)
    preset = get_preset(values["preset"]) if values.get("preset") else None
    config = build_method_config(values.get("method"), preset=preset, overrides=values["method_config"])
    method, backbone, optimizer, lr, weight_decay, schedule, milestones, epochs, batch = SEED_RECIPES[name]
    assert config.method == method and config.backbone_config.model_type == backbone
    recipe = OptimizerRecipe.from_config(config)
    assert (recipe.optimizer, recipe.learning_rate, recipe.weight_decay, recipe.lr_schedule) == (
        optimizer, lr, weight_decay, schedule,
    )  # fmt: skip
    assert (recipe.epochs, recipe.batch_size) == (epochs, batch)
    if schedule == "step":
        assert recipe.lr_milestones == milestones


def test_mfo_ucf101_config_starts_the_graph_at_the_released_epoch():
    """released README.md (shvdiwnkozbw/Video-Representation-via-Multi-level-Optimization), UCF-101
    command: --split 50 --cluster 200 --thres 0.05 (Kinetics-400 and the method default: --split 20)."""
    values = load_config_file(CONFIGS / "mfo_r3d18_ucf101.yaml")
    config = build_method_config(preset=get_preset(values["preset"]), overrides=values["method_config"])
    assert config.graph_start_epoch == 50
    assert (config.num_prototypes, config.graph_threshold) == (200, 0.05)
