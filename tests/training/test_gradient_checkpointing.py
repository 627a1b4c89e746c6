"""`--gradient-checkpointing`: every backbone stage recomputes its activations during backward, and a
step gives the loss, gradients and BatchNorm statistics of a step without it (pretraining of every
method, the loop, finetuning, the command line)."""

from __future__ import annotations

import copy

import pytest
import torch
from accelerate.state import AcceleratorState
from torch import nn
from torch.utils.data import DataLoader
from transformers import AutoConfig, AutoModel

from hf_vssl.cli.main import main
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.sources import class_names
from hf_vssl.evaluation.finetune import FinetuneArguments, finetune
from hf_vssl.methods import build_method_config
from hf_vssl.methods.registry import get_method
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.loop import TrainingArguments, fit, make_accelerator
from hf_vssl.training.pretrain import build_train_dataset

TINY_R3D = {"depth": 10, "width_multiplier": 0.125}
TOLERANCE = {"rtol": 1e-6, "atol": 1e-6}


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def _count_stage_calls(model: nn.Module) -> list[int]:
    """A counter of the calls of every backbone's last stage in `model` (a pre-hook: a recomputation
    that stops early still counts)."""
    calls = [0]
    for module in model.modules():
        if hasattr(module, "gradient_checkpointing"):
            last = list(module.stages.values())[-1]
            last.register_forward_pre_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def _assert_same_step(plain: nn.Module, checkpointed: nn.Module) -> None:
    """Equal gradients (both None where a part is idle) and buffers (BatchNorm statistics, queues)."""
    grads = {name: p.grad for name, p in checkpointed.named_parameters()}
    for name, param in plain.named_parameters():
        if param.grad is None:
            assert grads[name] is None, name
        else:
            torch.testing.assert_close(grads[name], param.grad, **TOLERANCE, msg=name)
    buffers = dict(checkpointed.named_buffers())
    for name, buffer in plain.named_buffers():
        torch.testing.assert_close(buffers[name], buffer, **TOLERANCE, msg=name)


@pytest.mark.parametrize("model_type", ["vssl-c3d", "vssl-r3d"])
def test_backbone_recomputes_each_stage_and_moves_batchnorm_statistics_once(model_type):
    torch.manual_seed(0)
    plain = AutoModel.from_config(AutoConfig.for_model(model_type, width_multiplier=0.125)).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()
    calls = {"plain": _count_stage_calls(plain), "checkpointed": _count_stage_calls(checkpointed)}
    clips = torch.randn(2, 3, 8, 32, 32)
    for model in (plain, checkpointed):
        model(clips).pooler_output.square().sum().backward()
    assert calls == {"plain": [1], "checkpointed": [2]}  # the recomputation in backward
    # without putting the statistics back, the recomputation moved them a second time (and counted it)
    _assert_same_step(plain, checkpointed)


def _method_inputs(method: str, dataset) -> tuple[object, dict]:
    """A tiny R3D config of `method` and one augmented batch of 4 real training videos."""
    # MFO's timestamp retrieval needs 2 time steps on its high level: 16 frames
    clip = {
        "num_frames": 16 if method == "mfo" else 8,
        "crop_size": 32,
        "frame_size": [40, 50],
        "batch_size": 4,
    }
    config = build_method_config(method, "r3d", backbone_overrides=TINY_R3D, overrides=clip)
    spec = get_method(method)
    batch = next(iter(DataLoader(build_train_dataset(spec, config, dataset["train"], seed=0), batch_size=4)))
    torch.manual_seed(0)
    return config, spec.build_augment(config)(batch)


@pytest.mark.parametrize("method", ["pace", "mfo", "sdc", "vicc"])
def test_every_method_steps_the_same_with_checkpointing(method, tiny_dataset):
    config, inputs = _method_inputs(method, tiny_dataset)
    torch.manual_seed(0)
    plain = get_method(method).model_class(config).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable()
    assert checkpointed.backbone.gradient_checkpointing  # every backbone of the method is switched
    calls = {"plain": _count_stage_calls(plain), "checkpointed": _count_stage_calls(checkpointed)}
    losses = []
    for model in (plain, checkpointed):
        torch.manual_seed(1)  # the same draws (e.g. Sinkhorn noise, dropout) in both steps
        loss = model(**inputs).loss
        loss.backward()
        losses.append(loss.detach())
    assert calls["checkpointed"][0] == 2 * calls["plain"][0] > 0
    torch.testing.assert_close(losses[1], losses[0], **TOLERANCE)
    _assert_same_step(plain, checkpointed)


def _pretrain(spec, dataset, output_dir, **switches) -> tuple[nn.Module, list[float], list[int]]:
    AcceleratorState._reset_state()
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": 4})
    torch.manual_seed(0)
    model = spec.model_class(config)
    calls = _count_stage_calls(model)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=2, logging_steps=1, progress_bar=False, **switches
    )
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    result = fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)
    return model, [h["loss"] for h in result.history], calls


def test_the_loop_switches_checkpointing_on_and_trains_the_same(tiny_spec, tiny_dataset, tmp_path):
    plain, plain_losses, plain_calls = _pretrain(tiny_spec, tiny_dataset, tmp_path / "off")
    model, losses, calls = _pretrain(tiny_spec, tiny_dataset, tmp_path / "on", gradient_checkpointing=True)
    assert model.is_activation_checkpointing and not plain.is_activation_checkpointing
    assert calls[0] == 2 * plain_calls[0] > 0  # 2 steps, each recomputed in backward
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(plain_losses), **TOLERANCE)
    plain_state = plain.state_dict()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, plain_state[name], **TOLERANCE, msg=name)


def _finetune(dataset, output_dir, **switches):
    AcceleratorState._reset_state()
    torch.manual_seed(0)
    backbone = AutoModel.from_config(AutoConfig.for_model("vssl-r3d", **TINY_R3D))
    processor = VsslVideoProcessor(num_frames=4, crop_size=32, frame_size=[40, 50], num_clips=1)
    args = FinetuneArguments(epochs=1, batch_size=4, learning_rate=0.1)
    training = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=2, progress_bar=False, logging_steps=1, **switches
    )
    _, classifier, result, _ = finetune(
        backbone, dataset, class_names(dataset["train"]), processor, args, training,
        accelerator=make_accelerator(training),
    )  # fmt: skip
    return classifier, [h["loss"] for h in result.history]


def test_finetune_with_checkpointing_trains_the_same(tiny_dataset, tmp_path):
    plain, plain_losses = _finetune(tiny_dataset, tmp_path / "off")
    classifier, losses = _finetune(tiny_dataset, tmp_path / "on", gradient_checkpointing=True)
    assert classifier.backbone.gradient_checkpointing and not plain.backbone.gradient_checkpointing
    torch.testing.assert_close(torch.tensor(losses), torch.tensor(plain_losses), **TOLERANCE)
    plain_state = plain.state_dict()
    for name, value in classifier.state_dict().items():
        torch.testing.assert_close(value, plain_state[name], **TOLERANCE, msg=name)


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_the_flag_reaches_the_model(command, capsys, tiny_ucf_root, tiny_spec, tmp_path):
    common = ["--dataset", str(tiny_ucf_root), "--output-dir", str(tmp_path / command), "--num-workers", "0"]
    common += ["--max-steps", "1", "--no-progress-bar", "--gradient-checkpointing"]
    if command == "pretrain":
        argv = ["pretrain", "--method", tiny_spec.name, "--set", "epochs=1", "--set", "batch_size=4"]
    else:
        argv = ["finetune", "--backbone", "r3d", "--backbone-config", "depth=10"]
        argv += ["--backbone-config", "width_multiplier=0.125", "--epochs", "1", "--batch-size", "4"]
        argv += ["--num-frames", "4", "--crop-size", "32", "--frame-size", "40", "50", "--num-clips", "1"]
    assert main([*argv, *common]) == 0
    assert "gradient checkpointing on" in capsys.readouterr().out


@pytest.mark.slow  # two launched processes
def test_two_processes_train_mfo_through_its_stage_switch_with_checkpointing(tiny_ucf_root, tmp_path):
    """Non-reentrant checkpointing under DDP with find_unused_parameters (MFO's stage 1 leaves heads idle:
    the model switches it on) and SyncBN: both epochs train."""
    from test_distributed import PRETRAIN_EXAMPLE, _launch_two

    method = ["--method", "mfo", "--set", "graph_start_epoch=1", "--set", "queue_size=16"]
    recipe = ["--set", "num_prototypes=8", "--set", "projection_dim=16", "--set", "frame_size=[40,50]"]
    clip = ["--set", "crop_size=16", "--set", "num_frames=16", "--epochs", "2", "--batch-size", "8"]
    network = ["--backbone-config", "width_multiplier=0.125", "--backbone-config", "depth=10"]
    data = ["--dataset", str(tiny_ucf_root), "--num-workers", "0", "--output-dir", str(tmp_path / "mfo")]
    run = [*method, *recipe, *clip, *network, *data, "--no-progress-bar", "--gradient-checkpointing"]
    done = _launch_two(PRETRAIN_EXAMPLE, *run)
    assert "run: 2 process(es), gloo" in done.stdout and "gradient checkpointing on" in done.stdout
    epoch_lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in epoch_lines] == ["epoch 1/2", "epoch 2/2"], done.stdout
    assert "low_graph" in epoch_lines[1]  # stage 2 trained its graph heads
