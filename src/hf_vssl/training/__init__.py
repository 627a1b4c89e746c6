"""Training with Accelerate: one loop for every pretext method (and for finetuning), resumable
checkpoints, recipes read from the method configs, and the export of the final model."""

from ..optim.recipe import OptimizerRecipe, build_optimizer, build_scheduler
from .checkpointing import TrainerState
from .interrupts import TrainingInterrupted
from .loop import TrainingArguments, TrainingDiverged, TrainResult, fit, make_accelerator
from .pretrain import PretrainOutput, pretrain, pretrain_cross_stream
from .run_dir import prepare_output_dir

__all__ = [
    "OptimizerRecipe",
    "PretrainOutput",
    "TrainResult",
    "TrainerState",
    "TrainingArguments",
    "TrainingDiverged",
    "TrainingInterrupted",
    "build_optimizer",
    "build_scheduler",
    "fit",
    "make_accelerator",
    "prepare_output_dir",
    "pretrain",
    "pretrain_cross_stream",
]
