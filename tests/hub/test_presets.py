"""Presets are data: backbone kwargs + method-config overrides; every override reaches the built config,
and the card's recipe text is generated from that config."""

from __future__ import annotations

import dataclasses

import pytest

from hf_vssl.hub.cards import recipe_summary, render_card
from hf_vssl.hub.zoo import ZOO, Preset, get_preset
from hf_vssl.methods import build_method_config


@pytest.mark.parametrize("preset", ZOO, ids=lambda p: p.name)
def test_every_preset_builds_with_each_override_arrived(preset):
    config = build_method_config(preset=preset, backbone_overrides={"width_multiplier": 0.125})
    assert config.method == preset.method
    assert config.backbone_config.model_type == preset.backbone_type
    for name, value in preset.backbone_kwargs:
        assert getattr(config.backbone_config, name) == value, name
    for name, value in preset.method_config:
        expected = list(value) if isinstance(value, tuple) else value
        assert getattr(config, name) == expected, name
    assert config.backbone_config.width_multiplier == 0.125
    assert " ".join(recipe_summary(preset.config).split()) in " ".join(str(render_card(preset)).split())


def test_the_flow_preset_trains_a_flow_stream_with_flow_input_channels():
    config = build_method_config(preset=get_preset("vicc-flow-s3d"))
    assert config.stream == "flow" and config.modality == "flow"
    assert config.backbone_config.in_channels == config.flow_channels == 3  # (128, v, u) images
    two_channel = build_method_config(preset=get_preset("vicc-flow-s3d"), overrides={"flow_channels": 2})
    assert two_channel.backbone_config.in_channels == 2
    assert get_preset("vicc-flow-s3d").modality == "flow"
    assert "flow stream" in recipe_summary(get_preset("vicc-flow-s3d").config)


@pytest.mark.parametrize("name", ["sdc-r21d", "sdc-r3d34"])
def test_kinetics_sdc_presets_have_100_plus_100_concepts(name):
    config = build_method_config(preset=get_preset(name))
    assert (config.num_static_concepts, config.num_dynamic_concepts) == (100, 100)
    assert "100 + 100 concepts" in str(render_card(get_preset(name)))


def test_overrides_win_over_the_preset_and_the_preset_over_the_defaults():
    config = build_method_config(preset=get_preset("pace-s3dg"), overrides={"num_frames": 8, "epochs": "3"})
    assert (config.num_frames, config.crop_size, config.frame_size, config.epochs) == (8, 224, [256, 256], 3)
    with pytest.raises(ValueError, match="preset 'pace-s3dg' is a 'pace' model, not 'vicc'"):
        build_method_config("vicc", preset=get_preset("pace-s3dg"))


def test_another_backbone_keeps_the_preset_method_fields():
    """`--preset vicc-flow-s3d --backbone r3d` trains the flow stream on 32 x 128 clips with an R3D (it
    used to fall back to the method's defaults: an RGB stream)."""
    config = build_method_config(
        preset=get_preset("vicc-flow-s3d"), backbone="r3d", backbone_overrides={"width_multiplier": 0.125}
    )
    assert (
        config.backbone_config.model_type == "vssl-r3d" and config.backbone_config.width_multiplier == 0.125
    )
    assert (config.stream, config.num_frames, config.crop_size) == ("flow", 32, 128)
    assert config.backbone_config.in_channels == 3
    assert not hasattr(config.backbone_config, "gating")  # the preset's S3D kwargs stay with its S3D


def test_no_preset_carries_hand_written_recipe_or_clip_fields():
    fields = {f.name for f in dataclasses.fields(Preset)}
    assert not fields & {"recipe", "num_frames", "crop_size", "frame_size", "modality"}
    vicc = get_preset("vicc-s3d")
    assert (vicc.num_frames, vicc.crop_size) == (vicc.config.num_frames, vicc.config.crop_size) == (32, 128)
