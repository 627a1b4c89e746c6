"""Two CPU processes (`accelerate launch --multi_gpu --num_processes 2`: accelerate's torchrun launcher;
without an accelerator the processes form a gloo group): the ranks stay identical, and training
and feature extraction give what one process gives on the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ddp_worker
import torch

WORKER = Path(__file__).parent / "ddp_worker.py"


def _launch_two(root: Path, output_dir: Path) -> None:
    output_dir.mkdir(parents=True)
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--main_process_port", "0",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(WORKER), "--root", str(root), "--output-dir", str(output_dir), "--steps", "3", "--global-batch", "8",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_match_one_process_on_the_same_global_batch(tiny_ucf_root, tmp_path):
    _launch_two(tiny_ucf_root, tmp_path / "two")
    (tmp_path / "one").mkdir()
    ddp_worker.run(
        str(tiny_ucf_root), tmp_path / "one", steps=3, global_batch=8
    )  # the same code, one process
    assert json.loads((tmp_path / "two" / "world.json").read_text()) == {"num_processes": 2}

    rank0, rank1 = (torch.load(tmp_path / "two" / f"rank{r}.pt") for r in (0, 1))
    for name, tensor in rank0["state"].items():  # DDP + SyncBN keep the replicas bit-identical
        assert torch.equal(tensor, rank1["state"][name]), name

    single = torch.load(tmp_path / "one" / "rank0.pt")
    two_losses = json.loads((tmp_path / "two" / "losses.json").read_text())
    one_losses = json.loads((tmp_path / "one" / "losses.json").read_text())
    assert len(two_losses) == len(one_losses) == 3
    assert torch.allclose(torch.tensor(two_losses), torch.tensor(one_losses), rtol=1e-4, atol=1e-5)
    for name, tensor in single["state"].items():
        if tensor.is_floating_point():
            assert torch.allclose(tensor, rank0["state"][name], rtol=1e-3, atol=1e-4), name
    # the extraction split over two processes gathers every test video once, in order
    assert torch.equal(rank0["video_index"], single["video_index"])
    assert torch.allclose(rank0["features"], single["features"], rtol=1e-3, atol=1e-3)
