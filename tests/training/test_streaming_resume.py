"""`--streaming`: a run trained from Parquet shards and resumed from a checkpoint ends with exactly the weights
of the uninterrupted run, in the loop (decoding workers, accumulation) and through `accelerate launch` with two
gloo processes killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from hf_vssl.data.streaming import open_stream
from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.checkpointing import list_checkpoints
from hf_vssl.training.loop import TrainingArguments, fit
from hf_vssl.training.pretrain import build_stream_dataset, build_train_dataset

sys.path.insert(0, str(Path(__file__).parents[1] / "data"))

from parquet_shards import write_shards

TINY_CLI = Path(__file__).parents[1] / "cli" / "tiny_cli.py"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
LAUNCH = [
    sys.executable, "-m", "accelerate.commands.launch", "--main_process_port", "0", "--num_machines", "1",
    "--mixed_precision", "no", "--dynamo_backend", "no", "--multi_gpu", "--num_processes", "2",
]  # fmt: skip


@pytest.fixture(scope="module")
def shards(tiny_ucf_root, tmp_path_factory) -> Path:
    """24 train videos in 4 shards, one undecodable row besides (in shard 2)."""
    return write_shards(tiny_ucf_root, tmp_path_factory.mktemp("stream"), 4, broken_in=2)


def _train(spec, root, output_dir, max_steps, resume=None, shuffle_buffer_size=4):
    config = build_method_config(spec.name, overrides={"epochs": 2, "batch_size": 4})
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=2, max_steps=max_steps,
        save_steps=100, logging_steps=1, resume=resume, progress_bar=False, streaming=True,
        shuffle_buffer_size=shuffle_buffer_size,
    )  # fmt: skip
    train = build_stream_dataset(spec, config, open_stream(root), args)
    return model, fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)


def test_a_resumed_stream_ends_on_the_uninterrupted_weights(tiny_spec, shards, tmp_path):
    # 2 workers read shards 0+2 and 1+3 (13 and 12 rows): 3 batches of 4 each, 6 steps per epoch; stop at
    # step 3 (worker 1 is next: the resumed workers' round-robin must rotate), end at step 7 (in epoch 1)
    straight, straight_result = _train(tiny_spec, shards, tmp_path / "straight", max_steps=7)
    _train(tiny_spec, shards, tmp_path / "split", max_steps=3)
    assert [c.name for c in list_checkpoints(tmp_path / "split")] == ["checkpoint-3"]
    resumed, resumed_result = _train(tiny_spec, shards, tmp_path / "split", max_steps=7, resume=True)

    assert resumed_result.global_step == straight_result.global_step == 7
    skipped = [s["skipped_videos"] for s in straight_result.epoch_summaries]
    assert sum(skipped) >= 1  # the broken row was met, skipped and counted
    expected, actual = straight.state_dict(), resumed.state_dict()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_a_streaming_checkpoint_resumes_only_as_the_same_stream(tiny_spec, tiny_dataset, shards, tmp_path):
    _train(tiny_spec, shards, tmp_path / "run", max_steps=1)
    with pytest.raises(ValueError, match=r"streaming.shuffle_buffer_size: 4 -> 8"):
        _train(tiny_spec, shards, tmp_path / "run", max_steps=2, resume=True, shuffle_buffer_size=8)
    config = build_method_config(tiny_spec.name, overrides={"epochs": 2, "batch_size": 4})
    args = TrainingArguments(output_dir=tmp_path / "run", num_workers=0, resume=True, progress_bar=False)
    train = build_train_dataset(tiny_spec, config, tiny_dataset["train"], seed=0)
    recipe = OptimizerRecipe.from_config(config)
    with pytest.raises(ValueError, match=r"streaming.shuffle_buffer_size: 4 -> \(absent\)"):
        fit(tiny_spec.model_class(config), train, tiny_spec.build_augment(config), recipe, args)


def _pretrain(root: Path, output_dir: Path, workers: int, *extra: str) -> list[str]:
    return [
        str(TINY_CLI), "pretrain", "--method", "tiny-contrast", "--dataset", str(root), "--output-dir",
        str(output_dir), "--streaming", "--shuffle-buffer-size", "4", "--num-workers", str(workers), "--epochs",
        "2", "--batch-size", "4", "--save-steps", "1", "--logging-steps", "1", "--no-progress-bar", *extra,
    ]  # fmt: skip


def _start_rank(rank: int, port: int, argv: list[str]) -> subprocess.Popen:
    """One rank in a session of its own (with its decoding worker), started as `srun` starts a task: a
    launcher would outlive a SIGKILL of its group and restart or stop the ranks itself."""
    env = {**ENV, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2"}
    env |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    return subprocess.Popen(
        [sys.executable, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_streaming_run_killed_with_sigkill_resumes_on_the_uninterrupted_weights(shards, tmp_path, workers):
    # 2 processes x 1 worker: rank 0 reads shards 0+2 (and the broken row), rank 1 shards 1+3, 3 batches of
    # 2 each; x 2 workers: one shard each, 3 batches of 2 per worker. 6 steps per epoch, 12 in all; both ranks
    # are killed inside epoch 2 (after checkpoint-8) and resumed with accelerate launch
    straight = subprocess.run(
        [*LAUNCH, *_pretrain(shards, tmp_path / "straight", workers)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert straight.returncode == 0, straight.stdout[-3000:] + straight.stderr[-3000:]
    run, port = tmp_path / "run", _free_port()
    ranks = [_start_rank(rank, port, _pretrain(shards, run, workers)) for rank in (0, 1)]
    deadline = time.monotonic() + 300
    while not (run / "checkpoints" / "checkpoint-8").is_dir() and time.monotonic() < deadline:
        assert ranks[0].poll() is None, ranks[0].communicate()
        time.sleep(0.02)
    for rank in ranks:
        os.killpg(rank.pid, signal.SIGKILL)  # the rank and its decoding workers
    assert [rank.wait() for rank in ranks] == [-signal.SIGKILL] * 2, "a rank ended before it could be killed"
    resumed = subprocess.run(
        [*LAUNCH, *_pretrain(shards, run, workers, "--resume")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    resumed_line = next(line for line in resumed.stdout.splitlines() if line.startswith("resumed from"))
    step = int(resumed_line.rsplit("step ", 1)[1])
    assert resumed_line.endswith(f"checkpoint-{step}: epoch 2, step {step}") and 8 <= step < 12  # mid-epoch
    expected = load_file(tmp_path / "straight" / "model" / "model.safetensors")
    actual = load_file(run / "model" / "model.safetensors")
    assert expected.keys() == actual.keys()
    differences = {
        name: (expected[name].float() - actual[name].float()).abs().max().item() for name in expected
    }
    print(f"\n{resumed_line}\n{len(differences)} tensors, max abs difference {max(differences.values())}")
    assert max(differences.values()) == 0.0, differences
