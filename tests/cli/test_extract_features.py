"""`hf-vssl extract-features` as users run it, in subprocesses on real mp4s: a corrupt video is skipped and
listed in report.json; a run killed with SIGKILL leaves only whole files and its re-run finishes the rest
with the arrays of an uninterrupted run; two gloo processes (`accelerate launch`) write what one writes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModel

from hf_vssl.data.processor import VsslVideoProcessor

CLI = [sys.executable, "-m", "hf_vssl.cli.main", "extract-features"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
NUM_GOOD = 8


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved backbone with its video processor (the clips the command takes by default)."""
    folder = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125)).save_pretrained(
        folder
    )
    VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50]).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def videos(tiny_ucf_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain folder: NUM_GOOD synthetic mp4s and one file no decoder reads."""
    root = tmp_path_factory.mktemp("videos")
    for path in sorted(tiny_ucf_root.rglob("*.mp4"))[:NUM_GOOD]:
        shutil.copy(path, root / path.name)
    (root / "broken.mp4").write_bytes(b"not a video" * 100)
    return root


def argv(model_dir: Path, videos: Path, out: Path) -> list[str]:
    return [str(model_dir), "--dataset", str(videos), "--out", str(out), "--stride", "4", "--batch-size", "4",
            "--num-workers", "0", "--no-progress-bar"]  # fmt: skip


def arrays(out: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted(out.glob("*.npy"))}


@pytest.fixture(scope="module")
def reference(model_dir: Path, videos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted single-process run."""
    out = tmp_path_factory.mktemp("reference")
    done = subprocess.run(
        [*CLI, *argv(model_dir, videos, out)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{NUM_GOOD} videos extracted" in done.stdout and "skipped: " in done.stdout
    return out


def test_a_corrupt_video_is_skipped_and_listed(reference, videos):
    report = json.loads((reference / "report.json").read_text())
    assert (report["videos"], report["extracted"]) == (NUM_GOOD + 1, NUM_GOOD)
    assert list(report["skipped"]) == [str(videos / "broken.mp4")]
    assert len(arrays(reference)) == NUM_GOOD and not (reference / "broken.npy").exists()
    for name, features in arrays(reference).items():
        sidecar = json.loads((reference / f"{name}.json").read_text())
        assert features.shape == (sidecar["num_clips"], 64) and len(sidecar["start_times"]) == len(features)


def test_a_run_killed_with_sigkill_resumes_and_finishes(model_dir, videos, reference, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([*CLI, *argv(model_dir, videos, out)], env=ENV, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 240
    while len(list(out.glob("*.npy"))) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    finished = arrays(out)
    assert 2 <= len(finished) < NUM_GOOD
    for name, features in finished.items():  # every file under its final name is whole
        assert json.loads((out / f"{name}.json").read_text())["num_clips"] == len(features)

    done = subprocess.run(
        [*CLI, *argv(model_dir, videos, out)], capture_output=True, text=True, env=ENV, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["existing"] == len(finished) and report["extracted"] == NUM_GOOD - len(finished)
    assert not list(out.glob("*.partial"))
    resumed, expected = arrays(out), arrays(reference)
    assert resumed.keys() == expected.keys()
    for name in expected:
        assert np.allclose(resumed[name], expected[name], rtol=1e-4, atol=1e-5), name


@pytest.mark.slow
def test_two_gloo_processes_write_what_one_writes(model_dir, videos, reference, tmp_path):
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--main_process_port", "0",
              "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
              "-m", "hf_vssl.cli.main", "extract-features"]  # fmt: skip
    done = subprocess.run([*launch, *argv(model_dir, videos, tmp_path)], capture_output=True, text=True, env=ENV,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count("videos extracted") == 1  # the main process reports for both
    two, one = arrays(tmp_path), arrays(reference)
    assert two.keys() == one.keys()
    for name in one:
        assert np.allclose(two[name], one[name], rtol=1e-4, atol=1e-5), name
        assert (tmp_path / f"{name}.json").read_text() == (reference / f"{name}.json").read_text()
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["extracted"] == NUM_GOOD and list(report["skipped"]) == [str(videos / "broken.mp4")]
