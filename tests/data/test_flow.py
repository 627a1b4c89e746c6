"""Optical flow: ViCC's encoding round-trip (no OpenCV needed), extraction and RGB/flow pairing (OpenCV)."""

from __future__ import annotations

import importlib.util
import shutil

import numpy as np
import pytest

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import decode_frames, probe_video
from hf_vssl.data.encoding import RGB_CODEC, write_video
from hf_vssl.data.flow import (
    FLOW_BOUND,
    decode_flow,
    encode_flow,
    extract_flow_videos,
    flow_path_for,
    is_flow_video,
)
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.methods.vicc import ViCCSampler

HAS_CV2 = importlib.util.find_spec("cv2") is not None


def test_encoding_layout_and_round_trip():
    flow = np.random.default_rng(0).uniform(-30, 30, (3, 8, 10, 2)).astype(np.float32)
    image = encode_flow(flow)
    assert image.dtype == np.uint8 and image.shape == (3, 8, 10, 3)
    assert np.all(image[..., 0] == 128)  # channels (128, v, u)
    np.testing.assert_array_equal(image[..., 1], np.rint((np.clip(flow[..., 1], -20, 20) + 20) * 255 / 40))
    clipped = np.clip(flow, -FLOW_BOUND, FLOW_BOUND)
    np.testing.assert_allclose(
        decode_flow(image), clipped, atol=40 / 255 / 2 + 1e-5
    )  # half a quantisation step
    assert encode_flow(np.zeros((1, 1, 2)))[0, 0].tolist() == [128, 128, 128]


def test_encoded_flow_survives_the_flow_video_codec(tmp_path):
    """Flow videos use lossless RGB H.264, so decoding gives back the exact encoded bytes."""
    flow = np.random.default_rng(1).uniform(-20, 20, (5, 16, 24, 2)).astype(np.float32)
    path = write_video(tmp_path / "x.flow.mp4", encode_flow(flow), codec=RGB_CODEC)
    np.testing.assert_array_equal(decode_frames(path, range(5)), encode_flow(flow))
    assert is_flow_video(path) and not is_flow_video(tmp_path / "x.mp4")
    assert flow_path_for(tmp_path / "v_A_g01_c01.avi") == tmp_path / "v_A_g01_c01.flow.mp4"


@pytest.mark.skipif(HAS_CV2, reason="checks the message shown when OpenCV is missing")
def test_missing_opencv_says_how_to_install(tiny_ucf_root):
    with pytest.raises(ImportError, match="hf-vssl\\[flow\\]"):
        extract_flow_videos([next(tiny_ucf_root.glob("*/*.mp4"))])


@pytest.mark.skipif(not HAS_CV2, reason="needs opencv-contrib-python-headless (pip install 'hf-vssl[flow]')")
def test_extraction_is_resumable_and_pairs_with_rgb(tiny_ucf_root, tmp_path):
    root = tmp_path / "ucf"
    shutil.copytree(tiny_ucf_root, root)
    videos = sorted(root.glob("MoveRight/*_g01_*.mp4"))  # split 1's test videos of one class
    report = extract_flow_videos(videos, method="farneback")
    assert len(report.written) == len(videos) and not report.failed
    again = extract_flow_videos(videos, method="farneback")
    assert len(again.existing) == len(videos) and not again.written  # resumed: nothing recomputed
    flow_video = flow_path_for(videos[0])
    assert probe_video(flow_video).video_frames == probe_video(videos[0]).video_frames  # same frame indices
    flow = decode_flow(decode_frames(flow_video, [10]))
    assert np.median(flow[0, ..., 0][np.abs(flow[0, ..., 0]) > 0.2]) > 0  # the object moves right: u > 0

    test = load_ucf101(root, split=1)["test"]
    assert "flow" in test.column_names
    moving = test.filter(lambda row: row["flow"] is not None)
    dataset = VideoClipDataset(
        moving, ViCCSampler(num_frames=4, streams=("rgb", "flow")), frame_size=(32, 40)
    )
    item = dataset[0]
    assert item["views"]["flow0"].shape == item["views"]["clip0"].shape == (4, 32, 40, 3)
    assert np.all(item["views"]["flow0"][..., 0].numpy() == 128)
