"""Learning-rate multipliers per optimizer step, for `torch.optim.lr_scheduler.LambdaLR`.

Steps count real optimizer steps (not micro-batches); `LambdaLR(optimizer, cosine_schedule(...))`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence


def _check_steps(total_steps: int, warmup_steps: int) -> None:
    if total_steps < 1 or not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"need total_steps >= 1 and 0 <= warmup_steps <= total_steps, got {total_steps}, {warmup_steps}"
        )


def cosine_schedule(
    total_steps: int, final_factor: float = 0.0, warmup_steps: int = 0
) -> Callable[[int], float]:
    """Linear warm-up to 1, then per-step cosine from 1 to `final_factor` at `total_steps` (held after).
    ViCC supp.: lr 0.6 -> 0.0006, i.e. final_factor = final_lr / lr = 0.001."""
    _check_steps(total_steps, warmup_steps)
    if final_factor < 0:
        raise ValueError(f"final_factor must be >= 0, got {final_factor}")

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return final_factor + (1.0 - final_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def step_schedule(
    milestones: Sequence[int], gamma: float = 0.1, warmup_steps: int = 0, steps_per_epoch: int = 1
) -> Callable[[int], float]:
    """Multiply by `gamma` at each milestone. Milestones are epochs when `steps_per_epoch` is given
    (Pace Prediction supp.: lr x 0.1 every 6 epochs -> milestones (6, 12)); optional linear warm-up."""
    if list(milestones) != sorted(milestones) or any(m < 0 for m in milestones):
        raise ValueError(f"milestones must be increasing and >= 0, got {list(milestones)}")
    if steps_per_epoch < 1 or warmup_steps < 0:
        raise ValueError(
            f"need steps_per_epoch >= 1 and warmup_steps >= 0, got {steps_per_epoch}, {warmup_steps}"
        )
    boundaries = [m * steps_per_epoch for m in milestones]

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return gamma ** sum(step >= boundary for boundary in boundaries)

    return factor
