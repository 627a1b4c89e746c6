"""Optimisers, learning-rate schedules and the recipe that builds them (LARS; cosine and step decay)."""

from .lars import LARS
from .recipe import OPTIMIZERS, RECIPE_FIELDS, OptimizerRecipe, build_optimizer, build_scheduler
from .schedules import cosine_schedule, step_schedule

__all__ = [
    "LARS",
    "OPTIMIZERS",
    "RECIPE_FIELDS",
    "OptimizerRecipe",
    "build_optimizer",
    "build_scheduler",
    "cosine_schedule",
    "step_schedule",
]
