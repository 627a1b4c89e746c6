"""Flow through the evaluation commands, end to end on a tiny flow dataset: flow videos written with
ViCC's encoding (no OpenCV), a tiny ViCC flow model (2 channels: (v, u)) probed and retrieved on its
stream, refusals of the wrong stream or a missing flow column, and late fusion with an RGB model."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from hf_vssl.cli.main import main
from hf_vssl.data.augment import normalize, to_float_clips
from hf_vssl.data.decoding import decode_frames, probe_video, video_path
from hf_vssl.data.encoding import RGB_CODEC, write_video
from hf_vssl.data.flow import encode_flow, flow_path_for
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.test_clips import model_input
from hf_vssl.evaluation.runner import quiet_loading
from hf_vssl.methods.vicc import ViCCConfig, ViCCForPretraining

TINY = {"num_frames": 4, "crop_size": 32, "frame_size": [40, 50]}
BACKBONE = {"model_type": "vssl-r3d", "depth": 10, "width_multiplier": 0.125}


@pytest.fixture(scope="module")
def flow_root(tiny_ucf_root, tmp_path_factory):
    """The tiny dataset with a `<stem>.flow.mp4` beside every video: a flow field that moves with the class."""
    root = tmp_path_factory.mktemp("flow") / "ucf"
    shutil.copytree(tiny_ucf_root, root)
    rng = np.random.default_rng(0)
    for index, video in enumerate(sorted(root.glob("*/*.mp4"))):
        info = probe_video(video)
        flow = rng.normal(index % 6 - 3, 2.0, (info.video_frames, info.height, info.width, 2)).astype(
            np.float32
        )
        write_video(flow_path_for(video), encode_flow(flow), fps=info.fps, codec=RGB_CODEC)
    return root


def _save_vicc(folder, stream: str, **fields):
    torch.manual_seed(0)
    config = ViCCConfig(stream=stream, backbone_config=dict(BACKBONE), **TINY, **fields)
    ViCCForPretraining(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {
        "flow": _save_vicc(folder / "vicc-flow", "flow", flow_channels=2),
        "rgb": _save_vicc(folder / "vicc-rgb", "rgb"),
    }


def _error(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after transformers' loading bar
    assert err.startswith(f"hf-vssl {argv[0]}: error: "), err
    return err


def test_a_model_refuses_the_other_stream_and_a_missing_flow_column(
    capsys, tiny_ucf_root, flow_root, models, tmp_path
):
    out = ["--output-dir", str(tmp_path)]
    err = _error(capsys, ["probe", "--model", str(models["flow"]), "--dataset", str(tiny_ucf_root), *out])
    assert "--stream flow reads the 'flow' column, which split 'train' lacks" in err
    assert "`hf-vssl extract-flow" in err
    err = _error(
        capsys,
        ["retrieve", "--model", str(models["flow"]), "--stream", "rgb", "--dataset", str(flow_root), *out],
    )
    assert (
        "vicc-flow was trained on the flow stream and cannot be evaluated on rgb input; use --stream flow"
        in err
    )
    err = _error(
        capsys,
        ["cluster", "--model", str(models["rgb"]), "--stream", "flow", "--dataset", str(flow_root), *out],
    )
    assert "trained on the rgb stream" in err
    err = _error(
        capsys,
        ["finetune", "--backbone", "r3d", "--backbone-config", "in_channels=2", "--stream", "flow",
         "--dataset", str(tiny_ucf_root), *out],
    )  # fmt: skip
    assert "lacks" in err and "extract-flow" in err
    # a backbone without a pretraining record takes either stream its channels fit
    err = _error(
        capsys, ["probe", "--backbone", "r3d", "--stream", "flow", "--dataset", str(tiny_ucf_root), *out]
    )
    assert "lacks" in err and "extract-flow" in err
    err = _error(
        capsys,
        ["probe", "--backbone", "r3d", "--backbone-config", "in_channels=2", "--stream", "rgb",
         "--dataset", str(flow_root), *out],
    )  # fmt: skip
    assert "random init (r3d) takes 2-channel clips, but rgb clips have 3 channels" in err


def test_flow_probe_retrieval_and_fusion_from_the_command_line(capsys, flow_root, models, tmp_path):
    common = [
        "--dataset",
        str(flow_root),
        "--num-clips",
        "2",
        "--num-workers",
        "0",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    flow_probe, rgb_probe, flow_retrieval = (
        tmp_path / "flow-probe",
        tmp_path / "rgb-probe",
        tmp_path / "flow-retrieval",
    )
    # the stream is the model's: no --stream needed
    assert (
        main(
            [
                "probe",
                "--model",
                str(models["flow"]),
                *common,
                "--probe-epochs",
                "2",
                "--output-dir",
                str(flow_probe),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "retrieve",
                "--model",
                str(models["flow"]),
                "--stream",
                "flow",
                *common,
                "--output-dir",
                str(flow_retrieval),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "probe",
                "--model",
                str(models["rgb"]),
                *common,
                "--probe-epochs",
                "2",
                "--output-dir",
                str(rgb_probe),
            ]
        )
        == 0
    )
    report = json.loads((flow_probe / "probe.json").read_text())
    assert report["stream"] == "flow" and set(next(iter(report["results"].values()))) == {"top1", "top5"}
    assert json.loads((rgb_probe / "probe.json").read_text())["stream"] == "rgb"

    # the flow features are the network's output on the flow video's clips, constant channel dropped
    test = load_ucf101(flow_root)["test"]
    processor = VsslVideoProcessor(**TINY, num_clips=2)
    indices = processor.clip_indices(test[0]["video_frames"])
    frames = torch.from_numpy(decode_frames(video_path(test[0]["flow"]), indices.reshape(-1), size=(40, 50)))
    pixel_values = model_input(processor.preprocess_clips(frames.reshape(2, 4, 40, 50, 3)), 2)
    assert pixel_values.shape[1] == 2
    from transformers import AutoModel

    with quiet_loading():
        backbone = AutoModel.from_pretrained(models["flow"]).eval()
    with torch.no_grad():
        expected = backbone(pixel_values).pooler_output
    saved = load_file(str(flow_retrieval / "test_clip_outputs.safetensors"))
    torch.testing.assert_close(saved["outputs"][:2], expected, rtol=1e-4, atol=1e-5)

    capsys.readouterr()
    assert main(["fuse", str(rgb_probe), str(flow_probe), "--output-dir", str(tmp_path / "fused")]) == 0
    rows = json.loads((tmp_path / "fused" / "fusion.json").read_text())["results"]
    assert list(rows) == ["vicc-rgb (rgb)", "vicc-flow (flow)", "late fusion"]
    assert set(rows["late fusion"]) == {"top1", "top5"}


def test_model_input_drops_the_constant_flow_channel_after_normalisation():
    """ViCCAugment (flow_channels=2): normalise the (128, v, u) image like RGB, keep (v, u)."""
    clips = torch.randint(0, 255, (2, 4, 8, 8, 3), dtype=torch.uint8)
    normalised = normalize(to_float_clips(clips))
    torch.testing.assert_close(model_input(normalised, 2), normalised[:, 1:])
    assert model_input(normalised, 3) is normalised
