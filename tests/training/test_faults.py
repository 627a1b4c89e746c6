"""Faults of a cluster, one process: a full disk during a checkpoint, damaged checkpoints, two runs
started into one folder. Each either continues or stops in one line naming the cause and the way on,
and loses nothing that was saved."""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import time

import pytest
import torch

from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.checkpointing import (
    MANIFEST_FILE,
    PARTIAL_SUFFIX,
    CheckpointWriteError,
    checkpoint_damage,
    list_checkpoints,
)
from hf_vssl.training.loop import TrainingArguments, fit
from hf_vssl.training.pretrain import build_train_dataset
from hf_vssl.training.run_lock import LOCK_FILE, RunFolderLocked

FILE_LIMIT = 256 * 1024  # bytes: the JSON and RNG files of a tiny checkpoint fit, its ~1 MB weights do not


def _train(spec, dataset, output_dir, max_steps, **arguments):
    config = build_method_config(spec.name, overrides={"epochs": 2, "batch_size": 4})
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=max_steps, logging_steps=1, save_steps=1,
        save_total_limit=0, progress_bar=False, report_to="none", **arguments,
    )  # fmt: skip
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)
    return model


def _assert_same_weights(expected, actual):
    expected, actual = expected.state_dict(), actual.state_dict()
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), name


def test_a_full_disk_keeps_the_previous_checkpoint_and_resume_uses_it(tiny_spec, tiny_dataset, tmp_path):
    run = tmp_path / "run"
    _train(tiny_spec, tiny_dataset, run, max_steps=1)
    first = list_checkpoints(run)[-1]
    previous_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, hard))
    try:
        with pytest.raises(CheckpointWriteError) as error:
            _train(tiny_spec, tiny_dataset, run, max_steps=2, resume=True)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_handler)
    message = str(error.value)
    assert "\n" not in message
    assert f"cannot write checkpoint checkpoint-2 into {run / 'checkpoints'}" in message
    assert "File too large" in message and f"--resume continues from {first}" in message
    assert re.search(r"a checkpoint of this run needs about 1\.\d MiB, [\d.]+ MiB are free there", message)
    assert list_checkpoints(run) == [first] and checkpoint_damage(first) is None
    assert not list((run / "checkpoints").glob(f"*{PARTIAL_SUFFIX}"))  # nothing half-written remains

    resumed = _train(tiny_spec, tiny_dataset, run, max_steps=2, resume=True)
    _assert_same_weights(_train(tiny_spec, tiny_dataset, tmp_path / "straight", max_steps=2), resumed)


def _flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_resume_passes_over_damaged_checkpoints_and_refuses_when_none_is_intact(
    tiny_spec, tiny_dataset, tmp_path, capsys
):
    run = tmp_path / "run"
    _train(tiny_spec, tiny_dataset, run, max_steps=3)
    first, second, third = list_checkpoints(run)
    assert (first / MANIFEST_FILE).is_file()
    weights = third / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    _flip_byte(second / "optimizer.bin", 1000)  # same size, other bytes
    assert checkpoint_damage(third) == f"model.safetensors: {weights.stat().st_size} bytes, {weights.stat().st_size + 100} recorded"  # fmt: skip
    assert checkpoint_damage(second) == "optimizer.bin: its SHA-256 differs from the recorded one"
    capsys.readouterr()

    resumed = _train(tiny_spec, tiny_dataset, run, max_steps=4, resume=True)
    out = capsys.readouterr().out
    assert f"warning: --resume: {third} is damaged (model.safetensors:" in out
    assert f"warning: --resume: {second} is damaged (optimizer.bin:" in out
    assert f"resumed from {first}" in out
    _assert_same_weights(_train(tiny_spec, tiny_dataset, tmp_path / "straight", max_steps=4), resumed)

    _flip_byte(second / "optimizer.bin", 1000)  # the resumed run wrote checkpoints 2 to 4 anew
    with pytest.raises(ValueError, match=rf"--resume: {second} is damaged \(optimizer.bin"):
        _train(tiny_spec, tiny_dataset, run, max_steps=5, resume=str(second))
    for checkpoint in list_checkpoints(run):
        (checkpoint / "random_states_0.pkl").unlink()  # a missing file
    with pytest.raises(
        ValueError, match=r"no intact checkpoint under .*random_states_0.pkl is missing"
    ) as error:
        _train(tiny_spec, tiny_dataset, run, max_steps=5, resume=True)
    assert "--overwrite" in str(error.value) and "\n" not in str(error.value)


HOLDER = """
import sys, time
from hf_vssl.training.run_lock import lock_run_folder
lock_run_folder(sys.argv[1])
print("locked", flush=True)
time.sleep(600)
"""


def test_a_second_run_into_a_folder_in_use_is_refused_and_a_dead_holders_lock_taken_over(
    tiny_spec, tiny_dataset, tmp_path, capsys
):
    run = tmp_path / "run"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunFolderLocked, match=rf"{run} is in use by process {holder.pid} on "):
            _train(tiny_spec, tiny_dataset, run, max_steps=1)
        assert not (run / "checkpoints").exists()
    finally:
        holder.kill()  # SIGKILL: the holder leaves its process id in the lock file
        holder.wait()
    time.sleep(0.1)
    capsys.readouterr()
    _train(tiny_spec, tiny_dataset, run, max_steps=1)
    assert f"note: took over {run / LOCK_FILE} from process {holder.pid}" in capsys.readouterr().out
    assert len(list_checkpoints(run)) == 1


def test_a_truncated_exported_model_is_a_one_line_error_naming_it(tmp_path):
    from transformers import AutoConfig, AutoModel

    from hf_vssl.evaluation.runner import load_backbone

    model = tmp_path / "run" / "model"
    AutoModel.from_config(AutoConfig.for_model("vssl-r3d", depth=10, width_multiplier=0.125)).save_pretrained(
        model
    )
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(
        ValueError, match=rf"model {model}: its safetensors weights are damaged \(.*\); export"
    ):
        load_backbone(str(model))
