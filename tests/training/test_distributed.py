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
PRETRAIN_EXAMPLE = Path(__file__).parents[2] / "examples" / "pretrain.py"


def _launch_two(script: Path, *script_args: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--main_process_port", "0",
        "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        str(script), *script_args,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_two_processes_match_one_process_on_the_same_global_batch(tiny_ucf_root, tmp_path):
    (tmp_path / "two").mkdir()
    _launch_two(WORKER, "--root", str(tiny_ucf_root), "--output-dir", str(tmp_path / "two"), "--steps", "3")
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


def test_two_process_mfo_trains_through_its_stage_switch(tiny_ucf_root, tmp_path):
    """MFO's stage 1 leaves the low / mid heads without gradient: DDP must be told to look for idle
    parameters (the model says so), or the second step fails. Epoch 0 is stage 1, epoch 1 stage 2."""
    run_dir = tmp_path / "mfo"
    method = ["--method", "mfo", "--set", "graph_start_epoch=1", "--set", "queue_size=16"]
    recipe = ["--set", "num_prototypes=8", "--set", "projection_dim=16", "--set", "frame_size=[40,50]"]
    clip = ["--set", "crop_size=16", "--set", "num_frames=16", "--epochs", "2", "--batch-size", "8"]
    network = ["--backbone-config", "width_multiplier=0.125", "--backbone-config", "depth=10"]
    data = ["--dataset", str(tiny_ucf_root), "--num-workers", "0", "--output-dir", str(run_dir)]
    done = _launch_two(PRETRAIN_EXAMPLE, *method, *recipe, *clip, *network, *data, "--no-progress-bar")
    assert "run: 2 process(es), gloo, device cpu, precision no, per-process batch 4" in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"], done.stdout
    assert "low_graph" not in epoch_lines[0] and "low_graph" in epoch_lines[1]  # the stage switch happened
    assert (run_dir / "model" / "model.safetensors").is_file()
