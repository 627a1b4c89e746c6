"""Trackers and launch settings: `report_to` picks accelerate's trackers (project = the run folder's
name), and without explicit flags the settings `accelerate launch` / `accelerate config` put into the
environment decide precision and compilation, as in transformers' Trainer."""

from __future__ import annotations

import pytest
import torch
from accelerate.state import AcceleratorState
from accelerate.utils import DynamoBackend

from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.loop import LOGS_DIR, TrainingArguments, fit, make_accelerator
from hf_vssl.training.pretrain import build_train_dataset


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    """AcceleratorState keeps one precision per process: reset it around each test."""
    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def _accelerator(monkeypatch, tmp_path, env: dict[str, str], **flags):
    for name in ("ACCELERATE_MIXED_PRECISION", "ACCELERATE_DYNAMO_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    AcceleratorState._reset_state()
    return make_accelerator(TrainingArguments(output_dir=tmp_path, **flags), trackers=False)


def test_launch_settings_decide_unless_a_flag_is_given(monkeypatch, tmp_path):
    assert _accelerator(monkeypatch, tmp_path, {}).state.dynamo_plugin.backend == DynamoBackend.NO
    launched = {"ACCELERATE_DYNAMO_BACKEND": "eager"}  # what `accelerate launch --dynamo_backend eager` sets
    assert _accelerator(monkeypatch, tmp_path, launched).state.dynamo_plugin.backend == DynamoBackend.EAGER
    flagged = _accelerator(monkeypatch, tmp_path, launched, compile=True)
    assert flagged.state.dynamo_plugin.backend == DynamoBackend.INDUCTOR
    explicit = _accelerator(
        monkeypatch, tmp_path, {"ACCELERATE_MIXED_PRECISION": "bf16"}, mixed_precision="no"
    )
    assert explicit.mixed_precision == "no"


def _train_one_step(spec, dataset, output_dir, **flags) -> None:
    AcceleratorState._reset_state()
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": 4})
    torch.manual_seed(0)
    args = TrainingArguments(output_dir=output_dir, num_workers=0, max_steps=1, progress_bar=False, **flags)
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    fit(
        spec.model_class(config), train, spec.build_augment(config), OptimizerRecipe.from_config(config), args
    )


def test_report_to_tensorboard_by_default_and_none_writes_no_logs(tiny_spec, tiny_dataset, tmp_path):
    _train_one_step(tiny_spec, tiny_dataset, tmp_path / "my-run")
    # TensorBoard's project is the run folder's name
    assert list((tmp_path / "my-run" / LOGS_DIR / "my-run").glob("events.out.tfevents.*"))
    _train_one_step(tiny_spec, tiny_dataset, tmp_path / "quiet", report_to="none")
    assert (tmp_path / "quiet").is_dir() and not (tmp_path / "quiet" / LOGS_DIR).exists()
    with pytest.raises(ValueError, match="report_to must be one of"):
        TrainingArguments(output_dir=tmp_path, report_to="tensorbord")
