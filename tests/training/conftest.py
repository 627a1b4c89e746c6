"""Fixtures of the training tests: the tiny synthetic dataset opened as a DatasetDict, and the tiny
test method registered."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tiny_method.py, also imported by the worker script

import tiny_method


@pytest.fixture(scope="session")
def tiny_dataset(tiny_ucf_root):
    from hf_vssl.data.sources import load_video_dataset

    return load_video_dataset(tiny_ucf_root)


@pytest.fixture(scope="session")
def tiny_spec():
    return tiny_method.register()
