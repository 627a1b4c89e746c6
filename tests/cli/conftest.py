"""The CLI tests use the training tests' tiny method (a real registered method)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "training"))

import tiny_method


@pytest.fixture(scope="session")
def tiny_method_name() -> str:
    return tiny_method.register().name
