"""Optimisers and learning-rate schedules the seeds use (LARS; cosine and step decay)."""

from .lars import LARS
from .schedules import cosine_schedule, step_schedule

__all__ = ["LARS", "cosine_schedule", "step_schedule"]
