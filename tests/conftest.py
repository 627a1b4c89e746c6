"""Shared fixtures for every area's tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hf_vssl.data.loaders import CACHE_ENV
from hf_vssl.data.synthetic import make_synthetic_ucf


@pytest.fixture(scope="session", autouse=True)
def video_metadata_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The loaders' video metadata caches of this session, kept out of the user's Hugging Face cache."""
    folder = tmp_path_factory.mktemp("video_metadata")
    patch = pytest.MonkeyPatch()
    patch.setenv(CACHE_ENV, str(folder))
    yield folder
    patch.undo()


@pytest.fixture(scope="session")
def tiny_ucf_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The "tiny" synthetic action dataset (6 motion classes x 6 mp4 videos of 40-48 frames at 64x80, UCF-101's
    layout: `<Class>/v_<Class>_gGG_cCC.mp4` + `ucfTrainTestlist/`), built once per test session (~2 s)."""
    return make_synthetic_ucf(tmp_path_factory.mktemp("tiny_ucf"), preset="tiny", seed=0)


@pytest.fixture(scope="session")
def tiny_videofolder(tiny_ucf_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Split 1 of the tiny set as `<split>/<Class>/<video>.mp4`, the tree `load_dataset("videofolder")` reads."""
    root = tmp_path_factory.mktemp("videofolder")
    for split, listing in (("train", "trainlist01.txt"), ("test", "testlist01.txt")):
        for line in (tiny_ucf_root / "ucfTrainTestlist" / listing).read_text().split("\n"):
            if line.strip():
                relative = line.split()[0]
                (root / split / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(tiny_ucf_root / relative, root / split / relative)
    return root
