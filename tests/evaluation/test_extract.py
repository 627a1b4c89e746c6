"""Dense features for temporal models (`hf_vssl.evaluation.extract`) on real mp4s decoded by PyAV: one
(T, C) array per video with its clips' times, equal to the backbone's forward on the same clips; a folder
made with other settings is refused; dataset layouts and plain folders give the same video names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from hf_vssl.data.decoding import decode_frames, probe_video
from hf_vssl.data.encoding import RGB_CODEC, write_video
from hf_vssl.data.flow import encode_flow, flow_path_for
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.test_clips import model_input
from hf_vssl.evaluation import ExtractionArguments, extract_features, write_features
from hf_vssl.evaluation.extract import open_videos, video_ids, video_paths
from hf_vssl.evaluation.runner import default_processor
from hf_vssl.methods.vicc import ViCCConfig, ViCCForPretraining

PROCESSOR = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50])
VIDEOS = ("MoveLeft/v_MoveLeft_g02_c01", "MoveRight/v_MoveRight_g01_c01", "Still/v_Still_g01_c01")


@pytest.fixture(scope="module")
def backbone() -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125)).eval()


@pytest.fixture(scope="module")
def plain_folder(tiny_ucf_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three synthetic mp4s in a plain folder (no layout, no labels), one of them nested deeper."""
    root = tmp_path_factory.mktemp("plain")
    for name, target in zip(VIDEOS, ("left", "more/right", "more/deeper/static")):
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_ucf_root / f"{name}.mp4", root / f"{target}.mp4")
    return root


def clips_forward(backbone, path: Path, starts: np.ndarray, processor: VsslVideoProcessor, level: int | None):
    """The reference: the clips starting at `starts` decoded directly, every crop through the backbone."""
    indices = starts[:, None] + np.arange(processor.num_frames) * processor.frame_stride
    info = probe_video(path)
    frames = decode_frames(path, indices.reshape(-1), size=processor.decode_size(info.height, info.width))
    clips = torch.from_numpy(frames.reshape(*indices.shape, *frames.shape[1:]))
    pixel_values = model_input(processor.preprocess_clips(clips), backbone.config.in_channels)
    with torch.no_grad():
        output = backbone(pixel_values, output_multilevel_features=level is not None)
    maps = output.pooler_output if level is None else output.multilevel_features[level].mean(dim=(2, 3, 4))
    return maps.reshape(len(starts), -1, maps.shape[-1]).mean(dim=1).numpy()


def test_npy_arrays_have_the_clips_times_and_the_backbones_values(backbone, plain_folder, tmp_path):
    report = write_features(
        backbone, plain_folder, tmp_path, ExtractionArguments(stride=8, batch_size=3),  # batches cut across videos
        processor=PROCESSOR, num_workers=0, progress=False,
    )  # fmt: skip
    assert (report.videos, report.extracted, report.existing, report.skipped) == (3, 3, 0, {})
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.npy"))
    assert written == ["left.npy", "more/deeper/static.npy", "more/right.npy"]
    for name in ("left", "more/right", "more/deeper/static"):
        info = probe_video(plain_folder / f"{name}.mp4")
        starts = np.arange(0, info.video_frames - PROCESSOR.num_frames + 1, 8)
        features = np.load(tmp_path / f"{name}.npy")
        sidecar = json.loads((tmp_path / f"{name}.json").read_text())
        assert features.shape == (len(starts), backbone.config.hidden_size) and features.dtype == np.float32
        assert sidecar["start_frames"] == starts.tolist() and sidecar["fps"] == pytest.approx(info.fps)
        assert np.allclose(sidecar["start_times"], starts / info.fps)
        expected = clips_forward(backbone, plain_folder / f"{name}.mp4", starts, PROCESSOR, None)
        assert np.allclose(features, expected, rtol=1e-4, atol=1e-5), name
    assert json.loads((tmp_path / "report.json").read_text())["clips"] == report.clips
    assert not list(tmp_path.rglob("*.partial"))


def test_fps_ten_crop_mid_level_and_float16_in_memory(backbone, plain_folder):
    processor = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], ten_crop=True)
    arguments = ExtractionArguments(fps=2.0, level="mid", dtype="float16")
    result = extract_features(
        backbone, plain_folder, arguments, processor=processor, num_workers=0, progress=False
    )
    assert list(result) == ["left", "more/deeper/static", "more/right"]
    video = result["more/right"]
    info = probe_video(plain_folder / "more/right.mp4")
    step = info.fps / 2.0  # 2 clips a second: a start every fps / 2 frames, rounded
    starts = np.unique(np.round(np.arange(0, info.video_frames - 4 + 1, step)).astype(int))
    assert video.start_frames.tolist() == starts.tolist() and len(starts) > 2
    assert video.features.dtype == np.float16
    assert video.features.shape == (len(starts), backbone.config.multilevel_channels[1])
    expected = clips_forward(backbone, plain_folder / "more/right.mp4", starts, processor, 1)
    assert np.allclose(video.features.astype(np.float32), expected, rtol=2e-3, atol=2e-3)


def test_a_video_shorter_than_one_clip_gives_one_looped_clip(backbone, plain_folder):
    processor = VsslVideoProcessor(num_frames=32, frame_stride=2, crop_size=32, frame_size=[40, 50])
    video = extract_features(backbone, plain_folder, processor=processor, num_workers=0, progress=False)[
        "left"
    ]
    assert video.start_frames.tolist() == [0] and video.features.shape == (1, backbone.config.hidden_size)


def test_a_folder_made_with_other_settings_is_refused(backbone, plain_folder, tmp_path):
    options = {"processor": PROCESSOR, "num_workers": 0, "progress": False}
    write_features(backbone, plain_folder, tmp_path, ExtractionArguments(stride=16), **options)
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npy")}
    again = write_features(backbone, plain_folder, tmp_path, ExtractionArguments(stride=16), **options)
    assert (again.extracted, again.existing) == (0, 3)  # a finished folder: nothing redone
    with pytest.raises(ValueError, match=r"other settings \(stride differ\)"):
        write_features(backbone, plain_folder, tmp_path, ExtractionArguments(stride=8), **options)
    assert before == {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.npy")}


def test_parquet_output_opens_with_load_dataset(backbone, plain_folder, tmp_path):
    arguments = ExtractionArguments(stride=8, format="parquet", dtype="float16")
    write_features(
        backbone, plain_folder, tmp_path, arguments, processor=PROCESSOR, num_workers=0, progress=False
    )
    table = datasets.load_dataset(str(tmp_path))["train"].with_format("numpy")
    assert list(table["video"]) == ["left", "more/deeper/static", "more/right"]
    npy = extract_features(
        backbone,
        plain_folder,
        ExtractionArguments(stride=8),
        processor=PROCESSOR,
        num_workers=0,
        progress=False,
    )
    row = table[2]
    assert np.allclose(row["features"], npy["more/right"].features, atol=1e-2)
    assert row["start_times"].tolist() == pytest.approx(npy["more/right"].start_times.tolist())
    assert not (tmp_path / "parts").exists()


def test_a_dataset_layout_gives_class_folder_names(tiny_ucf_root, tmp_path):
    """A UCF-101-layout folder (its split files list videos absent here: left out) and the same videos as a
    plain folder name the outputs alike; a DatasetDict passed in is read the same way."""
    root = tmp_path / "ucf"
    shutil.copytree(tiny_ucf_root / "ucfTrainTestlist", root / "ucfTrainTestlist")
    for name in VIDEOS:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_ucf_root / f"{name}.mp4", root / f"{name}.mp4")
    layout = open_videos(root)
    assert sorted(video_ids(video_paths(layout))) == sorted(VIDEOS)
    shutil.rmtree(root / "ucfTrainTestlist")
    assert sorted(video_ids(video_paths(open_videos(root)))) == sorted(VIDEOS)
    splits = datasets.DatasetDict(
        train=datasets.Dataset.from_dict({"clip": [str(root / f"{VIDEOS[0]}.mp4")]})
    )
    assert video_ids(video_paths(open_videos(splits, video_column="clip"))) == ["v_MoveLeft_g02_c01"]


def test_the_temporal_head_example_learns_from_the_arrays(backbone, tiny_ucf_root, tmp_path):
    """examples/temporal_head.py trains on what `write_features` writes and its loss goes down."""
    import importlib.util

    videos = tmp_path / "videos"
    for path in sorted(tiny_ucf_root.glob("Move*/*_c01.mp4")):
        (videos / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, videos / path.parent.name / path.name)
    write_features(backbone, videos, tmp_path / "features", ExtractionArguments(stride=4), processor=PROCESSOR,
                   num_workers=0, progress=False)  # fmt: skip
    spec = importlib.util.spec_from_file_location(
        "temporal_head", Path(__file__).parents[2] / "examples" / "temporal_head.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.main([str(tmp_path / "features"), "--steps", "60", "--lr", "1e-2"])
    assert result["last_loss"] < result["first_loss"]
    assert 0.0 <= result["accuracy_after"] <= 1.0


def test_a_flow_pretraining_checkpoint_reads_the_flow_videos(tiny_ucf_root, tmp_path):
    """A ViCC flow checkpoint (2-channel backbone) gives the features of `<stem>.flow.mp4`, not of the RGB
    video, and the flow video is no video of its own."""
    videos = tmp_path / "videos"
    videos.mkdir()
    shutil.copy(tiny_ucf_root / f"{VIDEOS[0]}.mp4", videos / "clip.mp4")
    info = probe_video(videos / "clip.mp4")
    flow = np.random.default_rng(0).normal(0, 3, (info.video_frames, info.height, info.width, 2))
    write_video(
        flow_path_for(videos / "clip.mp4"),
        encode_flow(flow.astype(np.float32)),
        fps=info.fps,
        codec=RGB_CODEC,
    )
    torch.manual_seed(0)
    backbone_config = {"model_type": "vssl-r3d", "depth": 10, "width_multiplier": 0.125}
    config = ViCCConfig(stream="flow", flow_channels=2, backbone_config=backbone_config, num_frames=4, crop_size=32,
                        frame_size=[40, 50])  # fmt: skip
    ViCCForPretraining(config).save_pretrained(tmp_path / "vicc-flow")

    result = extract_features(
        tmp_path / "vicc-flow", videos, ExtractionArguments(stride=8), num_workers=0, progress=False
    )
    assert list(result) == ["clip"]
    backbone = AutoModel.from_pretrained(tmp_path / "vicc-flow").eval()
    processor = default_processor(backbone, str(tmp_path / "vicc-flow"))
    starts = result["clip"].start_frames
    expected = clips_forward(backbone, flow_path_for(videos / "clip.mp4"), starts, processor, None)
    assert np.allclose(result["clip"].features, expected, rtol=1e-4, atol=1e-5)
    rgb = clips_forward(backbone, videos / "clip.mp4", starts, processor, None)
    assert not np.allclose(result["clip"].features, rgb, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"stride": 4, "fps": 2.0}, "either stride"),
        ({"level": "top"}, r"level must be one of low, mid, high, final, got 'top'"),
        ({"fps": 0.0}, "fps must be > 0"),
        ({"format": "hdf5"}, "format must be one of"),
    ],
)
def test_extraction_arguments_refuse_what_cannot_work(options, message):
    with pytest.raises(ValueError, match=message):
        ExtractionArguments(**options)
