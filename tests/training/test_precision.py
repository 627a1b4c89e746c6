"""The loop's speed switches change the layout and the arithmetic, not what is learned: a run with
channels_last_3d ends where the default layout ends, and a bf16-autocast run keeps float32 weights
and follows the float32 losses closely (on CUDA; on the CPU mixed precision is refused)."""

from __future__ import annotations

import math

import pytest
import torch
from accelerate.state import AcceleratorState

from hf_vssl.methods import build_method_config
from hf_vssl.optim.recipe import OptimizerRecipe
from hf_vssl.training.loop import TrainingArguments, fit, make_accelerator
from hf_vssl.training.pretrain import build_train_dataset

STEPS = 3


@pytest.fixture(autouse=True)
def _fresh_accelerator_state():
    """AcceleratorState keeps one precision per process: reset it around each run (as accelerate's own
    tests do) so these runs neither inherit nor leak a precision."""
    AcceleratorState._reset_state()
    yield
    AcceleratorState._reset_state()


def _run(spec, dataset, output_dir, steps=STEPS, **switches):
    AcceleratorState._reset_state()
    config = build_method_config(spec.name, overrides={"epochs": 1, "batch_size": 4})
    torch.manual_seed(0)
    model = spec.model_class(config)
    args = TrainingArguments(
        output_dir=output_dir, num_workers=0, max_steps=steps, logging_steps=1, progress_bar=False, **switches
    )
    train = build_train_dataset(spec, config, dataset["train"], seed=0)
    result = fit(model, train, spec.build_augment(config), OptimizerRecipe.from_config(config), args)
    return model, [h["loss"] for h in result.history]


def test_channels_last_3d_trains_like_the_default_layout(tiny_spec, tiny_dataset, tmp_path):
    default, default_losses = _run(tiny_spec, tiny_dataset, tmp_path / "default", channels_last="off")
    layout, layout_losses = _run(tiny_spec, tiny_dataset, tmp_path / "cl", channels_last="on")
    conv = next(p for p in layout.parameters() if p.ndim == 5)
    assert conv.is_contiguous(memory_format=torch.channels_last_3d)  # the switch was applied
    assert torch.allclose(torch.tensor(layout_losses), torch.tensor(default_losses), rtol=1e-4, atol=1e-5)
    for (name, a), b in zip(default.state_dict().items(), layout.state_dict().values()):
        if a.is_floating_point():
            assert torch.allclose(a, b, rtol=1e-3, atol=1e-4), name


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cpu_mixed_precision_is_refused_with_the_fix(precision, tmp_path):
    """PyTorch 2.13's CPU autocast gives wrong 3D-conv weight gradients: a CPU run stops at once."""
    args = TrainingArguments(output_dir=tmp_path, mixed_precision=precision, cpu=True)
    with pytest.raises(ValueError, match=f"'{precision}' on the CPU.*--mixed-precision no"):
        make_accelerator(args, trackers=False)
    assert (
        make_accelerator(TrainingArguments(output_dir=tmp_path, cpu=True), trackers=False).mixed_precision
        == "no"
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="bf16 autocast is refused on the CPU")
def test_bf16_autocast_keeps_float32_weights_and_close_losses(tiny_spec, tiny_dataset, tmp_path):
    # two steps: the second loss follows a bf16 forward and backward (later steps drift apart, as any
    # two runs of a tiny model at a high learning rate do)
    _, float_losses = _run(tiny_spec, tiny_dataset, tmp_path / "fp32", steps=2, mixed_precision="no")
    model, bf16_losses = _run(tiny_spec, tiny_dataset, tmp_path / "bf16", steps=2, mixed_precision="bf16")
    assert all(p.dtype == torch.float32 for p in model.parameters())  # autocast, not a cast
    assert all(math.isfinite(loss) for loss in bf16_losses)
    assert bf16_losses != float_losses  # bf16 arithmetic really ran
    assert torch.allclose(torch.tensor(bf16_losses), torch.tensor(float_losses), rtol=5e-2)
