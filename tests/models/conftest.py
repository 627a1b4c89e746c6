"""Fixtures of the backbone tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """Tiny models are dispatch-bound: one intra-op thread avoids OpenMP barrier stalls on a shared, loaded CPU
    (measured: test_backbone_common.py ran in 8 s instead of 60-100 s at load 5 on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
