"""R(2+1)D, torchvision and compact forms: exact parameter counts, layouts, loading, Auto dispatch, config checks."""

from __future__ import annotations

import copy

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import hf_vssl  # noqa: F401  (registers the backbones)
from hf_vssl.models.r2plus1d import (
    R2Plus1DConfig,
    R2Plus1DForVideoClassification,
    R2Plus1DModel,
    factorised_mid_channels,
)

TINY = 0.125  # 8..64 channels: fast on CPU
VARIANTS = ["torchvision", "compact"]


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(cls: type, **config_kwargs) -> torch.nn.Module:
    """Full-width model on the meta device: exact counts and shapes without allocating or computing."""
    with torch.device("meta"):
        return cls(R2Plus1DConfig(**config_kwargs)).eval()


def test_torchvision_form_with_400_way_head_has_torchvision_count():
    model = meta_model(R2Plus1DForVideoClassification, variant="torchvision", num_labels=400)
    assert num_params(model) == 31_505_325  # torchvision r2plus1d_18 (KINETICS400_V1)


def test_compact_form_has_the_vcop_count():
    assert num_params(meta_model(R2Plus1DModel, variant="compact")) == 14_365_303  # ViCC supp. Table 3: 14.4M


def test_sdc_layout_torchvision_blocks_1111():
    model = meta_model(R2Plus1DModel, variant="torchvision", layers=[1, 1, 1, 1])
    assert num_params(model) == 12_487_005  # SDC supp.'s "12.5M"
    assert [len(model.stages[f"layer{i}"]) for i in range(1, 5)] == [1, 1, 1, 1]


def test_mid_channels_of_each_form():
    compact = meta_model(R2Plus1DModel, variant="compact").stages
    torchvision = meta_model(R2Plus1DModel, variant="torchvision").stages
    assert compact.stem.conv1.spatial_conv.out_channels == 83  # floor(3*49*3*64 / (49*3 + 3*64))
    assert torchvision.stem.conv1.spatial_conv.out_channels == 45
    # layer2.0: 64 -> 128; torchvision reuses conv1's M in conv2, the compact form recomputes it
    assert compact.layer2[0].conv1.spatial_conv.out_channels == 230
    assert compact.layer2[0].conv2.spatial_conv.out_channels == 288
    assert torchvision.layer2[0].conv2.spatial_conv.out_channels == 230
    # shortcut: factorised 1x1x1 with M = floor(64*128 / 192) vs a plain Conv3d
    shortcut = compact.layer2[0].downsample[0]
    assert (shortcut.spatial_conv.out_channels, shortcut.spatial_conv.stride) == (42, (1, 2, 2))
    assert shortcut.temporal_conv.stride == (2, 1, 1)
    assert isinstance(torchvision.layer2[0].downsample[0], torch.nn.Conv3d)
    assert factorised_mid_channels(256, 512, (3, 3, 3)) == 921


@pytest.mark.parametrize("variant", VARIANTS)
def test_stage_shapes_at_16x112x112(variant):
    model = meta_model(R2Plus1DModel, variant=variant)
    out = model(torch.empty(1, 3, 16, 112, 112, device="meta"), output_hidden_states=True)
    assert [tuple(h.shape[1:]) for h in out.hidden_states] == [
        (64, 16, 56, 56),
        (64, 16, 56, 56),
        (128, 8, 28, 28),
        (256, 4, 14, 14),
        (512, 2, 7, 7),
    ]


def test_weight_names_follow_the_original_layouts():
    names = set(R2Plus1DModel(R2Plus1DConfig(variant="compact", width_multiplier=TINY)).state_dict())
    for name in (
        "stages.stem.conv1.spatial_conv.weight",
        "stages.stem.conv1.bn.running_var",
        "stages.stem.conv1.temporal_conv.weight",
        "stages.stem.bn1.weight",
        "stages.layer1.0.conv2.temporal_conv.weight",
        "stages.layer3.0.bn2.bias",
        "stages.layer3.0.downsample.0.spatial_conv.weight",
        "stages.layer3.0.downsample.1.running_mean",
    ):
        assert name in names


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("frames", "height", "width"), [(8, 96, 128), (5, 37, 45)])
def test_odd_input_sizes(variant, frames, height, width):
    model = R2Plus1DModel(R2Plus1DConfig(variant=variant, width_multiplier=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, frames, height, width))
    # stem halves H, W; layer2..4 halve T, H, W (rounding up)
    assert list(out.last_hidden_state.shape) == [1, 64, -(-frames // 8), -(-height // 16), -(-width // 16)]


@pytest.mark.parametrize("in_channels", [2, 3])
def test_in_channels(in_channels):
    model = R2Plus1DModel(R2Plus1DConfig(in_channels=in_channels, width_multiplier=TINY)).eval()
    assert model.stages.stem.conv1.spatial_conv.weight.shape[1] == in_channels
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 4, 32, 32)).pooler_output.shape == (2, 64)


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradient_checkpointing_gives_the_same_gradients(variant):
    torch.manual_seed(0)
    plain = R2Plus1DModel(R2Plus1DConfig(variant=variant, layers=[1, 1, 1, 1], width_multiplier=TINY)).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()  # `gradient_checkpointing_enable` is its deprecated alias
    clips = torch.randn(2, 3, 4, 32, 32)
    for model in (plain, checkpointed):
        model(clips).pooler_output.square().sum().backward()
    grad_plain = plain.stages.stem.conv1.spatial_conv.weight.grad
    grad_checkpointed = checkpointed.stages.stem.conv1.spatial_conv.weight.grad
    assert grad_checkpointed is not None and grad_checkpointed.abs().sum() > 0
    torch.testing.assert_close(grad_checkpointed, grad_plain)


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_and_auto_load_give_identical_outputs(tmp_path, variant):
    torch.manual_seed(0)
    model = R2Plus1DModel(R2Plus1DConfig(variant=variant, layers=[1, 2, 1, 1], width_multiplier=TINY)).eval()
    with torch.no_grad():  # non-trivial BN statistics must round-trip too
        model.stages.stem.conv1.bn.running_mean.uniform_(-1, 1)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is R2Plus1DModel
    assert (loaded.config.variant, loaded.config.block_counts) == (variant, (1, 2, 1, 1))
    clips = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(clips).last_hidden_state, model(clips).last_hidden_state, rtol=0, atol=0
        )


def test_auto_classes_dispatch():
    config = AutoConfig.for_model("vssl-r2plus1d", variant="torchvision", width_multiplier=TINY)
    assert isinstance(config, R2Plus1DConfig)
    assert type(AutoModel.from_config(config)) is R2Plus1DModel
    assert type(AutoModelForVideoClassification.from_config(config)) is R2Plus1DForVideoClassification


@pytest.mark.parametrize(
    ("field", "value"),
    [("variant", "r2plus1d_34"), ("layers", [1, 1, 1]), ("layers", [1, 0, 1, 1]), ("width_multiplier", 0.0)],
)
def test_bad_config_fails_naming_the_field(field, value):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        R2Plus1DConfig(**{field: value})


def test_frozen_backbone_gets_no_gradient():
    config = R2Plus1DConfig(width_multiplier=TINY, num_labels=5, freeze_backbone=True)
    model = R2Plus1DForVideoClassification(config).train()
    assert not model.backbone.training  # BN statistics stay those of pretraining
    model(torch.randn(2, 3, 4, 32, 32), labels=torch.tensor([1, 4])).loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
