"""Shared pieces of the hub tests: tiny backbones with non-trivial BN statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import AutoModel

import hf_vssl  # noqa: F401  (registers the backbones)

TINY_WIDTH = 0.125


def randomise_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BN layer random affine parameters and running statistics, so that a weight loaded
    into the wrong BN (or not at all) changes the output."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                shape = module.running_mean.shape
                module.weight.copy_(1 + 0.2 * torch.randn(shape, generator=generator))
                module.bias.copy_(0.2 * torch.randn(shape, generator=generator))
                module.running_mean.copy_(0.1 * torch.randn(shape, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(shape, generator=generator))
                module.num_batches_tracked.fill_(7)
    return model


@pytest.fixture(scope="session")
def tiny_backbone():
    """tiny_backbone(model_type, **config) -> an eval-mode backbone of width 1/8 with random BN state."""

    def build(model_type: str, **config):
        from transformers import AutoConfig

        config = AutoConfig.for_model(model_type, width_multiplier=TINY_WIDTH, **config)
        torch.manual_seed(0)
        return randomise_batch_norm(AutoModel.from_config(config)).eval()

    return build


@pytest.fixture(scope="session")
def random_bn():
    """random_bn(model) -> the model with random BN state (see `randomise_batch_norm`)."""
    return randomise_batch_norm
