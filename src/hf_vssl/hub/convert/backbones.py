"""The original releases' backbone layouts, each as a `KeyMap` onto an hf_vssl backbone.

Several releases share a backbone file (VCOP's `r21d.py` is Pace Prediction's and ViCC's; CoCLR's
`s3dg.py` is ViCC's), so each layout lives here once, parameterised by the prefix it sits under in
the source (`encoder_q.0.`, `base_network.`, `backbone.`...). The hf_vssl names are the ones each
model file's docstring documents. An `Architecture` also reads the shape fields of the config
(input channels, width, blocks per stage) from the renamed weights, so a checkpoint builds the
model it fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from .keymap import KeyMap

Tensors = Mapping[str, torch.Tensor]
TARGET = "stages."  # where a backbone model keeps its weights


@dataclass(frozen=True)
class Architecture:
    """One backbone as a release saved it.

    keymap(prefix, target): the renames of the backbone's keys found under `prefix` in the source file
        to names under `target` ("stages." in a backbone, "backbone.stages." in a pretraining model).
    marker: a regex that some source key (after the prefix) matches only for this architecture.
    config_kwargs: fixed config fields (variant, stem, BN eps...); `infer(tensors)` adds the fields read
        from the renamed weights.
    """

    name: str
    model_type: str
    keymap: Callable[[str, str], KeyMap]
    marker: str
    infer: Callable[[Tensors], dict[str, Any]]
    config_kwargs: dict[str, Any] = field(default_factory=dict)

    def matches(self, state_dict: Tensors, prefix: str) -> bool:
        pattern = re.escape(prefix) + self.marker
        return any(re.match(pattern, key) for key in state_dict)


def _channels(tensors: Tensors, key: str, dim: int = 0) -> int:
    if key not in tensors:
        raise ValueError(
            f"the checkpoint has no weight for '{key}', which every model of this architecture has"
        )
    return tensors[key].shape[dim]


def _width(tensors: Tensors, key: str, base: int) -> float:
    """width_multiplier from a layer whose full-width channel count is `base` (1.0 for every release)."""
    return _channels(tensors, key) / base


def _block_counts(tensors: Tensors) -> list[int]:
    """Blocks in layer1..layer4 of a ResNet from its `stages.layer{i}.{j}.` keys."""
    counts = []
    for layer in range(1, 5):
        blocks = {int(m[1]) for k in tensors if (m := re.match(rf"stages\.layer{layer}\.(\d+)\.", k))}
        counts.append(len(blocks))
    return counts


# --- R(2+1)D ---------------------------------------------------------------------------------------


def compact_r2plus1d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """VCOP / Pace Prediction / ViCC `r21d.py` (`R2Plus1DNet`): conv1 + bn1 stem, conv2..conv5 layers of
    `block1` + `blocks.{n}`, each `SpatioTemporalConv` with spatial_conv / bn / temporal_conv."""
    p = re.escape(prefix)
    renames: list[tuple[str, Any]] = [
        (rf"{p}conv1\.(spatial_conv|bn|temporal_conv)\.(\w+)", rf"{target}stem.conv1.\g<1>.\g<2>"),
        (rf"{p}bn1\.(\w+)", rf"{target}stem.bn1.\g<1>"),
    ]
    for original, layer in zip(range(2, 6), range(1, 5)):
        to = f"{target}layer{layer}"
        renames += [
            (rf"{p}conv{original}\.block1\.downsampleconv\.(.+)", rf"{to}.0.downsample.0.\g<1>"),
            (rf"{p}conv{original}\.block1\.downsamplebn\.(\w+)", rf"{to}.0.downsample.1.\g<1>"),
            (rf"{p}conv{original}\.block1\.(.+)", rf"{to}.0.\g<1>"),
            (rf"{p}conv{original}\.blocks\.(\d+)\.(.+)", lambda m, t=to: f"{t}.{int(m[1]) + 1}.{m[2]}"),
        ]
    return KeyMap(tuple(renames))


def _infer_r2plus1d(tensors: Tensors, variant: str) -> dict[str, Any]:
    layers = _block_counts(tensors)
    default = [1, 1, 1, 1] if variant == "compact" else [2, 2, 2, 2]
    return {
        "in_channels": _channels(tensors, f"{TARGET}stem.conv1.spatial_conv.weight", dim=1),
        "width_multiplier": _width(tensors, f"{TARGET}layer4.0.bn2.weight", 512),
        "layers": None if layers == default else layers,
    }


COMPACT_R2PLUS1D = Architecture(
    name="r21d",
    model_type="vssl-r2plus1d",
    keymap=compact_r2plus1d_keymap,
    marker=r"conv5\.block1\.conv1\.spatial_conv\.weight",
    infer=lambda tensors: _infer_r2plus1d(tensors, "compact"),
    config_kwargs={"variant": "compact"},
)


def torchvision_r2plus1d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """torchvision's `r2plus1d_18` (also SDC's copy): `stem.{0,1,3,4}`, block convs `conv{n}.0.{0,1,3}`
    (spatial conv, BN, temporal conv) with their BN `conv{n}.1`, shortcut `downsample.{0,1}`."""
    p = re.escape(prefix)
    stem = {"0": "conv1.spatial_conv", "1": "conv1.bn", "3": "conv1.temporal_conv", "4": "bn1"}
    inner = {"0": "spatial_conv", "1": "bn", "3": "temporal_conv"}
    return KeyMap(
        (
            (rf"{p}stem\.([0134])\.(\w+)", lambda m: f"{target}stem.{stem[m[1]]}.{m[2]}"),
            (
                rf"{p}(layer\d\.\d+)\.conv([12])\.0\.([013])\.(\w+)",
                lambda m: f"{target}{m[1]}.conv{m[2]}.{inner[m[3]]}.{m[4]}",
            ),
            (rf"{p}(layer\d\.\d+)\.conv([12])\.1\.(\w+)", rf"{target}\g<1>.bn\g<2>.\g<3>"),
            (rf"{p}(layer\d\.0\.downsample\.[01]\.\w+)", rf"{target}\g<1>"),
        )
    )


TORCHVISION_R2PLUS1D = Architecture(
    name="r2plus1d_18",
    model_type="vssl-r2plus1d",
    keymap=torchvision_r2plus1d_keymap,
    marker=r"layer4\.0\.conv1\.0\.3\.weight",
    infer=lambda tensors: _infer_r2plus1d(tensors, "torchvision"),
    config_kwargs={"variant": "torchvision"},
)


# --- R3D -------------------------------------------------------------------------------------------


def _infer_r3d(tensors: Tensors) -> dict[str, Any]:
    from ...models.r3d import R3DConfig

    layers = tuple(_block_counts(tensors))
    depth = next((d for d, blocks in R3DConfig.blocks_per_depth.items() if blocks == layers), None)
    if depth is None:
        raise ValueError(
            f"blocks per stage {list(layers)} match no R3D depth ({dict(R3DConfig.blocks_per_depth)})"
        )
    return {
        "in_channels": _channels(tensors, f"{TARGET}stem.conv1.weight", dim=1),
        "width_multiplier": _width(tensors, f"{TARGET}layer4.0.bn2.weight", 512),
        "depth": depth,
    }


def torchvision_r3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """torchvision's `r3d_18`: `stem.{0,1}`, block convs `conv{n}.0` with BN `conv{n}.1`."""
    p = re.escape(prefix)
    return KeyMap(
        (
            (rf"{p}stem\.0\.(\w+)", rf"{target}stem.conv1.\g<1>"),
            (rf"{p}stem\.1\.(\w+)", rf"{target}stem.bn1.\g<1>"),
            (rf"{p}(layer\d\.\d+)\.conv([12])\.0\.(\w+)", rf"{target}\g<1>.conv\g<2>.\g<3>"),
            (rf"{p}(layer\d\.\d+)\.conv([12])\.1\.(\w+)", rf"{target}\g<1>.bn\g<2>.\g<3>"),
            (rf"{p}(layer\d\.0\.downsample\.[01]\.\w+)", rf"{target}\g<1>"),
        )
    )


TORCHVISION_R3D = Architecture(
    name="r3d_18",
    model_type="vssl-r3d",
    keymap=torchvision_r3d_keymap,
    marker=r"layer4\.0\.conv1\.0\.weight",
    infer=_infer_r3d,
    config_kwargs={"stem": "torchvision"},
)


def hara_r3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """Hara et al.'s `resnet.py` (MFO's and SDC's `r3d.py`): `conv1` / `bn1` stem, `layer{i}.{j}` blocks."""
    p = re.escape(prefix)
    return KeyMap(
        (
            (rf"{p}(conv1|bn1)\.(\w+)", rf"{target}stem.\g<1>.\g<2>"),
            (rf"{p}(layer\d\.\d+\.(?:conv[12]|bn[12]|downsample\.[01])\.\w+)", rf"{target}\g<1>"),
        )
    )


HARA_R3D = Architecture(
    name="r3d",
    model_type="vssl-r3d",
    keymap=hara_r3d_keymap,
    marker=r"layer4\.0\.conv1\.weight",
    infer=_infer_r3d,
    config_kwargs={"stem": "hara"},
)


def vcop_r3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """VCOP's `r3d.py` (`R3DNet`): `conv1.temporal_spatial_conv` + `bn1`, conv2..conv5 of `block1` +
    `blocks.{n}`, shortcut `downsampleconv.temporal_spatial_conv` + `downsamplebn`."""
    p = re.escape(prefix)
    renames: list[tuple[str, Any]] = [
        (rf"{p}conv1\.temporal_spatial_conv\.(\w+)", rf"{target}stem.conv1.\g<1>"),
        (rf"{p}bn1\.(\w+)", rf"{target}stem.bn1.\g<1>"),
    ]
    for original, layer in zip(range(2, 6), range(1, 5)):
        to = f"{target}layer{layer}"
        renames += [
            (
                rf"{p}conv{original}\.block1\.downsampleconv\.temporal_spatial_conv\.(\w+)",
                rf"{to}.0.downsample.0.\g<1>",
            ),
            (rf"{p}conv{original}\.block1\.downsamplebn\.(\w+)", rf"{to}.0.downsample.1.\g<1>"),
            (rf"{p}conv{original}\.block1\.(conv[12])\.temporal_spatial_conv\.(\w+)", rf"{to}.0.\g<1>.\g<2>"),
            (rf"{p}conv{original}\.block1\.(bn[12]\.\w+)", rf"{to}.0.\g<1>"),
            (
                rf"{p}conv{original}\.blocks\.(\d+)\.(conv[12])\.temporal_spatial_conv\.(\w+)",
                lambda m, t=to: f"{t}.{int(m[1]) + 1}.{m[2]}.{m[3]}",
            ),
            (
                rf"{p}conv{original}\.blocks\.(\d+)\.(bn[12]\.\w+)",
                lambda m, t=to: f"{t}.{int(m[1]) + 1}.{m[2]}",
            ),
        ]
    return KeyMap(tuple(renames))


VCOP_R3D = Architecture(
    name="r3d",
    model_type="vssl-r3d",
    keymap=vcop_r3d_keymap,
    marker=r"conv5\.block1\.conv1\.temporal_spatial_conv\.weight",
    infer=_infer_r3d,
    config_kwargs={"stem": "torchvision"},
)


# --- C3D -------------------------------------------------------------------------------------------


def c3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """VCOP's / Pace Prediction's `c3d.py`: flat `conv{n}{a,b}` and `bn{n}{a,b}`."""
    p = re.escape(prefix)
    return KeyMap(((rf"{p}((?:conv|bn)([1-5])[ab]?)\.(\w+)", rf"{target}conv\g<2>.\g<1>.\g<3>"),))


C3D = Architecture(
    name="c3d",
    model_type="vssl-c3d",
    keymap=c3d_keymap,
    marker=r"conv5b\.weight",
    infer=lambda tensors: {
        "in_channels": _channels(tensors, f"{TARGET}conv1.conv1.weight", dim=1),
        "width_multiplier": _width(tensors, f"{TARGET}conv5.bn5b.weight", 512),
    },
)


# --- S3D -------------------------------------------------------------------------------------------


def _infer_s3d(tensors: Tensors) -> dict[str, Any]:
    return {
        "in_channels": _channels(tensors, f"{TARGET}Conv_1a.conv1.weight", dim=1),
        "width_multiplier": _width(tensors, f"{TARGET}Mixed_5c.branch0.0.bn.weight", 384),
        "gating": any(".gating_b0." in key for key in tensors),
    }


def coclr_s3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """CoCLR's `backbone/s3dg.py` (ViCC's too): every layer is registered twice, by name (`Conv_1a`,
    ..., `Mixed_5c`, the names hf_vssl keeps) and inside `block1`..`block5` Sequentials; the aliases
    hold the same tensors and are dropped."""
    p = re.escape(prefix)
    return KeyMap(
        ((rf"{p}((?:Conv_1a|Conv_2b|Conv_2c|Mixed_\d[b-f])\..+)", rf"{target}\g<1>"),),
        ((rf"{p}block[1-5]\.\d\..+", "duplicate alias of a named S3D layer (blockN.i = Conv_* / Mixed_*)"),),
    )


COCLR_S3D = Architecture(
    name="s3d",
    model_type="vssl-s3d",
    keymap=coclr_s3d_keymap,
    marker=r"Mixed_5c\.branch0\.0\.conv\.weight",
    infer=_infer_s3d,
    # s3dg.py:190: MaxPool_5a = MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)), floor
    config_kwargs={"pool5_ceil_mode": False},
)

# torchvision `s3d`: positions of the named layers in `features` (max-pools at 1, 4, 7 and 13)
TORCHVISION_S3D_FEATURES = {
    "0": "Conv_1a",
    "2": "Conv_2b",
    "3": "Conv_2c",
    "5": "Mixed_3b",
    "6": "Mixed_3c",
    "8": "Mixed_4b",
    "9": "Mixed_4c",
    "10": "Mixed_4d",
    "11": "Mixed_4e",
    "12": "Mixed_4f",
    "14": "Mixed_5b",
    "15": "Mixed_5c",
}


def torchvision_s3d_keymap(prefix: str, target: str = TARGET) -> KeyMap:
    """torchvision's `s3d`: `features.{i}`; a `Conv3dNormActivation` is (conv, BN, ReLU) and a
    `TemporalSeparableConv` two of them (spatial, temporal)."""
    p = re.escape(prefix)
    separable = {"0.0": "conv1", "0.1": "bn1", "1.0": "conv2", "1.1": "bn2"}
    plain = {"0": "conv", "1": "bn"}

    def layer(index: str) -> str:
        return f"{target}{TORCHVISION_S3D_FEATURES[index]}"

    return KeyMap(
        (
            (
                rf"{p}features\.(0|3)\.([01]\.[01])\.(\w+)",
                lambda m: f"{layer(m[1])}.{separable[m[2]]}.{m[3]}",
            ),
            (rf"{p}features\.(2)\.([01])\.(\w+)", lambda m: f"{layer(m[1])}.{plain[m[2]]}.{m[3]}"),
            (
                rf"{p}features\.(\d+)\.(branch0\.|branch[12]\.0\.|branch3\.1\.)([01])\.(\w+)",
                lambda m: f"{layer(m[1])}.{m[2].replace('branch0.', 'branch0.0.')}{plain[m[3]]}.{m[4]}",
            ),
            (
                rf"{p}features\.(\d+)\.(branch[12])\.1\.([01]\.[01])\.(\w+)",
                lambda m: f"{layer(m[1])}.{m[2]}.1.{separable[m[3]]}.{m[4]}",
            ),
        )
    )


TORCHVISION_S3D = Architecture(
    name="s3d",
    model_type="vssl-s3d",
    keymap=torchvision_s3d_keymap,
    marker=r"features\.15\.branch3\.1\.0\.weight",
    infer=_infer_s3d,
    # torchvision's S3D uses the TensorFlow BN settings (docs/METHODS.md#s3d) and floor pooling at MaxPool_5a
    # (`features.13` = MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)))
    config_kwargs={"bn_eps": 1e-3, "bn_momentum": 0.001, "pool5_ceil_mode": False},
)


__all__ = [
    "C3D",
    "COCLR_S3D",
    "COMPACT_R2PLUS1D",
    "HARA_R3D",
    "TORCHVISION_R2PLUS1D",
    "TORCHVISION_R3D",
    "TORCHVISION_S3D",
    "VCOP_R3D",
    "Architecture",
]
