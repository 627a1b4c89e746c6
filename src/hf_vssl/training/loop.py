"""The one Accelerate training loop: pretraining of every method and supervised finetuning.

The loop knows a model only through its output (`loss`, optional `loss_terms` / `metrics`) and the
optional hooks of `VsslForPretraining` (`set_epoch`, `before_optimizer_step`,
`after_optimizer_step`), and a batch only through an `augment` module run on the device that maps
the collated batch to the model's keyword arguments. Hooks, the scheduler and the step counter
advance on real optimizer steps only, so gradient accumulation changes nothing else.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs
from accelerate.utils import set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ..optim.recipe import OptimizerRecipe, build_optimizer, build_scheduler
from .checkpointing import TrainerState, load_checkpoint, resolve_resume, save_checkpoint
from .distributed import convert_sync_batchnorm

MIXED_PRECISION = ("auto", "no", "bf16", "fp16")
SWITCHES = ("auto", "on", "off")


@dataclass
class TrainingArguments:
    """How to run (not what to learn: that is the recipe).

    mixed_precision / channels_last: "auto" = bf16 autocast and channels_last_3d on CUDA, float32
    and the default layout on CPU. sync_bn: BatchNorm over the global batch when several processes
    run. max_steps: stop after this many optimizer steps (smoke tests, the demo); None = all epochs.
    save_steps: a resumable checkpoint every N optimizer steps (and always at the end).
    resume: a checkpoint folder, or "latest" for the newest one in `output_dir`.
    The CLI's options are made from these fields (`hf_vssl.cli.common.add_dataclass_arguments`).
    """

    output_dir: Path = field(
        metadata={"help": "where checkpoints, logs, models and results go", "metavar": "DIR"}
    )
    gradient_accumulation_steps: int = 1
    num_workers: int = field(default=4, metadata={"help": "decoding processes"})
    seed: int = 0
    mixed_precision: str = field(
        default="auto",
        metadata={
            "help": "autocast dtype; auto = bf16 on CUDA GPUs that support it, float32 (no) on CPU",
            "choices": MIXED_PRECISION,
        },
    )
    channels_last: str = field(
        default="auto",
        metadata={"help": "channels_last_3d memory format; auto = on CUDA only", "choices": SWITCHES},
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model (inductor)"})
    sync_bn: bool = field(
        default=True, metadata={"help": "BatchNorm over the global batch with several processes"}
    )
    find_unused_parameters: bool = field(
        default=False,
        metadata={
            "help": "DDP option for partly frozen models (on by itself for methods whose heads start late)"
        },
    )
    max_grad_norm: float | None = field(default=None, metadata={"help": "clip the gradient norm"})
    max_steps: int | None = field(default=None, metadata={"help": "stop after this many optimizer steps"})
    save_steps: int = field(default=500, metadata={"help": "checkpoint every N optimizer steps"})
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept (0 = all)"})
    logging_steps: int = field(default=10, metadata={"help": "log every N optimizer steps"})
    resume: str | Path | bool | None = field(
        default=None,
        metadata={
            "help": "continue a run: a checkpoint folder, or the newest one in OUTPUT_DIR when no value is given",
            "metavar": "CHECKPOINT",
            "const": "latest",
        },
    )
    cpu: bool = field(default=False, metadata={"help": "run on the CPU even when a GPU is present"})
    progress_bar: bool = True

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"mixed_precision must be one of {MIXED_PRECISION}, got '{self.mixed_precision}'"
            )
        if self.channels_last not in SWITCHES:
            raise ValueError(f"channels_last must be one of {SWITCHES}, got '{self.channels_last}'")
        for name in ("gradient_accumulation_steps", "save_steps", "logging_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {self.num_workers}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclass
class TrainResult:
    """global_step: optimizer steps done; history: the logged values (loss terms and metrics averaged
    over processes, lr, clips/s) of every logging step, with its "step"; epoch_summaries: one dict per
    epoch (its 1-based "epoch", mean loss terms, skipped videos, seconds); stopped_early: max_steps ended the run."""

    global_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_summaries: list[dict[str, float]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    stopped_early: bool = False


class EpochShuffleSampler(Sampler[int]):
    """A permutation of the dataset that depends only on (seed, epoch): every process draws the same
    order and a resumed run replays it exactly."""

    def __init__(self, num_samples: int, seed: int, shuffle: bool = True) -> None:
        self.num_samples, self.seed, self.shuffle, self.epoch = num_samples, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.num_samples))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_samples


def make_accelerator(args: TrainingArguments, log_with: str | None = "tensorboard") -> Accelerator:
    """An Accelerator with the run's precision, accumulation and logging; bf16 only where supported."""
    on_cuda = torch.cuda.is_available() and not args.cpu
    precision = args.mixed_precision
    if precision == "auto":
        precision = "bf16" if on_cuda and torch.cuda.is_bf16_supported() else "no"
    # without any accelerator, cpu=True is what makes several launched processes one gloo group
    cpu = args.cpu or not torch.accelerator.is_available()
    return Accelerator(
        cpu=cpu,
        mixed_precision=precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=log_with,
        project_dir=str(args.output_dir),
        dynamo_backend="inductor" if args.compile else "no",
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=args.find_unused_parameters)],
    )


def per_process_batch_size(global_batch: int, accelerator: Accelerator) -> int:
    """The micro-batch of one process: global batch / (processes x accumulation steps), exactly."""
    parts = accelerator.num_processes * accelerator.gradient_accumulation_steps
    if global_batch % parts:
        raise ValueError(
            f"batch_size {global_batch} (global, per optimizer step) must divide evenly over "
            f"{accelerator.num_processes} processes x {accelerator.gradient_accumulation_steps} accumulation steps"
        )
    return global_batch // parts


def fit(
    model: nn.Module,
    train_dataset: Dataset,
    augment: Callable[[dict[str, Any]], dict[str, Any]],
    recipe: OptimizerRecipe,
    args: TrainingArguments,
    *,
    accelerator: Accelerator | None = None,
    param_groups: list[dict[str, Any]] | None = None,
    hparams: dict[str, Any] | None = None,
) -> TrainResult:
    """Train `model` on `train_dataset` for `recipe.epochs` epochs (or `args.max_steps` steps).

    train_dataset items are dicts (collated by torch's default collate); if it has `set_epoch`, it is
    called at every epoch start so per-sample randomness depends on (seed, epoch, index).
    augment(batch on device) -> kwargs of `model.forward`; it runs on the device, batched.
    param_groups: optimizer parameter groups (default: every trainable parameter, one group).
    """
    accelerator = accelerator or make_accelerator(args)
    set_seed(args.seed, device_specific=True)  # augmentations differ across processes, identically per run
    micro_batch = per_process_batch_size(recipe.batch_size, accelerator)
    sampler = EpochShuffleSampler(len(train_dataset), seed=args.seed)
    loader = DataLoader(
        train_dataset,
        batch_size=micro_batch,
        sampler=sampler,
        drop_last=True,
        num_workers=args.num_workers,
        pin_memory=accelerator.device.type == "cuda",
        # a private generator: creating the iterator must not consume the global RNG, or a resumed
        # run's augmentations would drift from the uninterrupted run's
        generator=torch.Generator().manual_seed(args.seed),
    )
    global_batches = len(train_dataset) // (micro_batch * accelerator.num_processes)
    if global_batches == 0:
        raise ValueError(
            f"the training set has {len(train_dataset)} videos, fewer than one batch of {micro_batch} x "
            f"{accelerator.num_processes} processes; lower batch_size"
        )
    steps_per_epoch = math.ceil(global_batches / accelerator.gradient_accumulation_steps)

    if args.sync_bn and accelerator.num_processes > 1:
        model = convert_sync_batchnorm(model, accelerator.device)
    use_channels_last = args.channels_last == "on" or (
        args.channels_last == "auto" and accelerator.device.type == "cuda"
    )
    if use_channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
    optimizer = build_optimizer(param_groups or [p for p in model.parameters() if p.requires_grad], recipe)
    scheduler = build_scheduler(optimizer, recipe, steps_per_epoch)
    model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
    accelerator.register_for_checkpointing(scheduler)
    if isinstance(augment, nn.Module):
        augment.to(accelerator.device)
    hooks = accelerator.unwrap_model(model)

    state = TrainerState()
    resume_path = resolve_resume(args.resume, args.output_dir)
    if resume_path is not None:
        state = load_checkpoint(accelerator, resume_path)
        accelerator.print(f"resumed from {resume_path}: epoch {state.epoch + 1}, step {state.global_step}")
    accelerator.init_trackers("tensorboard", config=_scalar_hparams({**(hparams or {}), **vars(args)}))

    result = TrainResult(global_step=state.global_step)
    total_steps = recipe.epochs * steps_per_epoch if args.max_steps is None else args.max_steps
    progress = tqdm(
        total=total_steps,
        initial=state.global_step,
        disable=not (args.progress_bar and accelerator.is_local_main_process),
        unit="step",
        dynamic_ncols=True,
    )
    window = _Window()
    while state.epoch < recipe.epochs and not result.stopped_early:
        sampler.set_epoch(state.epoch)
        loader.set_epoch(state.epoch)
        if hasattr(train_dataset, "set_epoch"):
            train_dataset.set_epoch(state.epoch)
        if hasattr(hooks, "set_epoch"):
            hooks.set_epoch(state.epoch)
        model.train()
        epoch_loader = (
            accelerator.skip_first_batches(loader, state.batches_in_epoch)
            if state.batches_in_epoch
            else loader
        )
        epoch_terms: dict[str, list[float]] = defaultdict(list)
        skipped = torch.zeros((), dtype=torch.long, device=accelerator.device)
        epoch_start = time.perf_counter()
        progress.set_description(f"epoch {state.epoch + 1}/{recipe.epochs}")
        for batch in epoch_loader:
            with accelerator.accumulate(model):
                inputs = augment(batch)
                if use_channels_last:
                    inputs = {k: _channels_last(v) for k, v in inputs.items()}
                out = model(**inputs)
                accelerator.backward(out.loss)
                if accelerator.sync_gradients:
                    if hasattr(hooks, "before_optimizer_step"):
                        hooks.before_optimizer_step()
                    if args.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    step_lr = scheduler.get_last_lr()[0]  # the lr this step uses
                    optimizer.step()
                    scheduler.step()
                    if hasattr(hooks, "after_optimizer_step"):
                        hooks.after_optimizer_step()
                optimizer.zero_grad(set_to_none=True)
            state.batches_in_epoch += 1
            skipped += batch.get("num_skipped", torch.zeros(())).sum().to(skipped.device)
            window.add(out, micro_batch * accelerator.num_processes)
            if not accelerator.sync_gradients:
                continue
            state.global_step += 1
            progress.update(1)
            if state.global_step % args.logging_steps == 0:
                logs = window.reduce(accelerator)
                logs["lr"] = step_lr
                result.history.append({"step": state.global_step, **logs})
                accelerator.log({f"train/{k}": v for k, v in logs.items()}, step=state.global_step)
                progress.set_postfix(
                    loss=f"{logs['loss']:.4f}",
                    clips_per_s=f"{logs['clips_per_s']:.1f}",
                    lr=f"{logs['lr']:.2e}",
                )
                for key, value in logs.items():
                    epoch_terms[key].append(value)
            if state.global_step % args.save_steps == 0:
                result.last_checkpoint = save_checkpoint(
                    accelerator, args.output_dir, state, args.save_total_limit
                )
            if args.max_steps is not None and state.global_step >= args.max_steps:
                result.stopped_early = True
                break
        if window.count:  # the tail of the epoch that no logging step covered
            for key, value in window.reduce(accelerator).items():
                epoch_terms[key].append(value)
        summary = {k: sum(v) / len(v) for k, v in epoch_terms.items() if k != "lr"}
        summary["skipped_videos"] = int(accelerator.reduce(skipped, reduction="sum").item())
        summary["seconds"] = time.perf_counter() - epoch_start
        summary["epoch"] = state.epoch + 1  # 1-based, as every line the user reads
        result.epoch_summaries.append(summary)
        accelerator.log({f"epoch/{k}": v for k, v in summary.items()}, step=state.global_step)
        if accelerator.is_main_process:  # through tqdm, so the line does not break the progress bar
            progress.write(
                _epoch_line(summary, recipe.epochs, complete=state.batches_in_epoch >= len(loader))
            )
        if state.batches_in_epoch >= len(loader):
            state.epoch += 1
            state.batches_in_epoch = 0
    progress.close()
    result.global_step = state.global_step
    result.last_checkpoint = save_checkpoint(accelerator, args.output_dir, state, args.save_total_limit)
    # not `end_training()`: it destroys the process group, which evaluation after training still needs
    for tracker in accelerator.trackers:
        tracker.finish()
    accelerator.trackers.clear()
    return result


class _Window:
    """Running sums of the loss terms and metrics between two logging steps."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0
        self.clips = 0
        self.start = time.perf_counter()

    def add(self, out: Any, clips: int) -> None:
        values = {"loss": out.loss.detach()}
        for group in ("loss_terms", "metrics"):
            values.update({k: v.detach() for k, v in (getattr(out, group, None) or {}).items()})
        for key, value in values.items():
            value = value.float().mean()
            self.sums[key] = self.sums[key] + value if key in self.sums else value
        self.count += 1
        self.clips += clips

    def reduce(self, accelerator: Accelerator) -> dict[str, float]:
        """Means over the window and all processes, plus global clips/s; resets the window."""
        keys = sorted(self.sums)
        stacked = accelerator.reduce(torch.stack([self.sums[k] for k in keys]) / self.count, reduction="mean")
        logs = dict(zip(keys, stacked.tolist()))
        logs["clips_per_s"] = self.clips / max(time.perf_counter() - self.start, 1e-9)
        self.__init__()
        return logs


def _channels_last(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim == 5 and value.is_floating_point():
        return value.contiguous(memory_format=torch.channels_last_3d)
    return value


def _epoch_line(summary: dict[str, float], epochs: int, complete: bool) -> str:
    terms = ", ".join(
        f"{k} {v:.4f}"
        for k, v in summary.items()
        if k not in ("epoch", "seconds", "skipped_videos", "clips_per_s")
    )
    stopped = "" if complete else " (stopped by max_steps)"
    return (
        f"epoch {int(summary['epoch'])}/{epochs}{stopped}: {terms}, {summary.get('clips_per_s', 0.0):.1f} clips/s, "
        f"{summary['seconds']:.0f} s, skipped videos {summary['skipped_videos']}"
    )


def _scalar_hparams(values: dict[str, Any]) -> dict[str, Any]:
    """TensorBoard's hparams take scalars and strings only."""
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in values.items()}
