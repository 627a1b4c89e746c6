"""The synthetic action dataset: UCF-101 layout, exact split files, determinism, motion-defined classes."""

from __future__ import annotations

import numpy as np
import pytest

from hf_vssl.data.decoding import probe_video
from hf_vssl.data.synthetic import CLASS_MOTIONS, PRESETS, _motion, make_synthetic_ucf, render_video


def test_tiny_layout_and_split_files(tiny_ucf_root):
    preset = PRESETS["tiny"]
    lists = tiny_ucf_root / "ucfTrainTestlist"
    class_ind = [line.split() for line in (lists / "classInd.txt").read_text().splitlines()]
    assert class_ind == [[str(i + 1), name] for i, name in enumerate(preset.classes)]
    train = [line.split() for line in (lists / "trainlist01.txt").read_text().splitlines()]
    test = (lists / "testlist01.txt").read_text().split()
    assert len(train) == 6 * 4 and len(test) == 6 * 2
    for relpath, label in train:
        class_name = relpath.split("/")[0]
        assert int(label) == preset.classes.index(class_name) + 1  # 1-based, as UCF-101
        assert "_g01_" not in relpath  # split 1 tests on group 1
        assert (tiny_ucf_root / relpath).is_file()
    assert all("_g01_" in relpath for relpath in test)
    info = probe_video(tiny_ucf_root / test[0])
    assert (info.height, info.width) == (64, 80) and 40 <= info.num_frames <= 48


def test_rendering_is_deterministic_and_appearance_varies():
    preset = PRESETS["tiny"]
    first = render_video("MoveLeft", preset, np.random.default_rng([0, 1]))
    again = render_video("MoveLeft", preset, np.random.default_rng([0, 1]))
    other = render_video("MoveLeft", preset, np.random.default_rng([0, 2]))
    np.testing.assert_array_equal(first, again)
    assert first.shape[1:] == (64, 80, 3) and first.dtype == np.uint8
    # same class, another seed: a different look (mean colour), not a copy
    assert np.abs(first[0].mean((0, 1)) - other[0].mean((0, 1))).max() > 5


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("MoveRight", lambda x, y, a, s: np.all(np.diff(x) > 0) and np.ptp(y) == 0),
        ("MoveLeft", lambda x, y, a, s: np.all(np.diff(x) < 0)),
        ("MoveUp", lambda x, y, a, s: np.all(np.diff(y) < 0) and np.ptp(x) == 0),
        ("RotateClockwise", lambda x, y, a, s: np.all(np.diff(a) > 0) and np.ptp(x) == 0),
        ("RotateCounterclockwise", lambda x, y, a, s: np.all(np.diff(a) < 0)),
        ("ZoomIn", lambda x, y, a, s: np.all(np.diff(s) > 0)),
        ("ZoomOut", lambda x, y, a, s: np.all(np.diff(s) < 0)),
        ("Oscillate", lambda x, y, a, s: np.any(np.diff(x) > 0) and np.any(np.diff(x) < 0)),
        ("Still", lambda x, y, a, s: np.ptp(x) == np.ptp(y) == np.ptp(a) == np.ptp(s) == 0),
    ],
)
def test_class_motions(name, check):
    for seed in range(5):
        x, y, angle, scale = _motion(*CLASS_MOTIONS[name], 48, 96, 128, 20.0, np.random.default_rng(seed))
        assert check(x, y, angle, scale), name
        assert x.min() >= 0 and x.max() <= 128 and y.min() >= 0 and y.max() <= 96


def test_existing_build_is_reused_and_conflicts_are_errors(tiny_ucf_root):
    stamp = (tiny_ucf_root / "MoveLeft" / "v_MoveLeft_g01_c01.mp4").stat().st_mtime_ns
    assert make_synthetic_ucf(tiny_ucf_root, "tiny", seed=0) == tiny_ucf_root
    assert (tiny_ucf_root / "MoveLeft" / "v_MoveLeft_g01_c01.mp4").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="already holds"):
        make_synthetic_ucf(tiny_ucf_root, "tiny", seed=1)
    with pytest.raises(ValueError, match="unknown synthetic preset"):
        make_synthetic_ucf(tiny_ucf_root, "huge")
