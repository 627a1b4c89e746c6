"""Index math of every clip sampler, including short videos (never an out-of-range index)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from hf_vssl.data.samplers import (
    PaceSampler,
    SingleClipSampler,
    WindowSampler,
    dense_clips,
    difference_clip,
    pace_clip,
    random_clip,
    static_clip,
    uniform_clips,
    window_clips,
)
from hf_vssl.methods.vicc import ViCCSampler


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_random_clip_is_strided_and_in_range():
    for seed in range(20):
        clip = random_clip(50, rng(seed), num_frames=8, stride=3)
        assert clip.dtype == np.int64 and clip.shape == (8,)
        assert np.all(np.diff(clip) == 3) and clip[0] >= 0 and clip[-1] < 50


def test_short_video_policies():
    np.testing.assert_array_equal(random_clip(5, rng(), num_frames=8), [0, 1, 2, 3, 4, 0, 1, 2])
    np.testing.assert_array_equal(
        random_clip(5, rng(), num_frames=8, short_policy="clamp"), [0, 1, 2, 3, 4, 4, 4, 4]
    )
    with pytest.raises(ValueError, match="5 frames but the clip spans 8"):
        random_clip(5, rng(), num_frames=8, short_policy="error")
    with pytest.raises(ValueError, match="0 frames"):
        random_clip(0, rng(), num_frames=8)


def test_window_clips_split_and_overview():
    for seed in range(20):
        clip0, clip1, overview = window_clips(
            200, rng(seed), num_frames=16, max_stride=3, continuous_stride=False
        )
        window = np.concatenate([clip0, clip1])
        stride = window[1] - window[0]
        assert 1 <= stride <= 3 and np.all(np.diff(window) == stride)  # 32 consecutive samples at one stride
        assert len(clip0) == len(clip1) == 16 and clip1[0] == clip0[-1] + stride
        np.testing.assert_array_equal(overview, window[::2])  # every second frame of the window
        assert window[-1] < 200


def test_window_stride_capped_by_video_length():
    # N // 32 = 1: the stride must stay 1 whatever max_stride says (MFO supp.: min(3, N / 32))
    strides = {
        int(np.diff(window_clips(40, rng(seed), num_frames=16, continuous_stride=False)[0])[0])
        for seed in range(30)
    }
    assert strides == {1}


def _released_sample_frame(frames: int, generator: np.random.Generator) -> np.ndarray:
    """The released MFO/SDC `dataloader.py` `Kinetics_Data.sample_frame` (seq 16, sample 2, sr [1, 3]),
    transcribed with a numpy Generator in place of the global np.random."""
    max_sr = min(3, frames / 32)
    sr = generator.uniform(1, max_sr)
    start = generator.integers(0, int(frames - sr * 32) + 1)
    return np.minimum(np.round(sr * np.arange(32) + start), frames - 1)


def test_window_stride_is_continuous_as_released():
    # released MFO/SDC dataloader.py: the stride is a real number in [1, min(3, N / 32)], frames rounded
    assert WindowSampler().continuous_stride
    fractional = 0
    for frames in (33, 40, 64, 97, 150, 300):
        for seed in range(10):
            clip0, clip1, overview = window_clips(frames, rng(seed), num_frames=16)
            window = np.concatenate([clip0, clip1])
            np.testing.assert_array_equal(window, _released_sample_frame(frames, rng(seed)))
            np.testing.assert_array_equal(overview, window[::2])
            fractional += len(set(np.diff(window).tolist())) > 1
    assert fractional > 0  # the integer switch would give one step per window


def test_sdc_static_offset_shared_as_released():
    # released SDC dataloader.py: frame_1 = images[back_idx], frame_2 = images[back_idx + seq]
    assert WindowSampler().shared_static_offset

    def offsets(sampler: WindowSampler, seed: int) -> tuple[int, int]:
        views = sampler(200, rng(seed)).views
        return tuple(int(np.flatnonzero(views[f"clip{i}"] == views[f"static{i}"][0])[0]) for i in range(2))

    shared = WindowSampler(num_frames=8, static=True)
    assert all(a == b for a, b in (offsets(shared, seed) for seed in range(20)))
    per_clip = WindowSampler(num_frames=8, static=True, shared_static_offset=False)
    assert any(a != b for a, b in (offsets(per_clip, seed) for seed in range(20)))


def test_pace_fast_slow_and_backward():
    clip = pace_clip(100, rng(1), num_frames=8, pace=2)
    np.testing.assert_array_equal(clip, clip[0] + 2 * np.arange(8))  # start, start+2, ...
    slow = pace_clip(100, rng(1), num_frames=8, pace=Fraction(1, 2))
    np.testing.assert_array_equal(slow, slow[0] + np.repeat(np.arange(4), 2))  # each frame twice
    slow3 = pace_clip(100, rng(1), num_frames=6, pace=Fraction(1, 3))
    np.testing.assert_array_equal(slow3, slow3[0] + np.repeat(np.arange(2), 3))
    backward = pace_clip(100, rng(1), num_frames=8, pace=-3)
    np.testing.assert_array_equal(backward, backward[0] - 3 * np.arange(8))
    np.testing.assert_array_equal(pace_clip(100, rng(1), 8, 3, backward=True), backward)
    with pytest.raises(ValueError, match="not both"):
        pace_clip(100, rng(), 8, -2, backward=True)


def test_pace_end_policies():
    # 10 frames, pace 2, 8 frames: the clip cannot fit, so it starts at 0 and runs past the end at step 5
    np.testing.assert_array_equal(pace_clip(10, rng(), 8, 2, end_policy="wrap"), [0, 2, 4, 6, 8, 0, 2, 4])
    np.testing.assert_array_equal(pace_clip(10, rng(), 8, 2, end_policy="clamp"), [0, 2, 4, 6, 8, 9, 9, 9])
    np.testing.assert_array_equal(pace_clip(9, rng(), 8, 2, end_policy="loop"), [0, 2, 4, 6, 8, 1, 3, 5])
    # wrap restarts at frame 0 (the original code), loop continues modulo the length
    np.testing.assert_array_equal(pace_clip(9, rng(), 8, 2, end_policy="wrap"), [0, 2, 4, 6, 8, 0, 2, 4])
    for seed in range(30):
        clip = pace_clip(20, rng(seed), 16, 4, start_anywhere=True)
        assert clip.min() >= 0 and clip.max() < 20


def test_static_and_difference_views():
    clip = np.arange(10, 26, 2)
    static = static_clip(clip, rng(3))
    assert len(static) == len(clip) and len(set(static.tolist())) == 1 and static[0] in clip
    np.testing.assert_array_equal(difference_clip(clip, 100), np.append(clip, 26))
    np.testing.assert_array_equal(
        difference_clip(np.array([96, 98]), 99), [96, 98, 98]
    )  # end of video: clamp


def test_uniform_and_dense_clips():
    clips = uniform_clips(100, num_frames=16, num_clips=10)
    assert clips.shape == (10, 16)
    assert clips[0, 0] == 0 and clips[-1, -1] == 99  # spread from the first to the last possible start
    assert np.all(np.diff(clips[:, 0]) > 0)
    dense = dense_clips(100, num_frames=16, window_stride=16)
    np.testing.assert_array_equal(dense[:, 0], [0, 16, 32, 48, 64, 80])
    assert dense_clips(10, num_frames=16, window_stride=4).shape == (1, 16)  # short video: one looped clip
    assert uniform_clips(10, num_frames=16).max() < 10


def test_method_samplers_views_and_targets():
    two = ViCCSampler(num_frames=8, streams=("rgb", "flow"))(60, rng())
    assert set(two.views) == {"clip0", "clip1", "flow0", "flow1"}
    np.testing.assert_array_equal(two.views["flow1"], two.views["clip1"])
    window = WindowSampler(num_frames=4, static=True, difference=True)(60, rng())
    assert set(window.views) == {"clip0", "clip1", "overview", "static0", "static1", "diff0", "diff1"}
    assert len(window.views["diff0"]) == 5
    assert SingleClipSampler(num_frames=4)(60, rng()).views["clip"].shape == (4,)


def test_pace_sampler_labels_match_indices():
    sampler = PaceSampler(num_frames=8, paces=(1, 2, 3, 4), backward="signed", num_clips=2)
    assert sampler.num_classes == 8
    for seed in range(20):
        sample = sampler(200, rng(seed))
        labels = [sample.targets["pace0"], sample.targets["pace1"]]
        assert labels[0] != labels[1]  # distinct paces for the same-context contrast
        for i, label in enumerate(labels):
            steps = np.diff(sample.views[f"clip{i}"])
            expected = (label % 4 + 1) * (-1 if label >= 4 else 1)
            assert np.all(steps == expected), (label, steps)
    with pytest.raises(ValueError, match="positive"):
        PaceSampler(paces=(1, -2))
