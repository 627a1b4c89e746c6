"""R3D: MFO supp. Table 1 shapes, exact parameter counts, loading, Auto dispatch, config checks."""

from __future__ import annotations

import copy

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError
from transformers import AutoConfig, AutoModel, AutoModelForVideoClassification

import hf_vssl  # noqa: F401  (registers the backbones)
from hf_vssl.models.r3d import R3DConfig, R3DForVideoClassification, R3DModel

TINY = 0.125  # 8..64 channels: fast on CPU


def num_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(cls: type, **config_kwargs) -> torch.nn.Module:
    """Full-width model on the meta device: exact counts and shapes without allocating or computing."""
    with torch.device("meta"):
        return cls(R3DConfig(**config_kwargs)).eval()


def test_hara_stem_gives_seed001_table1_shapes():
    model = meta_model(R3DModel, depth=18, stem="hara")
    clips = torch.empty(1, 3, 16, 112, 112, device="meta")  # (B, C, T, H, W)
    out = model(clips, output_hidden_states=True, output_multilevel_features=True)
    low, mid, high = (tuple(f.shape[1:]) for f in out.multilevel_features)
    assert low == (128, 8, 14, 14)
    assert mid == (256, 4, 7, 7)
    assert high == (512, 2, 4, 4)
    assert [tuple(h.shape[1:]) for h in out.hidden_states[:2]] == [(64, 16, 28, 28)] * 2
    assert tuple(out.pooler_output.shape) == (1, 512)
    assert model.config.multilevel_channels == (128, 256, 512)


def test_torchvision_stem_keeps_twice_the_spatial_size():
    model = meta_model(R3DModel, depth=18, stem="torchvision")
    out = model(torch.empty(1, 3, 16, 112, 112, device="meta"), output_multilevel_features=True)
    assert [tuple(f.shape[1:]) for f in out.multilevel_features] == [
        (128, 8, 28, 28),
        (256, 4, 14, 14),
        (512, 2, 7, 7),
    ]


@pytest.mark.parametrize(
    ("depth", "stem", "expected"),
    [
        (18, "torchvision", 33_166_272),  # torchvision r3d_18 without its fc
        (18, "hara", 33_203_904),  # 7x7x7 stem conv: 3*64*(343-147) more
        (10, "torchvision", 14_361_792),  # VCOP / ViCC "R3D" (blocks [1,1,1,1])
        (34, "hara", 63_513_536),
    ],
)
def test_parameter_count_without_head(depth, stem, expected):
    assert num_params(meta_model(R3DModel, depth=depth, stem=stem)) == expected


def test_r3d18_with_400_way_head_matches_torchvision_count():
    model = meta_model(R3DForVideoClassification, depth=18, stem="torchvision", num_labels=400)
    assert num_params(model) == 33_371_472  # torchvision r3d_18 (KINETICS400_V1)


def test_weight_names_follow_the_hara_layout():
    names = set(R3DModel(R3DConfig(depth=18, width_multiplier=TINY)).state_dict())
    for name in (
        "stages.stem.conv1.weight",
        "stages.stem.bn1.running_mean",
        "stages.layer1.1.conv2.weight",
        "stages.layer2.0.downsample.0.weight",
        "stages.layer4.0.downsample.1.weight",
    ):
        assert name in names
    assert "stages.layer1.0.downsample.0.weight" not in names  # identity shortcut in layer1


@pytest.mark.parametrize("stem", ["hara", "torchvision"])
@pytest.mark.parametrize(("frames", "height", "width"), [(8, 96, 128), (5, 37, 45)])
def test_odd_input_sizes(stem, frames, height, width):
    model = R3DModel(R3DConfig(depth=10, stem=stem, width_multiplier=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, frames, height, width))
    # stem and layer2..4 each halve H, W (ceil); the Hara max-pool halves them once more; T only in layer2..4
    halvings = 4 + (stem == "hara")
    expected = [-(-frames // 8), -(-height // 2**halvings), -(-width // 2**halvings)]
    assert list(out.last_hidden_state.shape) == [1, 64, *expected]


@pytest.mark.parametrize("in_channels", [2, 3])
def test_in_channels(in_channels):
    model = R3DModel(R3DConfig(depth=10, in_channels=in_channels, width_multiplier=TINY)).eval()
    assert model.stages.stem.conv1.weight.shape[1] == in_channels
    with torch.no_grad():
        assert model(torch.randn(2, in_channels, 4, 32, 32)).pooler_output.shape == (2, 64)


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    plain = R3DModel(R3DConfig(depth=10, width_multiplier=TINY)).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()  # `gradient_checkpointing_enable` is its deprecated alias
    assert checkpointed.gradient_checkpointing and not plain.gradient_checkpointing
    clips = torch.randn(2, 3, 4, 32, 32)
    for model in (plain, checkpointed):
        model(clips).pooler_output.square().sum().backward()
    grad_plain = plain.stages.stem.conv1.weight.grad
    grad_checkpointed = checkpointed.stages.stem.conv1.weight.grad
    assert grad_checkpointed is not None and grad_checkpointed.abs().sum() > 0
    torch.testing.assert_close(grad_checkpointed, grad_plain)


def test_save_and_auto_load_give_identical_outputs(tmp_path):
    torch.manual_seed(0)
    config = R3DConfig(depth=10, stem="torchvision", width_multiplier=TINY)
    model = R3DModel(config).eval()
    with torch.no_grad():  # non-trivial BN statistics must round-trip too
        model.stages.stem.bn1.running_mean.uniform_(-1, 1)
    model.save_pretrained(tmp_path)
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded) is R3DModel
    assert (loaded.config.depth, loaded.config.stem, loaded.config.width_multiplier) == (
        10,
        "torchvision",
        TINY,
    )
    clips = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(
            loaded(clips).last_hidden_state, model(clips).last_hidden_state, rtol=0, atol=0
        )


def test_auto_classes_dispatch():
    config = AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=TINY)
    assert isinstance(config, R3DConfig)
    assert type(AutoModel.from_config(config)) is R3DModel
    assert type(AutoModelForVideoClassification.from_config(config)) is R3DForVideoClassification


@pytest.mark.parametrize(
    ("field", "value"),
    [("depth", 50), ("stem", "resnet"), ("width_multiplier", 0.0), ("width_multiplier", -1.0)],
)
def test_bad_config_fails_naming_the_field(field, value):
    with pytest.raises(StrictDataclassClassValidationError, match=field):
        R3DConfig(**{field: value})


def test_frozen_backbone_gets_no_gradient():
    config = R3DConfig(depth=10, width_multiplier=TINY, num_labels=5, freeze_backbone=True)
    model = R3DForVideoClassification(config).train()
    assert not model.backbone.training  # BN statistics stay those of pretraining
    out = model(torch.randn(2, 3, 4, 32, 32), labels=torch.tensor([0, 3]))
    out.loss.backward()
    assert all(p.grad is None for p in model.backbone.parameters())
    assert model.classifier.weight.grad is not None and model.classifier.weight.grad.abs().sum() > 0
