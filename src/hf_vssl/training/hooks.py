"""What the training loop may call on a model and on a training dataset besides `forward` / `__getitem__`.

The loop resolves these once, when a run starts: a model that implements `TrainingHooks` (every
`VsslForPretraining`) gets its hooks called, any other (the finetune classifier) gets `NO_HOOKS`; a
dataset gets `set_epoch` if it is an `EpochDataset`, and its repeats and collate if it is a
`RepeatedSamplesDataset` (`hf_vssl.data.clip_dataset.VideoClipDataset` is both).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class TrainingHooks(Protocol):
    """The schedules of a method, on real optimizer steps only (gradient accumulation changes nothing)."""

    def set_epoch(self, epoch: int) -> None:
        """At every epoch start (0-based): epoch-driven schedules."""

    def before_optimizer_step(self) -> None:
        """After backward (gradients all-reduced and clipped), before the optimizer step."""

    def after_optimizer_step(self) -> None:
        """After every optimizer step that was not skipped."""


class _NoHooks:
    def set_epoch(self, epoch: int) -> None:
        pass

    def before_optimizer_step(self) -> None:
        pass

    def after_optimizer_step(self) -> None:
        pass


NO_HOOKS: TrainingHooks = _NoHooks()


def model_hooks(model: Any) -> TrainingHooks:
    """`model` itself when it implements the hooks, else hooks that do nothing."""
    return model if isinstance(model, TrainingHooks) else NO_HOOKS


@runtime_checkable
class EpochDataset(Protocol):
    def set_epoch(self, epoch: int) -> None:
        """Before each epoch: per-sample randomness depends on (seed, epoch, index)."""


@runtime_checkable
class RepeatedSamplesDataset(Protocol):
    """Items of K samples from one decode (`repeated_samples`), flattened into the batch by `collate_fn`."""

    repeated_samples: int

    @property
    def collate_fn(self) -> Callable[[list[dict[str, Any]]], dict[str, Any]]: ...


@dataclass(frozen=True)
class DatasetHooks:
    """set_epoch: called at every epoch start; repeats: samples per item; collate: the DataLoader's
    collate_fn (None: torch's default)."""

    set_epoch: Callable[[int], None]
    repeats: int
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]] | None

    @classmethod
    def of(cls, dataset: Any) -> DatasetHooks:
        repeated = isinstance(dataset, RepeatedSamplesDataset)
        return cls(
            set_epoch=dataset.set_epoch if isinstance(dataset, EpochDataset) else NO_HOOKS.set_epoch,
            repeats=dataset.repeated_samples if repeated else 1,
            collate=dataset.collate_fn if repeated else None,
        )
