"""PyAV decoding: same frames as a straight decode, resize while decoding, named errors for bad files."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from hf_vssl.data.decoding import RESIZE_INTERPOLATION, VideoDecodeError, decode_frames, probe_video
from hf_vssl.data.encoding import write_video

NUM_FRAMES, HEIGHT, WIDTH = 60, 48, 64


def _moving_frames(num_frames: int = NUM_FRAMES) -> np.ndarray:
    """uint8 (T, H, W, 3): a bright square sliding right over a gradient, so every frame differs."""
    frames = np.zeros((num_frames, HEIGHT, WIDTH, 3), dtype=np.uint8)
    frames[..., 1] = np.linspace(0, 200, WIDTH, dtype=np.uint8)
    for t in range(num_frames):
        x = t % (WIDTH - 12)
        frames[t, 10:22, x : x + 12] = (250, 40, 40)
    return frames


def _straight_decode(path: Path, **convert) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24", **convert) for frame in container.decode(video=0)]


@pytest.fixture(scope="module", params=[".mp4", ".avi", ".webm"])
def video_path(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("decode") / f"clip{request.param}"
    return write_video(path, _moving_frames(), fps=25, gop_size=8)


def test_probe_reads_count_rate_and_size(video_path):
    info = probe_video(video_path)
    assert (info.video_frames, info.width, info.height) == (NUM_FRAMES, WIDTH, HEIGHT)
    assert info.fps == pytest.approx(25.0)


def test_decode_matches_straight_pyav_decode(video_path):
    reference = _straight_decode(video_path)
    assert len(reference) == NUM_FRAMES
    # unordered, repeated, past several key frames (GOP 8) so the seek path is exercised
    indices = [41, 3, 3, 59, 17, 0, 40, 41, 33]
    frames = decode_frames(video_path, indices)
    assert frames.shape == (len(indices), HEIGHT, WIDTH, 3) and frames.dtype == np.uint8
    for row, index in enumerate(indices):
        np.testing.assert_array_equal(frames[row], reference[index], err_msg=f"frame {index}")


def test_over_reported_frame_count_reads_the_last_frame(video_path):
    """A container may count a frame or two more than it decodes: those indices read the last frame."""
    reference = _straight_decode(video_path)
    frames = decode_frames(video_path, [5, NUM_FRAMES, NUM_FRAMES + 1])
    np.testing.assert_array_equal(frames[0], reference[5])
    np.testing.assert_array_equal(frames[1], reference[-1])
    np.testing.assert_array_equal(frames[2], reference[-1])
    with pytest.raises(VideoDecodeError, match="truncated"):
        decode_frames(video_path, [NUM_FRAMES + 5])


def test_resize_while_decoding_matches_swscale(video_path):
    reference = _straight_decode(video_path, width=32, height=24, interpolation=RESIZE_INTERPOLATION)
    frames = decode_frames(video_path, [5, 50], size=(24, 32))
    assert frames.shape == (2, 24, 32, 3)
    np.testing.assert_array_equal(frames[1], reference[50])
    assert decode_frames(video_path, [0], short_side=24).shape == (1, 24, 32, 3)


def test_empty_file_raises_named_error(tmp_path):
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(VideoDecodeError, match=r"empty\.mp4") as info:
        decode_frames(path, [0])
    assert info.value.path == str(path)
    with pytest.raises(VideoDecodeError, match="empty"):
        probe_video(path)


def test_garbage_and_missing_files_raise_named_error(tmp_path):
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(VideoDecodeError, match=r"garbage\.avi"):
        decode_frames(garbage, [0])
    with pytest.raises(VideoDecodeError, match="does not exist"):
        probe_video(tmp_path / "missing.mp4")


def test_truncated_file_raises_named_error(tmp_path):
    """An avi cut in half still opens (its header promises 60 frames) but its last frames are gone."""
    full = write_video(tmp_path / "full.avi", _moving_frames(), gop_size=8)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(VideoDecodeError, match=r"cut\.avi.*truncated"):
        decode_frames(cut, [NUM_FRAMES - 1])


def test_bad_indices_are_value_errors(video_path):
    with pytest.raises(ValueError, match="negative"):
        decode_frames(video_path, [-1])
    with pytest.raises(ValueError, match="no frame index"):
        decode_frames(video_path, [])


def test_groups_without_a_needed_frame_are_not_decoded(video_path):
    """A Pace-like plan (wrapped to frame 0, fast pace near the end) decodes the same frames with fewer decodes."""
    reference = _straight_decode(video_path)
    indices = [50, 54, 58, 0, 4]  # GOP 8: the groups starting at 8 ... 40 hold no needed frame
    skipped, linear = {}, {}
    frames = decode_frames(video_path, indices, stats=skipped)
    np.testing.assert_array_equal(
        decode_frames(video_path, indices, skip_unneeded=False, stats=linear), frames
    )
    for row, index in enumerate(indices):
        np.testing.assert_array_equal(frames[row], reference[index], err_msg=f"frame {index}")
    assert linear["decoded"] == 59  # frames 0 ... 58
    assert skipped["decoded"] <= 5 + 3 * 8  # frames 0-4 and the groups of 48, 56 (plus decoder delay)


def test_decode_from_bytes_in_memory(video_path):
    """A `Video(decode=False)` Parquet row holds the file's bytes: they decode like the file."""
    data = video_path.read_bytes()
    np.testing.assert_array_equal(decode_frames(data, [3, 30]), decode_frames(video_path, [3, 30]))
    assert probe_video(data).video_frames == NUM_FRAMES
    with pytest.raises(VideoDecodeError, match="bytes of video in memory"):
        decode_frames(data[:200], [0])
