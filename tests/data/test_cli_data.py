"""`hf-vssl synth` and `hf-vssl extract-flow` through the real entry point."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from hf_vssl.cli.main import main
from hf_vssl.data.flow import flow_path_for
from hf_vssl.data.loaders import load_ucf101

HAS_CV2 = importlib.util.find_spec("cv2") is not None


def test_synth_reuses_a_matching_build_and_refuses_another_seed(tiny_ucf_root, tmp_path, capsys):
    out = tmp_path / "synthetic"
    shutil.copytree(tiny_ucf_root, out)  # a finished tiny build (seed 0): synth must not redo it
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--seed", "0"]) == 0
    assert "6 classes, 36 videos" in capsys.readouterr().out
    assert len(load_ucf101(out)["train"]) == 24
    assert main(["synth", "--preset", "tiny", "--out", str(out), "--seed", "1"]) == 2
    assert "already holds" in capsys.readouterr().err


def test_extract_flow_errors_are_one_line(tmp_path, capsys):
    assert main(["extract-flow", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert main(["extract-flow", str(tmp_path)]) == 2
    assert "no video files" in capsys.readouterr().err


@pytest.mark.skipif(HAS_CV2, reason="checks the message shown when OpenCV is missing")
def test_extract_flow_without_opencv_says_how_to_install(tiny_ucf_root, capsys):
    assert main(["extract-flow", str(tiny_ucf_root / "Still")]) == 2
    assert "hf-vssl[flow]" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_CV2, reason="needs opencv-contrib-python-headless (pip install 'hf-vssl[flow]')")
def test_extract_flow_writes_flow_videos(tiny_ucf_root, tmp_path, capsys):
    folder = tmp_path / "Still"
    shutil.copytree(tiny_ucf_root / "Still", folder)
    assert main(["extract-flow", str(folder), "--method", "farneback", "--workers", "2"]) == 0
    assert "6 written" in capsys.readouterr().out
    assert all(flow_path_for(video).is_file() for video in folder.glob("v_*_c0?.mp4"))
