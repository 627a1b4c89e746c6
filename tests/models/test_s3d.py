"""S3D / S3D-G: MFO supp. Table 2 shapes, parameter counts, gating, input sizes, CoCLR weight names, config
checks.

What every backbone shares (loading, Auto dispatch, heads, checkpointing) is in test_backbone_common.py.
"""

from __future__ import annotations

import math

import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

import hf_vssl  # noqa: F401  (registers the backbones)
from hf_vssl.models.s3d import S3DConfig, S3DModel
from hf_vssl.typed_fields import FieldTypeError

TINY = 0.0625  # 4..64 channels: fast on CPU where the size is not the point

# docs/METHODS.md#s3d: S3D without head, as CoCLR / ViCC / torchvision `s3d().features`
S3D_PARAMETERS = 7_910_048


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: see conftest.py


def _num_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_seed001_table2_shapes_and_parameter_count_at_16x112x112():
    with torch.device("meta"):
        model = S3DModel(S3DConfig()).eval()
        out = model(
            torch.empty(1, 3, 16, 112, 112), output_hidden_states=True, output_multilevel_features=True
        )
    assert _num_parameters(model) == S3D_PARAMETERS
    shapes = {name: tuple(h.shape[1:]) for name, h in zip(model.config.stage_names, out.hidden_states)}
    assert shapes["Conv_1a"] == (64, 8, 56, 56)
    assert shapes["Conv_2c"] == (192, 8, 28, 28)
    assert shapes["MaxPool_4a"] == (480, 4, 7, 7)
    assert shapes["MaxPool_5a"] == (832, 2, 4, 4)  # ceil pooling: 7 -> 4
    # MFO supp. Table 2: low Mixed-3c, mid Mixed-4f, high Mixed-5c
    assert [tuple(f.shape[1:]) for f in out.multilevel_features] == [
        (480, 8, 14, 14),
        (832, 4, 7, 7),
        (1024, 2, 4, 4),
    ]
    assert model.config.multilevel_channels == (480, 832, 1024)
    assert tuple(out.pooler_output.shape) == (1, 1024)


def test_real_forward_has_the_table2_resolutions():
    """Meta tensors only run shape functions; a real (narrow) forward must give the same T, H, W."""
    model = S3DModel(S3DConfig(width_multiplier=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 16, 112, 112), output_multilevel_features=True)
    assert [tuple(f.shape[2:]) for f in out.multilevel_features] == [(8, 14, 14), (4, 7, 7), (2, 4, 4)]
    assert [f.shape[1] for f in out.multilevel_features] == list(model.config.multilevel_channels)


def test_floor_pooling_at_maxpool_5a_is_the_releases_layout():
    """CoCLR / ViCC `backbone/s3dg.py:190` and torchvision floor at MaxPool_5a: 7 -> 3 at 112 px; the
    default keeps MFO supp. Table 2's 2x4x4."""
    assert S3DConfig().pool5_ceil_mode is True
    with torch.device("meta"):
        model = S3DModel(S3DConfig(pool5_ceil_mode=False)).eval()
        out = model(torch.empty(1, 3, 16, 112, 112), output_multilevel_features=True)
    assert tuple(out.multilevel_features[-1].shape[1:]) == (1024, 2, 3, 3)
    assert _num_parameters(model) == S3D_PARAMETERS


def test_state_dict_has_coclr_layout():
    """CoCLR checkpoints hold 462 distinct tensors (924 keys with the `blockN.` aliases,
    docs/METHODS.md#s3d)."""
    with torch.device("meta"):
        state = S3DModel(S3DConfig()).state_dict()
    assert len(state) == 462
    assert all(key.startswith("stages.") for key in state)
    for key, shape in {
        "stages.Conv_1a.conv1.weight": (64, 3, 1, 7, 7),
        "stages.Conv_1a.conv2.weight": (64, 64, 7, 1, 1),
        "stages.Conv_2b.conv.weight": (64, 64, 1, 1, 1),
        "stages.Conv_2c.bn2.running_var": (192,),
        "stages.Mixed_3b.branch0.0.conv.weight": (64, 192, 1, 1, 1),
        "stages.Mixed_3b.branch1.1.conv1.weight": (128, 96, 1, 3, 3),
        "stages.Mixed_4e.branch2.1.conv2.weight": (64, 64, 3, 1, 1),
        "stages.Mixed_5c.branch3.1.conv.weight": (128, 832, 1, 1, 1),
    }.items():
        assert tuple(state[key].shape) == shape, key


def test_gating_adds_one_linear_gate_per_mixed_branch():
    with torch.device("meta"):
        gated = S3DModel(S3DConfig(gating=True))
    config = gated.config
    # independent count: a C -> C linear with bias on the 4 branch outputs (b0, b1b, b2b, b3) of the 9 Mixed blocks
    gated_channels = [channels[i] for channels in config.mixed_channels.values() for i in (0, 2, 4, 5)]
    gate_parameters = sum(c * c + c for c in gated_channels)
    assert _num_parameters(gated) == S3D_PARAMETERS + gate_parameters == 9_098_000
    assert tuple(gated.stages.Mixed_5c.gating_b1.fc.weight.shape) == (384, 384)
    assert not hasattr(S3DModel(S3DConfig(width_multiplier=TINY)).stages.Mixed_3b, "gating_b0")


def test_gating_changes_the_output_and_is_a_pure_per_channel_gate():
    torch.manual_seed(0)
    plain = S3DModel(S3DConfig(width_multiplier=TINY)).eval()
    gated = S3DModel(S3DConfig(width_multiplier=TINY, gating=True)).eval()
    result = gated.load_state_dict(plain.state_dict(), strict=False)
    assert result.unexpected_keys == [] and all(".gating_b" in key for key in result.missing_keys)
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        expected = plain(clips).pooler_output
        assert not torch.allclose(gated(clips).pooler_output, expected, atol=1e-4)
        for module in gated.modules():  # gates saturated at 1 leave every feature as it was
            if isinstance(module, torch.nn.Linear):
                module.weight.zero_()
                module.bias.fill_(50.0)
        torch.testing.assert_close(gated(clips).pooler_output, expected)


@pytest.mark.parametrize(
    ("frames", "height", "width"),
    [(8, 96, 128), (32, 128, 128), (16, 224, 224), (1, 1, 1)],
)
def test_any_input_size_works_and_each_downsampling_is_ceil_half(frames, height, width):
    model = S3DModel(S3DConfig(width_multiplier=TINY)).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, frames, height, width))
    # T: Conv_1a, MaxPool_4a, MaxPool_5a; H, W: Conv_1a, MaxPool_2a, 3a, 4a, 5a; each n -> ceil(n / 2)
    expected = [1, 64, math.ceil(frames / 8), math.ceil(height / 32), math.ceil(width / 32)]
    assert list(out.last_hidden_state.shape) == expected


@pytest.mark.parametrize("shape", [(0, 32, 32), (4, 0, 32)])
def test_empty_input_gives_the_too_small_error(shape):
    """ "Same" padding makes any side >= 1 valid (1x1x1 above), so an empty side is the too-small input."""
    model = S3DModel(S3DConfig(width_multiplier=TINY)).eval()
    with pytest.raises(ValueError, match=r"too small for S3DModel: stage 'Conv_1a'.*Use more frames"):
        model(torch.randn(1, 3, *shape))


def test_two_channel_optical_flow_input():
    model = S3DModel(S3DConfig(in_channels=2, width_multiplier=TINY)).eval()
    assert tuple(model.stages.Conv_1a.conv1.weight.shape[:2]) == (4, 2)
    with torch.no_grad():
        assert model(torch.randn(2, 2, 8, 32, 32)).pooler_output.shape == (2, 64)
    with pytest.raises(ValueError, match=r"expects pixel_values of shape \(batch, 2"):
        model(torch.randn(2, 3, 8, 32, 32))


def test_width_multiplier_scales_every_branch():
    config = S3DConfig(width_multiplier=0.5)
    assert config.scaled_mixed_channels("Mixed_5c") == (192, 96, 192, 24, 64, 64)
    assert config.stage_channels["Mixed_5c"] == 512 == config.hidden_size
    assert config.stage_channels["MaxPool_4a"] == config.stage_channels["Mixed_3c"] == 240


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width_multiplier": 0.0}, "width_multiplier"),
        ({"width_multiplier": float("inf")}, "width_multiplier"),
        ({"gating": "yes"}, "gating"),
        ({"pool5_ceil_mode": 1}, "pool5_ceil_mode"),
        ({"multilevel_stages": ["Mixed_3c", "Mixed_4f", "layer4"]}, "multilevel_stages"),
    ],
)
def test_bad_config_fails_naming_the_field(kwargs, field):
    with pytest.raises((StrictDataclassClassValidationError, FieldTypeError), match=field):
        S3DConfig(**kwargs)
