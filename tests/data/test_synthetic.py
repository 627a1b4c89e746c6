"""The synthetic action dataset: UCF-101 layout, exact split files, determinism, motion-defined classes, and
the two-label presets (appearance family x motion class)."""

from __future__ import annotations

import collections
import dataclasses
import json
import shutil

import av
import numpy as np
import pytest

from hf_vssl.cli.main import main
from hf_vssl.data.decoding import probe_video, video_path
from hf_vssl.data.loaders import load_ucf101
from hf_vssl.data.synthetic import (
    BASIC_MOTIONS,
    CLASS_MOTIONS,
    ORDER_MOTIONS,
    PRESETS,
    _motion,
    make_synthetic_ucf,
    render_video,
)


@pytest.fixture(scope="module")
def two_label_root(tmp_path_factory):
    """The "two-label-tiny" build: 4 motion classes x 3 appearance families, 36 videos (~3 s)."""
    return make_synthetic_ucf(tmp_path_factory.mktemp("two_label"), "two-label-tiny", seed=0)


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
    assert (info.height, info.width) == (64, 80) and 40 <= info.video_frames <= 48


def test_rendering_is_deterministic_and_appearance_varies():
    preset = PRESETS["tiny"]
    first = render_video("MoveLeft", preset, np.random.default_rng([0, 1]))
    again = render_video("MoveLeft", preset, np.random.default_rng([0, 1]))
    other = render_video("MoveLeft", preset, np.random.default_rng([0, 2]))
    np.testing.assert_array_equal(first, again)
    assert first.shape[1:] == (64, 80, 3) and first.dtype == np.uint8
    # same class, another seed: a different look (mean colour), not a copy
    assert np.abs(first[0].mean((0, 1)) - other[0].mean((0, 1))).max() > 5


def _turns(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cross products of consecutive displacements: > 0 where the path turns clockwise on screen (y down)."""
    dx, dy = np.diff(x), np.diff(y)
    return dx[:-1] * dy[1:] - dy[:-1] * dx[1:]


@pytest.mark.parametrize(
    ("first", "second"), [("OrbitClockwise", "OrbitCounterclockwise"), ("SpeedUp", "SlowDown")]
)
def test_order_classes_share_their_per_frame_motion(first, second):
    """The order-only classes: from the same draws, the two classes move by the same per-frame displacements
    (the same speeds; the same set of directions over a full turn / the same direction), so one flow frame
    does not tell them apart, only the order of the displacements does."""
    for seed in range(3):
        paths = [
            _motion(*CLASS_MOTIONS[name], 48, 96, 128, 20.0, np.random.default_rng(seed))[:2]
            for name in (first, second)
        ]
        speeds = [np.sort(np.hypot(np.diff(x), np.diff(y))) for x, y in paths]
        np.testing.assert_allclose(speeds[0], speeds[1], rtol=1e-9)
        (x1, _), (x2, _) = paths
        assert not np.allclose(np.diff(x1), np.diff(x2))  # not the same motion
        if first == "SpeedUp":  # slowing down is speeding up played backwards: the same steps, reversed order
            np.testing.assert_allclose(np.diff(x2), np.diff(x1)[::-1], atol=1e-9)


def test_two_label_presets_hold_the_order_classes():
    assert set(ORDER_MOTIONS) <= set(PRESETS["two-label-order-small"].classes)
    assert set(ORDER_MOTIONS) <= set(PRESETS["two-label-order-large"].classes)
    # the one-label presets and the demo's two-label sets keep their classes and their videos (no marks)
    for name in ("two-label-small", "two-label-large"):
        assert PRESETS[name].classes == BASIC_MOTIONS and PRESETS[name].instance_marks == 0
    assert PRESETS["small"].classes == BASIC_MOTIONS and not set(ORDER_MOTIONS) & set(PRESETS["tiny"].classes)


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
        ("OrbitClockwise", lambda x, y, a, s: np.all(_turns(x, y) > 0)),
        ("OrbitCounterclockwise", lambda x, y, a, s: np.all(_turns(x, y) < 0)),
        ("SpeedUp", lambda x, y, a, s: np.all(np.diff(np.abs(np.diff(x))) > 0) and np.ptp(y) == 0),
        ("SlowDown", lambda x, y, a, s: np.all(np.diff(np.abs(np.diff(x))) < 0) and np.ptp(y) == 0),
    ],
)
def test_class_motions(name, check):
    for seed in range(5):
        x, y, angle, scale = _motion(*CLASS_MOTIONS[name], 48, 96, 128, 20.0, np.random.default_rng(seed))
        assert check(x, y, angle, scale), name
        assert x.min() >= 0 and x.max() <= 128 and y.min() >= 0 and y.max() <= 96


def test_existing_build_is_reused_and_conflicts_are_errors(tiny_ucf_root):
    # a one-label build's marker keeps its format from before the two-label presets: old builds are reused
    marker = json.loads((tiny_ucf_root / ".hf_vssl_synthetic.json").read_text())
    assert not {"appearances", "shade_jitter", "angle_jitter"} & set(marker["config"])
    stamp = (tiny_ucf_root / "MoveLeft" / "v_MoveLeft_g01_c01.mp4").stat().st_mtime_ns
    assert make_synthetic_ucf(tiny_ucf_root, "tiny", seed=0) == tiny_ucf_root
    assert (tiny_ucf_root / "MoveLeft" / "v_MoveLeft_g01_c01.mp4").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match="already holds"):
        make_synthetic_ucf(tiny_ucf_root, "tiny", seed=1)
    with pytest.raises(ValueError, match="unknown synthetic preset"):
        make_synthetic_ucf(tiny_ucf_root, "huge")


def test_one_label_presets_have_no_appearance_column(tiny_ucf_root):
    assert not (tiny_ucf_root / "ucfTrainTestlist" / "extra_labels.json").exists()
    assert "appearance_label" not in load_ucf101(tiny_ucf_root, num_workers=1)["train"].column_names


@pytest.mark.parametrize("split", [1, 2, 3])
def test_two_labels_are_columns_and_cross_every_pair_equally(two_label_root, split):
    preset = PRESETS["two-label-tiny"]
    data = load_ucf101(two_label_root, split=split, num_workers=1)
    for part, per_pair in (("train", 2), ("test", 1)):
        rows = data[part]
        assert rows.features["label"].names == list(preset.classes)  # label stays the motion (folder) class
        assert rows.features["appearance_label"].names == list(preset.appearances)
        for video, motion in zip(rows["video"], rows["label"]):
            assert f"/{preset.classes[motion]}/" in video_path(video)
        pairs = collections.Counter(zip(rows["label"], rows["appearance_label"]))
        # every (motion, appearance) pair, equally often: the labels are exactly independent in each part
        assert set(pairs) == {(m, a) for m in range(4) for a in range(3)}
        assert set(pairs.values()) == {per_pair}


def _first_frame_statistics(rows) -> np.ndarray:
    """(N, 6): per-channel mean and std of each video's first decoded frame."""
    features = []
    for video in rows["video"]:
        with av.open(video_path(video)) as container:
            frame = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float64)
        features.append(np.concatenate([frame.mean((0, 1)), frame.std((0, 1))]))
    return np.stack(features)


def _nearest_centroid_accuracy(train_x, train_y, test_x, test_y) -> float:
    classes = np.unique(train_y)
    centroids = np.stack([train_x[train_y == c].mean(0) for c in classes])
    predicted = classes[np.linalg.norm(test_x[:, None] - centroids[None], axis=-1).argmin(1)]
    return float((predicted == test_y).mean())


def test_one_frame_tells_the_appearance_not_the_motion(two_label_root):
    data = load_ucf101(two_label_root, split=1, num_workers=1)
    train_x, test_x = _first_frame_statistics(data["train"]), _first_frame_statistics(data["test"])
    scale = train_x.std(0)
    train_x, test_x = train_x / scale, test_x / scale
    accuracy = {
        column: _nearest_centroid_accuracy(
            train_x, np.array(data["train"][column]), test_x, np.array(data["test"][column])
        )
        for column in ("appearance_label", "label")
    }
    assert accuracy["appearance_label"] == 1.0, accuracy  # chance: 1/3
    assert accuracy["label"] <= 0.5, accuracy  # chance: 1/4 (12 test videos)


def test_appearance_varies_within_a_family_and_differs_between_families():
    preset = PRESETS["two-label-tiny"]
    first = render_video("MoveRight", preset, np.random.default_rng([0, 1]), "RedDisc")
    again = render_video("MoveRight", preset, np.random.default_rng([0, 1]), "RedDisc")
    other = render_video("MoveRight", preset, np.random.default_rng([0, 2]), "RedDisc")
    green = render_video("MoveRight", preset, np.random.default_rng([0, 1]), "GreenSquare")
    np.testing.assert_array_equal(first, again)
    mean = first[0].mean((0, 1))
    within = np.abs(mean - other[0].mean((0, 1))).max()
    between = np.abs(mean - green[0].mean((0, 1))).max()
    assert 1 < within < 40 < between, (within, between)  # a shade of the family's colours, not another family


def test_instance_marks_are_grey_spots_of_each_video():
    """Per-video cues that colour jitter and grey keep: a few dark / bright spots, at each video's own places."""
    preset = PRESETS["two-label-tiny"]
    plain = dataclasses.replace(preset, instance_marks=0)
    marked = render_video("Still", preset, np.random.default_rng([0, 1]), "RedDisc")
    unmarked = render_video("Still", plain, np.random.default_rng([0, 1]), "RedDisc")
    other = render_video("Still", preset, np.random.default_rng([0, 2]), "RedDisc")
    spots = np.abs(marked[0].astype(int) - unmarked[0]).max(-1) > 40
    assert 0.01 < spots.mean() < 0.2, spots.mean()  # local marks, not a new look
    luminance = marked[0][spots].astype(float).mean(-1)
    # dark or bright whatever the family's colour (but at the spots' soft edges)
    assert np.mean((luminance < 70) | (luminance > 180)) > 0.7
    other_plain = render_video("Still", plain, np.random.default_rng([0, 2]), "RedDisc")
    other_spots = np.abs(other[0].astype(int) - other_plain[0]).max(-1) > 40
    assert (spots & other_spots).sum() < 0.5 * spots.sum()  # another video of the family: other places
    with pytest.raises(ValueError, match="instance_marks"):
        dataclasses.replace(preset, instance_marks=-1)


def test_two_label_preset_validation():
    preset = PRESETS["two-label-tiny"]
    with pytest.raises(ValueError, match="unknown appearance families"):
        dataclasses.replace(preset, appearances=("Plaid",))
    with pytest.raises(ValueError, match="multiple of the 3 appearances"):
        dataclasses.replace(preset, clips_per_group=4)


def test_synth_command_writes_the_two_label_preset(two_label_root, tmp_path, capsys):
    out = tmp_path / "two-label"
    shutil.copytree(two_label_root, out)  # a finished build of the same preset and seed: reused, not redone
    assert main(["synth", "--preset", "two-label-tiny", "--out", str(out)]) == 0
    assert "4 classes x 3 appearance families, 36 videos" in capsys.readouterr().out
