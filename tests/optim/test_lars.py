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


def _apex_larc_sgd_step(
    params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list, lr: float, wd: float
):
    """apex.parallel.LARC.step (trust_coefficient=0.001, clip=False, eps=1e-8) around torch SGD
    (momentum 0.9), transcribed: ViCC's release builds exactly this, `src/main_single.py:321`
    `LARC(optimizer=SGD(params, lr, weight_decay=wd, momentum=0.9), trust_coefficient=0.001, clip=False)`;
    apex `apex/parallel/LARC.py` (before commit cb65b8e removed it): for every p with a grad,
    no exclusion of biases or BatchNorm, the group's weight decay set to 0 for the inner step."""
    for index, (p, g) in enumerate(zip(params, grads)):
        g = g.clone()
        param_norm, grad_norm = torch.norm(p), torch.norm(g)
        if param_norm != 0 and grad_norm != 0:
            adaptive_lr = 0.001 * param_norm / (grad_norm + param_norm * wd + 1e-8)
            g += wd * p
            g *= adaptive_lr
        # torch.optim.SGD, momentum 0.9, dampening 0, weight decay 0 (absorbed by LARC above)
        bufs[index] = g if bufs[index] is None else 0.9 * bufs[index] + g
        params[index] = p - lr * bufs[index]


def test_default_lars_equals_apex_larc_on_every_parameter():
    """ViCC release: LARC adapts and decays biases and BatchNorm too (excluding
    them made BN weight updates 38x and bias updates up to 1058x larger than LARC's)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv3d(3, 4, 3), torch.nn.BatchNorm3d(4), torch.nn.Flatten(), torch.nn.Linear(16, 2)
    )
    inputs = torch.randn(2, 3, 3, 4, 4)
    lr, wd = 0.6, 1e-6  # ViCCConfig: learning_rate 0.6, weight_decay 1e-6
    expected = [p.detach().clone() for p in model.parameters()]
    bufs = [None] * len(expected)
    optimizer = LARS(model.parameters(), lr=lr, weight_decay=wd)
    for _ in range(2):  # the second step goes through the momentum buffers
        optimizer.zero_grad()
        model(inputs).square().mean().backward()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        before = [p.detach().clone() for p in model.parameters()]
        torch.testing.assert_close(before, expected)
        _apex_larc_sgd_step(expected, grads, bufs, lr, wd)
        optimizer.step()
    torch.testing.assert_close([p.detach() for p in model.parameters()], expected)


def test_excluded_biases_are_plain_sgd_and_zero_weights_are_not_adapted():
    bias, grad = torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.5])
    excluded = _one_step(bias, grad, lr=0.1, weight_decay=0.5, exclude_bias_and_norm=True)
    torch.testing.assert_close(excluded, bias - 0.1 * grad)
    # the default (apex LARC) adapts and decays the bias
    adaptive = 0.001 * bias.norm() / (grad.norm() + 0.5 * bias.norm() + 1e-8)
    expected = bias - 0.1 * (grad + 0.5 * bias) * adaptive
    torch.testing.assert_close(_one_step(bias, grad, lr=0.1, weight_decay=0.5), expected)
    zeros = torch.zeros(2, 2)
    torch.testing.assert_close(_one_step(zeros, torch.ones(2, 2), lr=0.1, weight_decay=0.5), zeros - 0.1)


def test_exclusion_leaves_batchnorm_and_biases_unadapted():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model(torch.randn(5, 3)).square().mean().backward()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    grads = {name: p.grad.detach().clone() for name, p in model.named_parameters()}
    LARS(model.parameters(), lr=0.1, weight_decay=0.5, exclude_bias_and_norm=True).step()
    for name, param in model.named_parameters():
        if param.ndim == 1:  # Linear bias, BatchNorm weight and bias: plain SGD, no decay
            torch.testing.assert_close(param.detach(), before[name] - 0.1 * grads[name])
        else:
            assert not torch.allclose(param.detach(), before[name] - 0.1 * grads[name])


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
