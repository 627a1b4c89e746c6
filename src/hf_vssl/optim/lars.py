"""LARS as ViCC (Toering et al., WACV 2022) and SwAV use it: SGD with momentum whose per-tensor step is scaled
by trust * ||w|| / (||g|| + wd * ||w|| + eps) (apex's LARC, no clipping by default).

ViCC's release wraps its SGD in `apex.parallel.LARC(trust_coefficient=0.001, clip=False)`
(`src/main_single.py:321`, `src/main_cross.py:333`; CoCLR itself trains with Adam), which adapts and
decays every parameter, biases and BatchNorm affine included: that is the default here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class LARS(torch.optim.SGD):
    """SGD (momentum, weight decay) with layer-wise adaptive rate scaling.

    Before the SGD update each tensor's gradient becomes (g + wd * w) * trust * ||w|| /
    (||g|| + wd * ||w|| + eps), then plain SGD (without its own decay) applies lr and momentum.
    `clip=True` caps the adaptive factor at 1 / lr (LARC's clipping mode). By default every tensor
    is adapted and decayed, as apex's LARC does (ViCC release); with
    `exclude_bias_and_norm=True`, 1-D tensors (biases, BatchNorm affine) are neither adapted nor
    decayed (the usual LARS practice of SwAV / BYOL). A param group may override
    `trust_coefficient`, `clip` and `exclude_bias_and_norm`.
    """

    def __init__(
        self,
        params: Iterable[torch.nn.Parameter] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = 0.9,  # ViCC supp.: SGD momentum 0.9 wrapped in LARS
        weight_decay: float = 0.0,
        trust_coefficient: float = 0.001,  # ViCC supp. / SwAV: eta = 0.001
        clip: bool = False,  # SwAV / ViCC: LARC without clipping
        eps: float = 1e-8,
        exclude_bias_and_norm: bool = False,  # apex LARC (ViCC release) adapts every tensor
        dampening: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if trust_coefficient <= 0:
            raise ValueError(f"LARS trust_coefficient must be > 0, got {trust_coefficient}")
        super().__init__(
            params,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            dampening=dampening,
            nesterov=nesterov,
        )
        for key, value in (
            ("trust_coefficient", trust_coefficient),
            ("clip", clip),
            ("eps", eps),
            ("exclude_bias_and_norm", exclude_bias_and_norm),
        ):
            self.defaults[key] = value
            for group in self.param_groups:
                group.setdefault(key, value)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        decays = []
        for group in self.param_groups:
            weight_decay = group["weight_decay"]
            decays.append(weight_decay)
            for param in group["params"]:
                if param.grad is None or (group["exclude_bias_and_norm"] and param.ndim <= 1):
                    continue
                self._adapt_(param, group, weight_decay)
            group["weight_decay"] = 0.0  # already folded into the adapted gradients
        try:
            super().step()
        finally:
            for group, weight_decay in zip(self.param_groups, decays):
                group["weight_decay"] = weight_decay
        return loss

    @staticmethod
    def _adapt_(param: torch.Tensor, group: dict[str, Any], weight_decay: float) -> None:
        """grad <- (grad + wd * w) * adaptive, where both norms are non-zero (no host sync)."""
        grad = param.grad
        param_norm, grad_norm = param.norm(), grad.norm()
        adaptive = (
            group["trust_coefficient"] * param_norm / (grad_norm + weight_decay * param_norm + group["eps"])
        )
        if group["clip"]:
            adaptive = torch.clamp(adaptive / group["lr"], max=1.0)
        usable = (param_norm > 0) & (grad_norm > 0)
        grad.copy_(torch.where(usable, (grad + weight_decay * param) * adaptive, grad))
