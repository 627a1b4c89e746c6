"""The optimisation recipe of a run, read from a method config's recipe fields, and what it builds.

Every method config carries its seed's recipe as typed fields (`optimizer`, `learning_rate`,
`weight_decay`, `momentum`, `lr_schedule`, `lr_milestones`, `lr_decay_factor`, `final_lr`,
`epochs`, `batch_size`); this module turns them into a torch optimizer and a per-optimizer-step
scheduler, so a new method needs no training code of its own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..optim import LARS, cosine_schedule, step_schedule

OPTIMIZERS = ("sgd", "lars", "adam", "adamw")
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class OptimizerRecipe:
    """optimizer: "sgd", "lars" (SGD wrapped in LARS, seed 004), "adam" or "adamw".
    lr_schedule: "constant"; "step" (x lr_decay_factor at each epoch of lr_milestones); "cosine"
    (per optimizer step from learning_rate to final_lr, seed 004). warmup_epochs: linear warm-up.
    batch_size: the global batch of one optimizer step (all processes x accumulation steps)."""

    epochs: int
    batch_size: int
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    weight_decay: float = 0.0
    momentum: float = 0.9
    lr_schedule: str = "constant"
    lr_milestones: tuple[int, ...] = ()
    lr_decay_factor: float = 0.1
    final_lr: float = 0.0
    warmup_epochs: float = 0.0
    lars_trust_coefficient: float = 0.001  # seed 004 / METHODS.md: LARS eta 0.001, no clipping
    lars_exclude_bias_and_norm: bool = False  # apex LARC (ViCC release) adapts and decays every tensor

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got '{self.optimizer}'")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got '{self.lr_schedule}'")
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.weight_decay < 0 or self.final_lr < 0 or self.warmup_epochs < 0:
            raise ValueError("weight_decay, final_lr and warmup_epochs must be >= 0")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must be increasing epochs, got {list(self.lr_milestones)}")

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> OptimizerRecipe:
        """Read the recipe fields a config has (others keep the defaults above); `overrides` win."""
        values = {f.name: getattr(config, f.name) for f in dataclasses.fields(cls) if hasattr(config, f.name)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["lr_milestones"] = tuple(values.get("lr_milestones") or ())
        return cls(**values)

    def replace(self, **changes: Any) -> OptimizerRecipe:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def build_optimizer(
    params: Iterable[torch.nn.Parameter] | Iterable[dict], recipe: OptimizerRecipe
) -> torch.optim.Optimizer:
    """The recipe's optimizer over `params` (tensors or param-group dicts, e.g. a backbone lr multiplier)."""
    kwargs = {"lr": recipe.learning_rate, "weight_decay": recipe.weight_decay}
    if recipe.optimizer == "adam":
        return torch.optim.Adam(params, **kwargs)
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(params, **kwargs)
    if recipe.optimizer == "lars":
        return LARS(
            params,
            momentum=recipe.momentum,
            trust_coefficient=recipe.lars_trust_coefficient,
            exclude_bias_and_norm=recipe.lars_exclude_bias_and_norm,
            **kwargs,
        )
    return torch.optim.SGD(params, momentum=recipe.momentum, **kwargs)


def lr_lambda(recipe: OptimizerRecipe, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate after a number of optimizer steps."""
    if steps_per_epoch < 1:
        raise ValueError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    warmup = round(recipe.warmup_epochs * steps_per_epoch)
    if recipe.lr_schedule == "cosine":
        final = recipe.final_lr / recipe.learning_rate
        return cosine_schedule(recipe.epochs * steps_per_epoch, final_factor=final, warmup_steps=warmup)
    milestones = recipe.lr_milestones if recipe.lr_schedule == "step" else ()
    return step_schedule(
        milestones, recipe.lr_decay_factor, warmup_steps=warmup, steps_per_epoch=steps_per_epoch
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, recipe: OptimizerRecipe, steps_per_epoch: int
) -> LambdaLR:
    """A scheduler stepped once per real optimizer step (never per micro-batch)."""
    return LambdaLR(optimizer, lr_lambda(recipe, steps_per_epoch))
