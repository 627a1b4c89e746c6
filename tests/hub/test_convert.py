"""Converters: state dicts built in each release's own key layout, saved as the release saved them.

Each layout below is written from the release's module tree (the file named in its docstring), as a
map from hf_vssl's documented weight names to the original names; anchors are names copied from
the original code, and key counts follow from its structure. A converted model must consume every
key and compute exactly what the source model computes.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable

import pytest
import torch
from transformers import AutoModel

from hf_vssl.cli.main import main
from hf_vssl.hub.convert import CONVERSION_RECORD, convert_checkpoint, get_source, load_checkpoint_file

Layout = Callable[[str], str]


def _layer_block(key: str) -> tuple[int, int, str]:
    layer, block, rest = re.fullmatch(r"stages\.layer(\d)\.(\d+)\.(.+)", key).groups()
    return int(layer), int(block), rest


def compact_r21d_original(key: str) -> str:
    """VCOP / Pace / ViCC `r21d.py`: conv1 (SpatioTemporalConv) + bn1, then conv2..conv5 layers of
    block1 + blocks.{n}; shortcut downsampleconv + downsamplebn."""
    if key.startswith("stages.stem."):
        return key.removeprefix("stages.stem.")
    layer, block, rest = _layer_block(key)
    rest = rest.replace("downsample.0.", "downsampleconv.").replace("downsample.1.", "downsamplebn.")
    return f"conv{layer + 1}." + ("block1." if block == 0 else f"blocks.{block - 1}.") + rest


def torchvision_r21d_original(key: str) -> str:
    """torchvision `video_resnet.py` with `Conv2Plus1D` (a Sequential conv, BN, ReLU, conv) and
    `R2Plus1dStem` (conv, BN, ReLU, conv, BN, ReLU)."""
    stem = {"conv1.spatial_conv": "0", "conv1.bn": "1", "conv1.temporal_conv": "3", "bn1": "4"}
    if key.startswith("stages.stem."):
        module, param = key.removeprefix("stages.stem.").rsplit(".", 1)
        return f"stem.{stem[module]}.{param}"
    layer, block, rest = _layer_block(key)
    inner = {"spatial_conv": "0.0", "bn": "0.1", "temporal_conv": "0.3"}
    if m := re.fullmatch(r"conv([12])\.(spatial_conv|bn|temporal_conv)\.(\w+)", rest):
        rest = f"conv{m[1]}.{inner[m[2]]}.{m[3]}"
    elif m := re.fullmatch(r"bn([12])\.(\w+)", rest):
        rest = f"conv{m[1]}.1.{m[2]}"
    return f"layer{layer}.{block}.{rest}"


def torchvision_r3d_original(key: str) -> str:
    """torchvision `video_resnet.py` with `Conv3DSimple` (conv{n} = Sequential(conv, BN[, ReLU]))."""
    if key.startswith("stages.stem."):
        return key.replace("stages.stem.conv1.", "stem.0.").replace("stages.stem.bn1.", "stem.1.")
    layer, block, rest = _layer_block(key)
    rest = re.sub(r"^conv([12])\.", r"conv\1.0.", rest)
    rest = re.sub(r"^bn([12])\.", r"conv\1.1.", rest)
    return f"layer{layer}.{block}.{rest}"


def hara_r3d_original(key: str) -> str:
    """Hara et al. `resnet.py` (MFO / SDC `r3d.py`): conv1, bn1, layer{i}.{j}.(conv|bn){1,2}, downsample."""
    return key.removeprefix("stages.").removeprefix("stem.")


def vcop_r3d_original(key: str) -> str:
    """VCOP `r3d.py`: every conv wrapped as `.temporal_spatial_conv`, layers as in `r21d.py`."""
    if key.startswith("stages.stem."):
        return key.removeprefix("stages.stem.").replace("conv1.", "conv1.temporal_spatial_conv.")
    layer, block, rest = _layer_block(key)
    rest = rest.replace("downsample.0.", "downsampleconv.temporal_spatial_conv.").replace(
        "downsample.1.", "downsamplebn."
    )
    rest = re.sub(r"^conv([12])\.", r"conv\1.temporal_spatial_conv.", rest)
    return f"conv{layer + 1}." + ("block1." if block == 0 else f"blocks.{block - 1}.") + rest


def c3d_original(key: str) -> str:
    """VCOP / Pace `c3d.py`: flat conv1, bn1, ..., conv5b, bn5b."""
    return re.sub(r"^stages\.conv\d\.", "", key)


def coclr_s3d_original(key: str) -> str:
    """CoCLR `backbone/s3dg.py`: the named layers Conv_1a ... Mixed_5c with their inner names."""
    return key.removeprefix("stages.")


# CoCLR's S3D registers every named layer a second time inside block1..block5 (s3dg.py `self.blockN`)
COCLR_ALIASES = {
    "Conv_1a": "block1.0", "Conv_2b": "block2.1", "Conv_2c": "block2.2", "Mixed_3b": "block3.1",
    "Mixed_3c": "block3.2", "Mixed_4b": "block4.1", "Mixed_4c": "block4.2", "Mixed_4d": "block4.3",
    "Mixed_4e": "block4.4", "Mixed_4f": "block4.5", "Mixed_5b": "block5.1", "Mixed_5c": "block5.2",
}  # fmt: skip


def coclr_aliases(prefix: str) -> Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]:
    def aliases(original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        extra = {}
        for key, tensor in original.items():
            name, rest = key.removeprefix(prefix).split(".", 1)
            extra[f"{prefix}{COCLR_ALIASES[name]}.{rest}"] = tensor  # the same tensor, as in the release
        return extra

    return aliases


TORCHVISION_S3D_INDEX = {
    "Conv_1a": 0, "Conv_2b": 2, "Conv_2c": 3, "Mixed_3b": 5, "Mixed_3c": 6, "Mixed_4b": 8, "Mixed_4c": 9,
    "Mixed_4d": 10, "Mixed_4e": 11, "Mixed_4f": 12, "Mixed_5b": 14, "Mixed_5c": 15,
}  # fmt: skip


def torchvision_s3d_original(key: str) -> str:
    """torchvision `s3d.py`: `features` Sequential; Conv3dNormActivation = (conv, BN, ReLU),
    TemporalSeparableConv = two of them; SepInceptionBlock3D branches as in CoCLR."""
    name, rest = key.removeprefix("stages.").split(".", 1)
    separable = {"conv1": "0.0", "bn1": "0.1", "conv2": "1.0", "bn2": "1.1"}
    plain = {"conv": "0", "bn": "1"}
    module, param = rest.rsplit(".", 1)
    if name in ("Conv_1a", "Conv_2c"):
        inner = separable[module]
    elif name == "Conv_2b":
        inner = plain[module]
    elif m := re.fullmatch(r"branch0\.0\.(conv|bn)", module):
        inner = f"branch0.{plain[m[1]]}"
    elif m := re.fullmatch(r"(branch[12]\.0|branch3\.1)\.(conv|bn)", module):
        inner = f"{m[1]}.{plain[m[2]]}"
    else:
        m = re.fullmatch(r"(branch[12])\.1\.(conv[12]|bn[12])", module)
        inner = f"{m[1]}.1.{separable[m[2]]}"
    return f"features.{TORCHVISION_S3D_INDEX[name]}.{inner}.{param}"


def to_original(model, layout: Layout, prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + layout(key): tensor.clone() for key, tensor in model.state_dict().items()}


def randn(*shape: int) -> torch.Tensor:
    return torch.randn(*shape)


# (source, hf_vssl model type + config, layout, prefix in the release's state dict, expected backbone key
#  count derived from the original module tree, anchors copied from the original code, extra release keys)
CASES = {
    "pace-r21d": (
        "pace",
        ("vssl-r2plus1d", {"variant": "compact"}),
        compact_r21d_original,
        "",
        # stem 7 + 5, four blocks of 2 x (7 + 5), three shortcuts of 7 + 5
        12 + 4 * 24 + 3 * 12,
        (
            "conv1.bn.running_var",
            "bn1.num_batches_tracked",
            "conv3.block1.downsampleconv.spatial_conv.weight",
            "conv5.block1.conv2.temporal_conv.weight",
            "conv4.block1.downsamplebn.bias",
        ),
        {"linear.weight": randn(4, 64), "linear.bias": randn(4)},
    ),
    "pace-c3d": (
        "pace",
        ("vssl-c3d", {}),
        c3d_original,
        "",
        8 * (2 + 5),  # eight conv (weight + bias) + BN
        ("conv3a.bias", "bn5b.running_mean", "conv1.weight"),
        {"linear.weight": randn(4, 64), "linear.bias": randn(4)},
    ),
    "vcop-r21d": (
        "vcop",
        ("vssl-r2plus1d", {"variant": "compact"}),
        compact_r21d_original,
        "base_network.",
        144,
        ("base_network.conv2.block1.conv1.bn.weight",),
        {
            "fc7.weight": randn(512, 128),
            "fc7.bias": randn(512),
            "fc8.weight": randn(6, 1536),
            "fc8.bias": randn(6),
        },
    ),
    "vcop-r3d": (
        "vcop",
        ("vssl-r3d", {"depth": 10, "stem": "torchvision"}),
        vcop_r3d_original,
        "base_network.",
        6 + 4 * 12 + 3 * 6,
        (
            "base_network.conv1.temporal_spatial_conv.weight",
            "base_network.conv4.block1.downsampleconv.temporal_spatial_conv.weight",
        ),
        {
            "fc7.weight": randn(512, 128),
            "fc7.bias": randn(512),
            "fc8.weight": randn(6, 1536),
            "fc8.bias": randn(6),
        },
    ),
    "mfo-r3d18": (
        "mfo",
        ("vssl-r3d", {"depth": 18, "stem": "hara"}),
        hara_r3d_original,
        "backbone.",
        6 + 8 * 12 + 3 * 6,
        (
            "backbone.conv1.weight",
            "backbone.layer2.0.downsample.0.weight",
            "backbone.layer1.1.bn2.running_var",
        ),
        {
            "backbone.fc.weight": randn(400, 64),
            "backbone.fc.bias": randn(400),
            "backbone.melow.0.conv1.weight": randn(1, 16, 1, 1),
            "backbone.melow.0.bn1.running_mean": randn(1),
            "backbone.memid.0.conv3.weight": randn(32, 2, 1, 1),
            "project.0.weight": randn(64, 64, 1),
            "project_low_graph.2.bias": randn(128),
            "project_global.1.running_var": randn(64),
            "prototype.weight": randn(1000, 128),
        },
    ),
    "sdc-r21d": (
        "sdc",
        ("vssl-r2plus1d", {"variant": "torchvision", "layers": [1, 1, 1, 1]}),
        torchvision_r21d_original,
        "backbone.",
        # stem 2 convs + 2 BN, four blocks of 2 x (2 convs + 2 BN), three shortcuts conv + BN
        12 + 4 * 24 + 3 * 6,
        (
            "backbone.stem.3.weight",
            "backbone.stem.4.running_mean",
            "backbone.layer2.0.conv1.0.3.weight",
            "backbone.layer2.0.conv1.1.weight",
            "backbone.layer4.0.downsample.0.weight",
        ),
        {
            "backbone.fc.weight": randn(400, 64),
            "backbone.fc.bias": randn(400),
            "fvv.0.weight": randn(512, 512),
            "fs.1.running_mean": randn(512),
            "gv.3.bias": randn(512),
            "prototype.weight": randn(200, 512),
            "prototype_s.weight": randn(200, 512),
            "prototype_d.weight": randn(200, 512),
            "lit.project_q.weight": randn(512, 512),
            "lit.mlp.0.bias": randn(256),
            "queue": randn(1024, 6, 200),
        },
    ),
    "sdc-r3d34": (
        "sdc",
        ("vssl-r3d", {"depth": 34, "stem": "hara"}),
        hara_r3d_original,
        "backbone.",
        6 + 16 * 12 + 3 * 6,
        ("backbone.layer3.5.conv2.weight",),
        {"backbone.fc.weight": randn(400, 64), "backbone.fc.bias": randn(400)},
    ),
    "coclr-s3d": (
        "coclr",
        ("vssl-s3d", {"gating": False}),
        coclr_s3d_original,
        "encoder_q.0.",
        # Conv_1a 2 x (1 + 5), Conv_2b 6, Conv_2c 12, nine Mixed blocks of 6 + 18 + 18 + 6
        # (docs/METHODS.md#s3d: 462)
        462,
        (
            "encoder_q.0.Conv_1a.conv1.weight",
            "encoder_q.0.Mixed_4f.branch2.1.bn2.running_var",
            "encoder_q.0.Mixed_5c.branch3.1.conv.weight",
        ),
        lambda original: {
            **coclr_aliases("encoder_q.0.")(original),
            "encoder_q.2.weight": randn(128, 128, 1, 1, 1),
            "encoder_q.4.bias": randn(128),
            "encoder_k.0.Conv_1a.conv1.weight": randn(8, 3, 1, 7, 7),
            "encoder_k.0.block1.0.conv1.weight": randn(8, 3, 1, 7, 7),
            "encoder_k.4.weight": randn(128, 128, 1, 1, 1),
            "queue": randn(128, 2048),
            "queue_ptr": torch.zeros(1, dtype=torch.long),
        },
    ),
    "torchvision-s3d": (
        "torchvision",
        ("vssl-s3d", {"gating": False, "bn_eps": 1e-3, "bn_momentum": 0.001}),
        torchvision_s3d_original,
        "",
        462,
        (
            "features.0.0.0.weight",
            "features.0.1.1.running_var",
            "features.2.0.weight",
            "features.15.branch1.1.1.0.weight",
            "features.8.branch0.1.bias",
            "features.14.branch3.1.0.weight",
        ),
        {"classifier.1.weight": randn(400, 128, 1, 1, 1), "classifier.1.bias": randn(400)},
    ),
    "torchvision-r3d_18": (
        "torchvision",
        ("vssl-r3d", {"depth": 18, "stem": "torchvision"}),
        torchvision_r3d_original,
        "",
        6 + 8 * 12 + 3 * 6,
        (
            "stem.0.weight",
            "layer1.1.conv2.1.running_var",
            "layer4.0.downsample.1.bias",
            "layer3.0.conv1.0.weight",
        ),
        {"fc.weight": randn(400, 64), "fc.bias": randn(400)},
    ),
    "torchvision-r2plus1d_18": (
        "torchvision",
        ("vssl-r2plus1d", {"variant": "torchvision"}),
        torchvision_r21d_original,
        "",
        12 + 8 * 24 + 3 * 6,
        ("stem.0.weight", "layer4.1.conv2.0.3.weight", "layer3.0.conv1.0.1.num_batches_tracked"),
        {"fc.weight": randn(400, 64), "fc.bias": randn(400)},
    ),
}


def _save_release_file(path, release: str, state_dict: dict[str, torch.Tensor]) -> None:
    """As each release's training script saves: DataParallel `module.` and wrapper dicts included."""
    if release == "pace":  # train.py: nn.DataParallel, {'epoch', 'state_dict', 'opt_dict'}
        payload = {
            "epoch": 17,
            "state_dict": {f"module.{k}": v for k, v in state_dict.items()},
            "opt_dict": {"state": {}, "param_groups": [{"lr": 1e-5, "momentum": 0.9, "params": [0, 1]}]},
        }
    elif release == "coclr":  # main_nce.py: {'epoch', 'state_dict', 'best_acc', 'optimizer', 'iteration'}
        payload = {"epoch": 299, "state_dict": state_dict, "best_acc": 0.5, "optimizer": {}, "iteration": 9}
    elif release == "sdc":  # train.py: torch.save(nn.DataParallel(model).state_dict())
        payload = {f"module.{k}": v for k, v in state_dict.items()}
    else:  # vcop, mfo, torchvision: the bare state dict
        payload = state_dict
    torch.save(payload, path)


@pytest.mark.parametrize("case", sorted(CASES))
def test_converter_consumes_every_key_and_reproduces_the_source(case, tiny_backbone, tmp_path):
    release, (model_type, config), layout, prefix, count, anchors, extra = CASES[case]
    source_model = tiny_backbone(model_type, **config)
    original = to_original(source_model, layout, prefix)
    assert len(original) == count
    assert set(anchors) <= set(original), sorted(set(anchors) - set(original))
    extra = extra(original) if callable(extra) else extra
    original.update(extra)
    path = tmp_path / "release.pth.tar"
    _save_release_file(path, release, original)

    report = convert_checkpoint(get_source(release), path, tmp_path / "out")

    assert report.converted_tensors == count
    assert sum(report.dropped.values()) == len(extra)
    converted = AutoModel.from_pretrained(tmp_path / "out").eval()
    assert type(converted) is type(source_model)
    for name, value in config.items():
        assert getattr(converted.config, name) == value
    clips = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(converted(clips).pooler_output, source_model(clips).pooler_output)
    record = json.loads((tmp_path / "out" / CONVERSION_RECORD).read_text())
    assert record["source"] == release and record["converted_tensors"] == count
    assert (tmp_path / "out" / "config.json").is_file() and "auto_map" in json.loads(
        (tmp_path / "out" / "config.json").read_text()
    )


def release_s3d_pooling(model: torch.nn.Module) -> torch.nn.Module:
    """The releases' MaxPool_5a in place of ours: CoCLR / ViCC `backbone/s3dg.py:190` and torchvision
    `s3d.py` (`features.13`) both build MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)),
    which floors a side of 7 to 3 where MFO supp.'s S3D (our default) gives 4."""
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleDict) and "MaxPool_5a" in module:
            module["MaxPool_5a"] = torch.nn.MaxPool3d(
                kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)
            )
    return model


@pytest.mark.parametrize("case", ["coclr-s3d", "torchvision-s3d"])
def test_converted_s3d_equals_its_release_at_16x112x112(case, tiny_backbone, tmp_path):
    """At 112 px the releases' floor pooling at MaxPool_5a matters (7 -> 3, ours 7 -> 4): the converter
    sets `pool5_ceil_mode=False`, so the converted model computes its original's features."""
    release, (model_type, config), layout, prefix, _, _, extra = CASES[case]
    source_model = release_s3d_pooling(tiny_backbone(model_type, **config))
    original = to_original(source_model, layout, prefix)
    original.update(extra(original) if callable(extra) else extra)
    _save_release_file(tmp_path / "release.pth.tar", release, original)
    convert_checkpoint(get_source(release), tmp_path / "release.pth.tar", tmp_path / "out")
    converted = AutoModel.from_pretrained(tmp_path / "out").eval()
    assert converted.config.pool5_ceil_mode is False
    clips = torch.randn(1, 3, 16, 112, 112)
    with torch.no_grad():
        ours, theirs = converted(clips), source_model(clips)
    assert ours.last_hidden_state.shape[-3:] == (2, 3, 3)  # CoCLR s3dg.py / torchvision: Mixed_5c 2x3x3
    assert torch.equal(ours.pooler_output, theirs.pooler_output)


def test_converter_reports_unexpected_keys_and_writes_nothing(tiny_backbone, tmp_path):
    original = to_original(tiny_backbone("vssl-c3d"), c3d_original, "")
    original["conv6a.weight"] = torch.randn(2)
    original["attention.bias"] = torch.randn(2)
    torch.save({"state_dict": original}, tmp_path / "c3d.pth")
    with pytest.raises(ValueError, match=r"2 unexpected keys \[attention\.bias, conv6a\.weight\]"):
        convert_checkpoint(get_source("pace"), tmp_path / "c3d.pth", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_converter_reports_missing_and_mismatched_weights(tiny_backbone, tmp_path):
    original = to_original(tiny_backbone("vssl-r3d", depth=18, stem="hara"), hara_r3d_original, "backbone.")
    del original["backbone.layer3.1.bn2.running_var"]
    original["backbone.layer2.1.conv1.weight"] = torch.randn(3, 3, 1, 1, 1)
    torch.save(original, tmp_path / "mfo.pth")
    with pytest.raises(ValueError) as err:
        convert_checkpoint(get_source("mfo"), tmp_path / "mfo.pth", tmp_path / "out")
    assert "1 missing keys [stages.layer3.1.bn2.running_var]" in str(err.value)
    assert "1 shape mismatches" in str(err.value) and "stages.layer2.1.conv1.weight (3, 3, 1, 1, 1)" in str(
        err.value
    )
    assert not (tmp_path / "out").exists()


def test_converter_names_a_wrong_release(tiny_backbone, tmp_path):
    torch.save(to_original(tiny_backbone("vssl-c3d"), c3d_original, ""), tmp_path / "c3d.pth")
    with pytest.raises(ValueError, match="does not look like a mfo checkpoint"):
        convert_checkpoint(get_source("mfo"), tmp_path / "c3d.pth", tmp_path / "out")


class NotATensor:
    """Stands for the objects some training scripts pickle next to the weights (args, optimisers...)."""

    def __init__(self) -> None:
        self.lr = 0.1


@pytest.mark.parametrize(
    "payload", [NotATensor(), argparse.Namespace(lr=0.1)], ids=["custom-class", "argparse"]
)
def test_pickle_with_a_non_tensor_payload_is_refused(tiny_backbone, tmp_path, payload, capsys):
    path = tmp_path / "ckpt.pth.tar"
    torch.save(
        {"state_dict": to_original(tiny_backbone("vssl-c3d"), c3d_original, ""), "args": payload}, path
    )
    with pytest.raises(ValueError, match=r"refusing to load .*ckpt\.pth\.tar.*could run arbitrary code"):
        load_checkpoint_file(path)
    assert main(["convert", "--from", "pace", str(path), str(tmp_path / "out")]) == 2
    assert "hf-vssl convert: error: refusing to load" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_convert_cli(tiny_backbone, tmp_path, capsys):
    original = to_original(
        tiny_backbone("vssl-r2plus1d", variant="compact"), compact_r21d_original, "base_network."
    )
    torch.save(original, tmp_path / "vcop.pt")
    assert (
        main(
            ["convert", "--from", "vcop", str(tmp_path / "vcop.pt"), str(tmp_path / "out"), "--arch", "r21d"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "converted 144 tensors of vcop.pt (vcop r21d)" in out
    assert (
        main(["convert", "--from", "vcop", str(tmp_path / "vcop.pt"), str(tmp_path / "o2"), "--arch", "s3d"])
        == 2
    )
    assert "--arch s3d is not a vcop architecture" in capsys.readouterr().err


def vicc_original(model, backbone_layout: Layout) -> dict[str, torch.Tensor]:
    """ViCC `model/pretrain.py`: encoder_q = Sequential(backbone, pool, conv, ReLU, conv), prototypes,
    and for the cross-stream stage `second` of the same form; the queue is not part of the state dict."""
    original = {}
    for key, tensor in model.state_dict().items():
        if key.startswith("queue."):
            continue
        for ours, theirs in (("second.", "second."), ("", "encoder_q.")):
            if key.startswith(ours):
                rest = key.removeprefix(ours)
                if rest.startswith("backbone."):
                    original[f"{theirs}0." + backbone_layout(rest.removeprefix("backbone."))] = tensor.clone()
                elif rest.startswith("projection."):
                    index = {"0": "2", "2": "4"}[rest.split(".")[1]]
                    original[f"{theirs}{index}.{rest.split('.')[2]}"] = tensor.clone()
                elif rest == "prototypes.weight":
                    original[rest] = tensor.clone()
                break
    return original


VICC_BACKBONES = {
    # model type and config, original layout, the release's backbone keys (CoCLR's S3D: twice, see aliases)
    "r21d": (("vssl-r2plus1d", {"variant": "compact"}), compact_r21d_original, 144),
    "s3d": (("vssl-s3d", {}), coclr_s3d_original, 2 * 462),
}


@pytest.mark.parametrize(("stream", "cross_stream", "arch"), [("rgb", False, "r21d"), ("flow", True, "s3d")])
def test_vicc_converter_keeps_projection_prototypes_and_the_frozen_stream(
    stream, cross_stream, arch, tiny_backbone, random_bn, tmp_path
):
    from hf_vssl.methods.vicc import ViCCConfig, ViCCForPretraining

    (model_type, kwargs), layout, backbone_keys = VICC_BACKBONES[arch]
    backbone = tiny_backbone(model_type, **kwargs).config.to_dict()
    backbone["in_channels"] = 2 if stream == "flow" else 3
    config = ViCCConfig(
        backbone_config=backbone,
        stream=stream,
        cross_stream=cross_stream,
        flow_channels=2,
        num_prototypes=30,
        queue_size=8,
    )
    torch.manual_seed(0)
    source = random_bn(ViCCForPretraining(config)).eval()
    if arch == "s3d":
        release_s3d_pooling(source)  # ViCC's s3dg.py pools MaxPool_5a with floor
    original = vicc_original(source, layout)
    if arch == "s3d":
        for prefix in ("encoder_q.0.", "second.0.") if cross_stream else ("encoder_q.0.",):
            original.update(
                coclr_aliases(prefix)({k: v for k, v in original.items() if k.startswith(prefix)})
            )
    assert len(original) == (backbone_keys + 4) * (2 if cross_stream else 1) + 1
    assert {"encoder_q.2.bias", "encoder_q.4.weight", "prototypes.weight"} <= set(original)
    assert cross_stream == ("second.4.bias" in original)
    payload = {
        "epoch": 99,
        "state_dict": original,
        "best_loss": 1.5,
        "iteration": 1234,
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.6}]},
    }
    torch.save(payload, tmp_path / "vicc.pth.tar")

    argv = [
        "convert",
        "--from",
        "vicc",
        str(tmp_path / "vicc.pth.tar"),
        str(tmp_path / "out"),
        "--stream",
        stream,
    ]
    assert main(argv) == 0
    converted = ViCCForPretraining.from_pretrained(tmp_path / "out").eval()
    assert (converted.config.stream, converted.config.cross_stream) == (stream, cross_stream)
    assert converted.config.num_prototypes == 30
    assert converted.config.backbone_config.model_type == model_type
    expected = {k: v for k, v in source.state_dict().items() if not k.startswith("queue.")}
    weights = converted.state_dict()
    assert all(torch.equal(weights[k], v) for k, v in expected.items())
    # 16x112x112 for S3D, where floor and ceil pooling at MaxPool_5a differ (7 -> 3 or 4)
    size = (16, 112) if arch == "s3d" else (8, 32)
    clips = torch.randn(2, backbone["in_channels"], size[0], size[1], size[1])
    with torch.no_grad():
        assert torch.equal(converted.embed(clips), source.embed(clips))
        # the checkpoint is also a plain backbone for AutoModel
        backbone_only = AutoModel.from_pretrained(tmp_path / "out").eval()
        assert torch.equal(backbone_only(clips).pooler_output, source.backbone(clips).pooler_output)
