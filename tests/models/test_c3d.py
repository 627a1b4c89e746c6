"""C3D: parameter count, stage shapes, smallest input and its error, loading, Auto dispatch, config checks."""

from __future__ import annotations

import copy

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import hf_vssl  # noqa: F401  (registers the backbones)
from hf_vssl.models.c3d import C3DConfig, C3DForVideoClassification, C3DModel

TINY = 0.125  # 8..64 channels: fast on CPU


def test_parameter_count_and_stage_shapes_at_16x112x112():
    with torch.device("meta"):
        model = C3DModel(C3DConfig()).eval()
        out = model(
            torch.empty(1, 3, 16, 112, 112), output_hidden_states=True, output_multilevel_features=True
        )
    assert sum(p.numel() for p in model.parameters()) == 27_661_440
    assert [tuple(h.shape[1:]) for h in out.hidden_states] == [
        (64, 16, 56, 56),
        (128, 8, 28, 28),
        (256, 4, 14, 14),
        (512, 2, 7, 7),
        (512, 2, 7, 7),
    ]
    assert [tuple(f.shape[1:]) for f in out.multilevel_features] == [
        (256, 4, 14, 14),
        (512, 2, 7, 7),
        (512, 2, 7, 7),
    ]


def test_weight_names_follow_the_original_layout():
    names = set(C3DModel(C3DConfig(width_multiplier=TINY)).state_dict())
    for name in (
        "stages.conv1.conv1.bias",
        "stages.conv2.bn2.weight",
        "stages.conv3.conv3b.weight",
        "stages.conv5.bn5a.running_var",
    ):
        assert name in names


@pytest.mark.parametrize(("frames", "height", "width"), [(8, 16, 16), (8, 96, 128), (13, 37, 45)])
def test_inputs_at_or_above_the_minimum(frames, height, width):
    model = C3DModel(C3DConfig(width_multiplier=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, frames, height, width))
    # pool1 halves H, W; pool2..pool4 halve T, H, W (floor, as the original)
    assert list(out.last_hidden_state.shape) == [1, 64, frames // 8, height // 16, width // 16]


@pytest.mark.parametrize(("frames", "height", "width"), [(7, 16, 16), (8, 15, 16), (8, 16, 12)])
def test_input_below_the_minimum_gives_a_clear_error(frames, height, width):
    model = C3DModel(C3DConfig(width_multiplier=TINY)).eval()
    with pytest.raises(ValueError, match=r"too small for C3DModel.*Use more frames or a larger crop"):
        model(torch.randn(1, 3, frames, height, width))


@pytest.mark.parametrize("in_channels", [2, 3])
def test_in_channels(in_channels):
    model = C3DModel(C3DConfig(in_channels=in_channels, width_multiplier=TINY)).eval()
    assert model.stages.conv1.conv1.weight.shape[1] == in_channels
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 8, 32, 32)).pooler_output.shape == (2, 64)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = C3DModel(C3DConfig(width_multiplier=TINY)).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()  # `gradient_checkpointing_enable` is its deprecated alias
    clips = torch.randn(2, 3, 8, 32, 32)
    for model in (plain, checkpointed):
        model(clips).pooler_output.square().sum().backward()
    grad_plain = plain.stages.conv1.conv1.weight.grad
    grad_checkpointed = checkpointed.stages.conv1.conv1.weight.grad
    assert grad_checkpointed is not None and grad_checkpointed.abs().sum() > 0
    torch.testing.assert_close(grad_checkpointed, grad_plain)


def test_save_and_auto_load_give_identical_outputs(tmp_path):
    torch.manual_seed(0)
    model = C3DModel(C3DConfig(width_multiplier=TINY)).eval()
    with torch.no_grad():  # non-trivial BN statistics must round-trip too
        model.stages.conv3.bn3b.running_var.uniform_(0.5, 2.0)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is C3DModel
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(clips).last_hidden_state, model(clips).last_hidden_state, rtol=0, atol=0
        )


def test_classifier_checkpoint_loads_as_plain_backbone(tmp_path):
    classifier = C3DForVideoClassification(C3DConfig(width_multiplier=TINY, num_labels=4)).eval()
    classifier.save_pretrained(tmp_path)
    backbone = AutoModel.from_pretrained(tmp_path).eval()
    assert type(backbone) is C3DModel
    clips = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        expected = classifier.backbone(clips).pooler_output
        torch.testing.assert_close(backbone(clips).pooler_output, expected, rtol=0, atol=0)


def test_auto_classes_dispatch():
    config = AutoConfig.for_model("vssl-c3d", width_multiplier=TINY)
    assert isinstance(config, C3DConfig)
    assert type(AutoModel.from_config(config)) is C3DModel
    assert type(AutoModelForVideoClassification.from_config(config)) is C3DForVideoClassification


@pytest.mark.parametrize("value", [0.0, -0.5, float("nan")])
def test_bad_width_fails_naming_the_field(value):
    with pytest.raises(StrictDataclassClassValidationError, match="width_multiplier"):
        C3DConfig(width_multiplier=value)


def test_frozen_backbone_gets_no_gradient():
    config = C3DConfig(width_multiplier=TINY, num_labels=5, freeze_backbone=True)
    model = C3DForVideoClassification(config).train()
    assert not model.backbone.training  # BN statistics stay those of pretraining
    model(torch.randn(2, 3, 8, 32, 32), labels=torch.tensor([2, 0])).loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
