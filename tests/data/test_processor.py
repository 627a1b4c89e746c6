"""VsslVideoProcessor: save/load beside a model, and the clips it produces."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import BatchFeature

from hf_vssl.data.augment import IMAGENET_MEAN, IMAGENET_STD
from hf_vssl.data.decoding import decode_frames, probe_video
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.samplers import uniform_clips


def small_processor(**overrides) -> VsslVideoProcessor:
    return VsslVideoProcessor(
        **({"num_frames": 4, "num_clips": 3, "frame_size": [36, 45], "crop_size": 32} | overrides)
    )


def test_save_and_load_round_trip(tmp_path):
    processor = small_processor(sampling="dense", window_stride=8, frame_stride=2)
    path = processor.save_pretrained(tmp_path)
    assert path.name == "video_preprocessor_config.json"
    assert json.loads(path.read_text())["crop_size"] == [32, 32]
    loaded = VsslVideoProcessor.from_pretrained(tmp_path)
    assert loaded == processor
    path.write_text(json.dumps(processor.to_dict() | {"bogus": 1}))
    with pytest.raises(ValueError, match="bogus"):
        VsslVideoProcessor.from_pretrained(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"video_preprocessor_config\.json"):
        VsslVideoProcessor.from_pretrained(tmp_path.parent)  # a folder without the config


def test_validation_names_the_field():
    with pytest.raises(ValueError, match="num_frames"):
        VsslVideoProcessor(num_frames=0)
    with pytest.raises(ValueError, match="crop_size"):
        VsslVideoProcessor(crop_size=[1, 2, 3])
    with pytest.raises(ValueError, match="larger than the decoded frames"):
        VsslVideoProcessor(frame_size=[100, 100], crop_size=112)


def test_clips_from_a_path_are_cropped_normalised_frames(tiny_ucf_root):
    video = next(tiny_ucf_root.glob("MoveRight/*.mp4"))
    processor = small_processor()
    pixel_values = processor(video)["pixel_values"]
    assert pixel_values.shape == (3, 3, 4, 32, 32)  # (num_clips, C, T, h, w)
    indices = uniform_clips(probe_video(video).video_frames, 4, 3)
    frames = decode_frames(video, indices.reshape(-1), size=(36, 45)).reshape(3, 4, 36, 45, 3)
    crop = torch.from_numpy(frames[:, :, 2:34, 6:38]).permute(0, 4, 1, 2, 3).float() / 255
    mean, std = (
        torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1, 1),
        torch.tensor(IMAGENET_STD).view(1, 3, 1, 1, 1),
    )
    torch.testing.assert_close(pixel_values, (crop - mean) / std)
    # decoded frames already at the resize size give the same result; a list is batched
    all_frames = decode_frames(video, np.arange(probe_video(video).video_frames), size=(36, 45))
    batched = processor([video, all_frames])["pixel_values"]
    assert batched.shape == (2, 3, 3, 4, 32, 32)
    torch.testing.assert_close(batched[1], pixel_values)


def test_call_takes_transformers_video_processor_arguments(tiny_ucf_root):
    video = next(tiny_ucf_root.glob("MoveRight/*.mp4"))
    processor = small_processor()
    out = processor(video)
    assert isinstance(out, BatchFeature)
    # num_frames: this call's clip length, the same clips as a processor built with it
    shorter = processor(video, num_frames=2)["pixel_values"]
    assert shorter.shape == (3, 3, 2, 32, 32)
    torch.testing.assert_close(shorter, small_processor(num_frames=2)(video)["pixel_values"])
    # do_sample_frames=False: the input is the clip (all frames of a file, an array, or clips)
    frames = decode_frames(video, np.arange(probe_video(video).video_frames), size=(36, 45))
    whole = processor(video, do_sample_frames=False)["pixel_values"]
    assert whole.shape == (1, 3, len(frames), 32, 32)
    torch.testing.assert_close(processor(frames, do_sample_frames=False)["pixel_values"], whole)
    clips = processor(np.stack([frames[:4], frames[4:8]]), do_sample_frames=False)["pixel_values"]
    torch.testing.assert_close(clips, whole[0, :, :8].reshape(3, 2, 4, 32, 32).transpose(0, 1))
    with pytest.raises(ValueError, match="do_sample_frames"):
        processor(video, num_frames=2, do_sample_frames=False)
    with pytest.raises(ValueError, match="return_tensors"):
        processor(video, return_tensors="np")


def test_return_tensors_none_keeps_videos_with_different_clip_counts(tiny_ucf_root):
    videos = sorted(tiny_ucf_root.glob("*/*.mp4"), key=lambda v: probe_video(v).video_frames)
    short, long = videos[0], videos[-1]
    processor = small_processor(sampling="dense", window_stride=4)
    counts = [len(processor(v)["pixel_values"]) for v in (short, long)]
    assert counts[0] != counts[1]
    with pytest.raises(ValueError, match="return_tensors=None"):
        processor([short, long])
    listed = processor([short, long], return_tensors=None)["pixel_values"]
    assert [len(p) for p in listed] == counts
