"""The optimisation recipe of a run and what it builds: a torch optimizer and a per-step scheduler.

`VsslPretrainingConfig` declares the recipe fields once (`RECIPE_FIELDS`, with each method's paper
defaults) and validates them by building its `OptimizerRecipe`; finetune and probe build theirs from
their own options. So a new method needs no training code of its own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from ..typed_fields import check_field
from .lars import LARS
from .schedules import cosine_schedule, step_schedule

OPTIMIZERS = ("sgd", "lars", "adam", "adamw")
LR_SCHEDULES = ("constant", "step", "cosine")


@dataclass(frozen=True)
class OptimizerRecipe:
    """optimizer: "sgd", "lars" (SGD wrapped in LARS, ViCC supp.), "adam" or "adamw".
    lr_schedule: "constant"; "step" (x lr_decay_factor at each epoch of lr_milestones); "cosine"
    (per optimizer step from learning_rate to final_lr, ViCC supp.). warmup_epochs: linear warm-up.
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
    lars_trust_coefficient: float = 0.001  # ViCC supp. / docs/METHODS.md#vicc: LARS eta 0.001, no clipping
    lars_exclude_bias_and_norm: bool = False  # apex LARC (ViCC release) adapts and decays every tensor

    def __post_init__(self) -> None:
        check_field("optimizer", self.optimizer, self.optimizer in OPTIMIZERS, f"one of {OPTIMIZERS}")
        check_field(
            "lr_schedule", self.lr_schedule, self.lr_schedule in LR_SCHEDULES, f"one of {LR_SCHEDULES}"
        )
        for name in ("epochs", "batch_size"):
            check_field(name, getattr(self, name), getattr(self, name) >= 1, ">= 1")
        for name in ("learning_rate", "lars_trust_coefficient"):
            value = getattr(self, name)
            check_field(name, value, math.isfinite(value) and value > 0, "a finite number > 0")
        for name in ("weight_decay", "final_lr", "warmup_epochs"):
            value = getattr(self, name)
            check_field(name, value, math.isfinite(value) and value >= 0, "a finite number >= 0")
        check_field("momentum", self.momentum, 0 <= self.momentum < 1, "in [0, 1)")
        check_field("lr_decay_factor", self.lr_decay_factor, 0 < self.lr_decay_factor <= 1, "in (0, 1]")
        milestones = list(self.lr_milestones)
        check_field(
            "lr_milestones",
            milestones,
            milestones == sorted(set(milestones)) and all(m >= 1 for m in milestones),
            "strictly increasing epochs >= 1",
        )
        check_field(
            "warmup_epochs",
            self.warmup_epochs,
            self.warmup_epochs <= self.epochs,
            f"<= epochs ({self.epochs})",
        )

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> OptimizerRecipe:
        """The recipe of a `VsslPretrainingConfig` (which declares every field of RECIPE_FIELDS);
        `overrides` that are not None win."""
        values = {name: getattr(config, name) for name in RECIPE_FIELDS}
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["lr_milestones"] = tuple(values["lr_milestones"])
        return cls(**values)


RECIPE_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(OptimizerRecipe))


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
