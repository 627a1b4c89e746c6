import pytest
import torch
from torch.optim.lr_scheduler import LambdaLR

from hf_vssl.optim import LARS, cosine_schedule


def _one_step(weight: torch.Tensor, grad: torch.Tensor, **kwargs) -> torch.Tensor:
    param = torch.nn.Parameter(weight.clone())
    param.grad = grad.clone()
    LARS([param], **kwargs).step()
    return param.detach()


def test_lars_step_by_hand():
    weight, grad = torch.tensor([[3.0, 4.0], [0.0, 0.0]]), torch.tensor([[0.0, 0.5], [0.0, 0.0]])
    lr, wd, trust = 0.6, 1e-2, 0.001
    # ||w|| = 5, ||g|| = 0.5: adaptive = 0.001 * 5 / (0.5 + 0.05 + 1e-8); first momentum buffer = the gradient
    adaptive = trust * 5 / (0.5 + wd * 5 + 1e-8)
    expected = weight - lr * (grad + wd * weight) * adaptive
    torch.testing.assert_close(
        _one_step(weight, grad, lr=lr, weight_decay=wd, trust_coefficient=trust), expected
    )
    # clipping caps the factor at 1 / lr: here adaptive / lr < 1, so the same step
    clipped = _one_step(weight, grad, lr=lr, weight_decay=wd, clip=True)
    torch.testing.assert_close(clipped, weight - lr * (grad + wd * weight) * min(adaptive / lr, 1.0))


def test_biases_and_zero_weights_are_plain_sgd_without_decay():
    bias, grad = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5])
    torch.testing.assert_close(_one_step(bias, grad, lr=0.1, weight_decay=0.5), bias - 0.1 * grad)
    adapted = _one_step(bias, grad, lr=0.1, weight_decay=0.5, exclude_bias_and_norm=False)
    assert not torch.allclose(adapted, bias - 0.1 * grad)
    zeros = torch.zeros(2, 2)
    torch.testing.assert_close(_one_step(zeros, torch.ones(2, 2), lr=0.1, weight_decay=0.5), zeros - 0.1)


def test_lars_works_with_lambda_lr_and_restores_its_state():
    model = torch.nn.Linear(3, 2)
    optimizer = LARS(model.parameters(), lr=0.6, weight_decay=1e-6)
    scheduler = LambdaLR(optimizer, cosine_schedule(total_steps=4, final_factor=0.001))
    for _ in range(2):
        model(torch.randn(5, 3)).square().mean().backward()
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["weight_decay"] == 1e-6  # restored after the inner SGD step
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.6 * cosine_schedule(4, 0.001)(2))
    restored = LARS(torch.nn.Linear(3, 2).parameters(), lr=0.6)
    restored.load_state_dict(optimizer.state_dict())
    assert torch.equal(
        restored.state_dict()["state"][0]["momentum_buffer"],
        optimizer.state_dict()["state"][0]["momentum_buffer"],
    )
