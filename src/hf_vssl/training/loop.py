"""The one Accelerate training loop: pretraining of every method and supervised finetuning.

The loop knows a model only through its output (`loss`, optional `loss_terms` / `metrics`) and the
hooks of `hooks.TrainingHooks` (`set_epoch`, `before_optimizer_step`, `after_optimizer_step`: every
`VsslForPretraining` has them), and a batch only through an `augment` module run on the device that
maps the collated batch to the model's keyword arguments. Hooks, the scheduler and the step counter
advance on real optimizer steps only, so gradient accumulation changes nothing else. `fit` is one
`_TrainingRun`, whose methods each do one job; what it logs is summed in a `window.LogWindow`.
"""

from __future__ import annotations

import math
import os
import signal
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import torch
from accelerate import (
    Accelerator,
    DataLoaderConfiguration,
    DistributedDataParallelKwargs,
    InitProcessGroupKwargs,
)
from accelerate.utils import ProjectConfiguration, broadcast_object_list, set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm.auto import tqdm

from ..optim.recipe import OptimizerRecipe, build_optimizer, build_scheduler
from ..typed_fields import bounds, check_bounds, coerce_fields
from .checkpointing import TrainerState, load_checkpoint, save_checkpoint
from .distributed import check_process_count, convert_sync_batchnorm, lost_process_guard
from .hooks import DatasetHooks, model_hooks
from .interrupts import InterruptGuard, TrainingInterrupted, ignore_interrupts, resume_command
from .run_dir import RunFinished, RunInfo, prepare_output_dir
from .window import LogWindow, timed

MixedPrecision = Literal["auto", "no", "bf16", "fp16"]
Switch = Literal["auto", "on", "off"]
# the trackers of `accelerate.Accelerator(log_with=...)`, as transformers' `--report_to`
ReportTo = Literal["tensorboard", "wandb", "mlflow", "comet_ml", "aim", "clearml", "dvclive", "all", "none"]
LOGS_DIR = "logs"  # trackers that write files (TensorBoard, aim, dvclive) write under OUTPUT_DIR/logs


@dataclass
class TrainingArguments:
    """How to run (not what to learn: that is the recipe).

    mixed_precision / channels_last: "auto" = bf16 autocast and channels_last_3d on CUDA, float32
    and the default layout on CPU; under `accelerate launch` (or with `accelerate config` settings in
    the environment) "auto" precision and an unset `compile` follow accelerate's settings, as
    transformers' Trainer does. sync_bn: BatchNorm over the global batch when several processes
    run. max_steps: stop after this many optimizer steps (smoke tests, the demo); None = all epochs.
    save_steps: a resumable checkpoint every N optimizer steps (and always at the end).
    resume: a checkpoint folder, "latest" for the newest one in `output_dir`, or "auto" (start, continue
    or leave alone the folder's run: `run_dir.RESUME_AUTO`).
    The CLI's options are made from these fields (`hf_vssl.cli.common.add_dataclass_arguments`).
    overwrite: start over in an `output_dir` that holds a run (its checkpoints and model are deleted);
    without it (or `resume`) such a folder is refused.
    skip_nonfinite_steps: a step with a non-finite loss term or gradient norm is skipped (counted)
    instead of stopping the run; it synchronises the host with the device once per step.
    """

    output_dir: Path = field(
        metadata={"help": "where checkpoints, logs, models and results go", "metavar": "DIR"}
    )
    gradient_accumulation_steps: int = field(default=1, metadata=bounds(ge=1))
    num_workers: int | None = field(
        default=None,
        metadata={
            "help": "decoding processes; default: the CPU cores this process may use / processes per machine",
            **bounds(ge=0),
        },
    )
    prefetch_factor: int = field(
        default=2,
        metadata={"help": "batches each decoding process prepares ahead (torch's default)", **bounds(ge=1)},
    )
    seed: int = 0
    mixed_precision: MixedPrecision = field(
        default="auto",
        metadata={"help": "autocast dtype; auto = bf16 on CUDA GPUs that support it, float32 (no) on CPU"},
    )
    channels_last: Switch = field(
        default="auto", metadata={"help": "channels_last_3d memory format; auto = on CUDA only"}
    )
    compile: bool = field(default=False, metadata={"help": "torch.compile the model (inductor)"})
    gradient_checkpointing: bool = field(
        default=False,
        metadata={
            "help": "recompute each backbone stage's activations during backward: less activation memory "
            "for about one more forward pass per step"
        },
    )
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
    max_steps: int | None = field(
        default=None, metadata={"help": "stop after this many optimizer steps", **bounds(ge=1)}
    )
    save_steps: int = field(
        default=500, metadata={"help": "checkpoint every N optimizer steps", **bounds(ge=1)}
    )
    save_total_limit: int = field(default=2, metadata={"help": "checkpoints kept (0 = all)"})
    logging_steps: int = field(default=10, metadata={"help": "log every N optimizer steps", **bounds(ge=1)})
    resume: str | Path | bool | None = field(
        default=None,
        metadata={
            "help": "continue a run: a checkpoint folder, or the newest one in OUTPUT_DIR when no value is "
            "given; 'auto': start a new run in an empty OUTPUT_DIR, continue the one there, exit 0 when it is "
            "finished (the same command can be requeued)",
            "metavar": "CHECKPOINT",
            "const": "latest",
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "start over in an OUTPUT_DIR that holds a run (deletes its checkpoints and model)"},
    )
    skip_nonfinite_steps: bool = field(
        default=False,
        metadata={
            "help": "skip (and count) optimizer steps with a NaN/inf loss or gradient instead of stopping"
        },
    )
    cpu: bool = field(default=False, metadata={"help": "run on the CPU even when a GPU is present"})
    progress_bar: bool = True
    report_to: ReportTo = field(
        default="tensorboard",
        metadata={"help": "experiment tracker (accelerate's log_with); the project is the run folder's name"},
    )
    ddp_timeout: int = field(
        default=1800,
        metadata={
            **bounds(ge=1),
            "help": "seconds a collective waits for the other processes before the run stops naming the "
            "lost rank (torch's default)",
        },
    )
    monitor_every: int | None = field(
        default=None,
        metadata={
            **bounds(ge=1),
            "help": "pretraining: kNN top-1 of the backbone on the held-out split every N epochs and before "
            "the first step (OUTPUT_DIR/monitor.jsonl); its clips stay decoded in memory",
            "metavar": "N",
        },
    )
    monitor_max_videos: int | None = field(
        default=None,
        metadata={
            **bounds(ge=1),
            "help": "pretraining: the monitor decodes at most N videos of each split, a class-stratified subset "
            "(the same on every process and after a resume); default: all",
            "metavar": "N",
        },
    )
    export_epochs: list[int] = field(
        default_factory=list,
        metadata={
            **bounds(ge=1),
            "help": "pretraining: also export the model after these epochs, to OUTPUT_DIR/model-epoch-N",
            "metavar": "EPOCH",
        },
    )
    streaming: bool = field(
        default=False,
        metadata={
            "help": "pretraining: stream the train split's Parquet shards (hf-vssl prepare --format parquet; a "
            "folder or a Hub id) instead of opening the dataset; exact resume, one epoch from the footers' rows"
        },
    )
    shuffle_buffer_size: int = field(
        default=1000,  # datasets' IterableDataset.shuffle default
        metadata={
            **bounds(ge=1),
            "help": "with --streaming: rows each decoding process shuffles in memory (their video bytes)",
        },
    )

    @property
    def decoding_workers(self) -> int:
        """`num_workers`, or `default_num_workers()` when it is None (the machine's cores per process)."""
        return default_num_workers() if self.num_workers is None else self.num_workers

    def __post_init__(self) -> None:
        self.output_dir = Path(self.output_dir)
        coerce_fields(self)  # a choice outside its Literal fails here, naming the field and the choices
        check_bounds(self)
        if self.streaming and self.monitor_every:
            raise ValueError(
                "--monitor-every indexes the held-out videos, which --streaming cannot; unset one of them"
            )
        if self.monitor_max_videos is not None and not self.monitor_every:
            raise ValueError(
                "monitor_max_videos bounds the kNN monitor's videos: set monitor_every too, or unset it"
            )


@dataclass
class TrainResult:
    """global_step: optimizer steps done; history: the logged values (loss terms and metrics averaged
    over processes, lr, clips/s) of every logging step, with its "step"; epoch_summaries: one dict per
    epoch (its 1-based "epoch", mean loss terms, skipped videos and steps, seconds); stopped_early:
    max_steps ended the run; skipped_steps: optimizer steps skipped for a non-finite value
    (`skip_nonfinite_steps`)."""

    global_step: int
    history: list[dict[str, float]] = field(default_factory=list)
    epoch_summaries: list[dict[str, float]] = field(default_factory=list)
    last_checkpoint: Path | None = None
    stopped_early: bool = False
    skipped_steps: int = 0


class EpochCallback(Protocol):
    """Work a run does beside training: at its start and after each complete epoch (the kNN monitor,
    mid-run exports). `model` is the prepared model; `epoch` is 1-based; the returned values join
    the epoch's summary and line."""

    def start(
        self, model: nn.Module, accelerator: Accelerator, completed_epochs: int, resumed: bool
    ) -> None: ...

    def on_epoch_end(
        self, model: nn.Module, accelerator: Accelerator, epoch: int, result: TrainResult
    ) -> dict[str, float]: ...


class TrainingDiverged(RuntimeError):
    """A loss term or the gradient norm became NaN or infinite; nothing of the run past its last
    checkpoint is saved."""


class EpochShuffleSampler(Sampler[int]):
    """A permutation of the dataset that depends only on (seed, epoch): every process draws the same
    order and a resumed run replays it exactly.

    num_draws: the permutation's first `num_draws` indices per epoch (default: all). Repeated sampling
    reads 1/K of the items per epoch, each giving K samples (DeiT's `RASampler` does the same), so an
    epoch keeps its number of samples and optimizer steps."""

    def __init__(
        self, num_samples: int, seed: int, shuffle: bool = True, num_draws: int | None = None
    ) -> None:
        self.num_samples, self.seed, self.shuffle, self.epoch = num_samples, seed, shuffle, 0
        self.num_draws = num_samples if num_draws is None else num_draws

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(range(self.num_draws))
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=generator)[: self.num_draws].tolist())

    def __len__(self) -> int:
        return self.num_draws


def make_accelerator(args: TrainingArguments, trackers: bool = True) -> Accelerator:
    """An Accelerator with the run's precision, accumulation and (with `trackers`) `args.report_to`;
    bf16 only where supported. Settings `accelerate launch` / `accelerate config` put into the
    environment win over "auto" and an unset `compile`; explicit values win over them."""
    on_cuda = torch.cuda.is_available() and not args.cpu
    precision = args.mixed_precision
    if precision == "auto":  # None: accelerate reads ACCELERATE_MIXED_PRECISION
        launched = os.environ.get("ACCELERATE_MIXED_PRECISION")
        precision = None if launched else "bf16" if on_cuda and torch.cuda.is_bf16_supported() else "no"
    dynamo = "inductor" if args.compile else None if os.environ.get("ACCELERATE_DYNAMO_BACKEND") else "no"
    # without any accelerator, cpu=True is what makes several launched processes one gloo group
    cpu = args.cpu or not torch.accelerator.is_available()
    log_with = None if not trackers or args.report_to == "none" else args.report_to
    requested = precision or os.environ.get("ACCELERATE_MIXED_PRECISION", "no")
    if cpu and requested != "no":
        raise ValueError(
            f"mixed_precision '{requested}' on the CPU: PyTorch 2.13's CPU autocast gives wrong 3D-convolution "
            "weight gradients (NaN/1e37 on T=2 maps); use --mixed-precision no"
        )
    accelerator = Accelerator(
        cpu=cpu,
        mixed_precision=precision,
        # with pinned batches (see fit), the host-to-device copy overlaps the previous step's compute
        dataloader_config=DataLoaderConfiguration(non_blocking=on_cuda),
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=log_with,
        project_config=ProjectConfiguration(
            project_dir=str(args.output_dir), logging_dir=str(Path(args.output_dir) / LOGS_DIR)
        ),
        dynamo_backend=dynamo,
        kwargs_handlers=[
            DistributedDataParallelKwargs(find_unused_parameters=args.find_unused_parameters),
            InitProcessGroupKwargs(timeout=timedelta(seconds=args.ddp_timeout)),
        ],
    )
    check_process_count(accelerator.num_processes)
    return accelerator


def default_num_workers() -> int:
    """Decoding processes per training process: the CPU cores this process may run on, shared by the
    training processes of this machine (`LOCAL_WORLD_SIZE`, set by accelerate/torchrun launchers)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


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
    callbacks: tuple[EpochCallback, ...] = (),
) -> TrainResult:
    """Train `model` on `train_dataset` for `recipe.epochs` epochs (or `args.max_steps` steps).

    train_dataset items are dicts (collated by its `collate_fn`, else torch's default collate); if it has
    `set_epoch`, it is called at every epoch start so per-sample randomness depends on (seed, epoch, index).
    If it has `repeated_samples` (K samples per item), the loader reads batch / K items per step and
    len / K items per epoch: `recipe.batch_size` counts samples, and an epoch keeps its steps
    (`hooks.EpochDataset`, `hooks.RepeatedSamplesDataset`). A model implementing `hooks.TrainingHooks`
    gets them called. augment(batch on device) -> kwargs of `model.forward`; it runs on the device, batched.
    param_groups: optimizer parameter groups (default: every trainable parameter, one group).
    `args.output_dir` must not hold another run (`run_dir.prepare_output_dir`). A non-finite loss
    term raises `TrainingDiverged`; SIGINT / SIGTERM / SIGUSR1 save a checkpoint and raise
    `TrainingInterrupted` (`interrupts.exit_status`).
    callbacks: run at the start and after every complete epoch (`pretrain` makes those of
    `args.monitor_every` and `args.export_epochs`, which need them).
    """
    if (args.monitor_every or args.export_epochs) and not callbacks:
        raise ValueError(
            "monitor_every / export_epochs are done by pretraining (`pretrain`, `hf-vssl pretrain`); unset them here"
        )
    with InterruptGuard() as interrupts, lost_process_guard(args.output_dir):
        run = _TrainingRun(
            model, train_dataset, augment, recipe, args, accelerator or make_accelerator(args), interrupts
        )
        return run.run(param_groups, hparams, callbacks)


class _TrainingRun:
    """One call of `fit`: `run` builds the loader, prepares model and optimizer, resumes, then trains
    epoch after epoch (`run_epoch` -> `advance` per batch -> `on_step_end` per optimizer step) and
    `finish`es. `state` is what a checkpoint records; `result` what the caller gets."""

    def __init__(
        self,
        model: nn.Module,
        dataset: Dataset,
        augment: Callable[[dict[str, Any]], dict[str, Any]],
        recipe: OptimizerRecipe,
        args: TrainingArguments,
        accelerator: Accelerator,
        interrupts: InterruptGuard,
    ) -> None:
        self.model, self.dataset, self.augment, self.recipe, self.args = model, dataset, augment, recipe, args
        self.accelerator, self.interrupts = accelerator, interrupts
        self.data = DatasetHooks.of(dataset)
        self.state = TrainerState()
        self.result = TrainResult(global_step=0)
        self.window = LogWindow()
        self.saved_step: int | None = None  # the step of the newest checkpoint of this run

    def run(
        self,
        param_groups: list[dict[str, Any]] | None,
        hparams: dict[str, Any] | None,
        callbacks: tuple[EpochCallback, ...],
    ) -> TrainResult:
        self.info = _prepare_run(self.accelerator, self.model, self.recipe, self.args)
        # augmentations differ across processes, identically per run
        set_seed(self.args.seed, device_specific=True)
        self.build_loader()
        self.prepare(param_groups)
        self.resume()
        self.accelerator.init_trackers(
            self.args.output_dir.resolve().name,
            config=_scalar_hparams({**(hparams or {}), **vars(self.args)}),
        )
        self.result.global_step = self.state.global_step
        # a resumed run that had reached max_steps only exports
        self.result.stopped_early = self._reached_max_steps()
        self.callbacks = callbacks
        for callback in callbacks:
            callback.start(
                self.model, self.accelerator, self.state.epoch, resumed=self.saved_step is not None
            )
        self.progress = self._progress_bar()
        while self.state.epoch < self.recipe.epochs and not self.result.stopped_early:
            self.on_epoch_end(self.run_epoch())
        return self.finish()

    def build_loader(self) -> None:
        """The DataLoader of this process, its sampler and the optimizer steps of an epoch."""
        # datasets and PyAV load when a run trains, not for --help
        from ..data.streaming import StreamingClipDataset

        args, accelerator, repeats = self.args, self.accelerator, self.data.repeats
        self.micro_batch = per_process_batch_size(self.recipe.batch_size, accelerator)
        self.streaming = isinstance(self.dataset, StreamingClipDataset)
        if self.streaming:
            self.build_stream_loader()
            return
        if args.streaming:
            raise ValueError("--streaming is read by pretraining (hf-vssl pretrain) only; drop it here")
        if self.micro_batch % repeats:
            raise ValueError(
                f"repeated_samples {repeats} must divide the batch of each process and accumulation step "
                f"({self.micro_batch}); change batch_size or repeated_samples"
            )
        size = len(self.dataset)
        self.sampler = EpochShuffleSampler(size, seed=args.seed, num_draws=size // repeats)
        num_workers = args.decoding_workers
        self.loader = DataLoader(
            self.dataset,
            batch_size=self.micro_batch // repeats,
            sampler=self.sampler,
            collate_fn=self.data.collate,
            drop_last=True,
            num_workers=num_workers,
            persistent_workers=num_workers > 0,  # no respawn (and dataset copy) at every epoch
            prefetch_factor=args.prefetch_factor if num_workers > 0 else None,
            pin_memory=accelerator.device.type == "cuda",
            # a private generator: creating the iterator must not consume the global RNG, or a resumed
            # run's augmentations would drift from the uninterrupted run's
            generator=torch.Generator().manual_seed(args.seed),
            worker_init_fn=ignore_interrupts,
        )
        global_batches = len(self.sampler) // (self.micro_batch // repeats * accelerator.num_processes)
        if global_batches == 0:
            raise ValueError(
                f"the training set has {size} videos, fewer than one batch of {self.micro_batch} x "
                f"{accelerator.num_processes} processes; lower batch_size"
            )
        self.steps_per_epoch = math.ceil(global_batches / accelerator.gradient_accumulation_steps)

    def build_stream_loader(self) -> None:
        """A `StreamLoader` (`hf_vssl.data.streaming`): an epoch's length from the shards' footers, its
        position in every checkpoint (a registered object)."""
        from ..data.streaming import StreamLoader

        args, accelerator = self.args, self.accelerator
        num_workers = args.decoding_workers
        plan = self.dataset.make_plan(
            accelerator.process_index, accelerator.num_processes, max(1, num_workers), self.micro_batch,
            multiple=accelerator.gradient_accumulation_steps,
        )  # fmt: skip
        self.sampler = None
        self.loader = StreamLoader(
            self.dataset, plan, device=accelerator.device, num_workers=num_workers,
            prefetch_factor=args.prefetch_factor, worker_init_fn=ignore_interrupts,
        )  # fmt: skip
        accelerator.register_for_checkpointing(self.loader)
        self.steps_per_epoch = len(self.loader) // accelerator.gradient_accumulation_steps

    def prepare(self, param_groups: list[dict[str, Any]] | None) -> None:
        """SyncBN, memory layout, optimizer and scheduler; everything handed to `accelerator.prepare`."""
        args, accelerator, model = self.args, self.accelerator, self.model
        if args.gradient_checkpointing:
            enable_gradient_checkpointing(model)
        if args.sync_bn and accelerator.num_processes > 1:
            model = convert_sync_batchnorm(model, accelerator.device)
        self.channels_last = args.channels_last == "on" or (
            args.channels_last == "auto" and accelerator.device.type == "cuda"
        )
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last_3d)
        trainable = param_groups or [p for p in model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(trainable, self.recipe)
        self.scheduler = build_scheduler(self.optimizer, self.recipe, self.steps_per_epoch)
        self.model, self.optimizer, self.loader = accelerator.prepare(model, self.optimizer, self.loader)
        accelerator.register_for_checkpointing(self.scheduler)
        if isinstance(self.augment, nn.Module):
            self.augment.to(accelerator.device)
        self.hooks = model_hooks(accelerator.unwrap_model(self.model))
        accelerator.print(
            _setup_line(accelerator, self.micro_batch, self.channels_last, args.gradient_checkpointing)
        )

    def resume(self) -> None:
        """Load the checkpoint `prepare_output_dir` chose, if any: weights, optimizer, RNG and `state`."""
        checkpoint = self.info.resume_from
        if checkpoint is None:
            return
        self.state = load_checkpoint(self.accelerator, checkpoint)
        if self.streaming:
            self.loader.check_resume(self.state.epoch, self.state.batches_in_epoch)
        self.result.last_checkpoint = checkpoint
        self.saved_step = self.state.global_step
        self.accelerator.print(
            f"resumed from {checkpoint}: epoch {self.state.epoch + 1}, step {self.state.global_step}"
        )

    def run_epoch(self) -> dict[str, float]:
        """Train on what is left of the epoch in progress; its summary (`TrainResult.epoch_summaries`)."""
        state, accelerator = self.state, self.accelerator
        for set_epoch in (self.loader.set_epoch, self.data.set_epoch, self.hooks.set_epoch):
            set_epoch(state.epoch)
        if self.sampler is not None:
            self.sampler.set_epoch(state.epoch)
        self.model.train()
        batches = self.loader
        if state.batches_in_epoch and not self.streaming:  # a stream starts where its loaded state says
            batches = accelerator.skip_first_batches(self.loader, state.batches_in_epoch)
        self.epoch_terms: dict[str, list[float]] = defaultdict(list)
        self.skipped_videos = torch.zeros((), dtype=torch.long, device=accelerator.device)
        self.skipped_steps = 0
        start = time.perf_counter()
        self.progress.set_description(f"epoch {state.epoch + 1}/{self.recipe.epochs}")
        for batch in timed(batches, self.window):
            if self.advance(batch) and self.on_step_end():
                break
        if self.window.count:  # the tail of the epoch that no logging step covered
            self._stop_if_diverged()
            for key, value in self.window.reduce(accelerator).items():
                self.epoch_terms[key].append(value)
        summary = {k: sum(v) / len(v) for k, v in self.epoch_terms.items() if k != "lr"}
        summary["skipped_videos"] = int(accelerator.reduce(self.skipped_videos, reduction="sum").item())
        summary["skipped_steps"] = self.skipped_steps
        summary["seconds"] = time.perf_counter() - start
        summary["epoch"] = state.epoch + 1  # 1-based, as every line the user reads
        return summary

    def advance(self, batch: dict[str, Any]) -> bool:
        """Forward and backward of one micro-batch; whether it ended an optimizer step."""
        accelerator = self.accelerator
        with accelerator.accumulate(self.model):
            inputs = self.augment(batch)
            if self.channels_last:
                inputs = {k: _channels_last(v) for k, v in inputs.items()}
            out = self.model(**inputs)
            accelerator.backward(out.loss)
            self.window.add(out, self.micro_batch * accelerator.num_processes)
            if accelerator.sync_gradients:
                self.optimizer_step()
            self.optimizer.zero_grad(set_to_none=True)
        self.state.batches_in_epoch += 1
        self.skipped_videos += batch.get("num_skipped", torch.zeros(())).sum().to(self.skipped_videos.device)
        return accelerator.sync_gradients

    def optimizer_step(self) -> None:
        """Clip, step (unless the step is non-finite and such steps are skipped), schedule, hooks."""
        args = self.args
        self.hooks.before_optimizer_step()
        if args.max_grad_norm or args.skip_nonfinite_steps:
            norm = self.accelerator.clip_grad_norm_(self.model.parameters(), args.max_grad_norm or math.inf)
            self.window.add_step_value("grad_norm", norm)
        self.step_lr = self.scheduler.get_last_lr()[0]  # the lr this step uses
        skip = args.skip_nonfinite_steps and self.window.step_is_nonfinite(self.accelerator)
        if not skip or self.accelerator.scaler is not None:  # fp16's GradScaler skips it itself
            self.optimizer.step()
        self.scheduler.step()
        if not skip:
            self.hooks.after_optimizer_step()
        self.window.end_step(self.state.global_step + 1, skipped=skip)
        self.skipped_steps += skip

    def on_step_end(self) -> bool:
        """Count the optimizer step; log, checkpoint, obey an interrupt. Whether the run stops here."""
        state, args = self.state, self.args
        state.global_step += 1
        self.result.global_step = state.global_step
        self.progress.update(1)
        if state.global_step % args.logging_steps == 0:
            self.log_step()
        if state.global_step % args.save_steps == 0:
            self.save()
        if self._reached_max_steps():
            self.result.stopped_early = True
            return True
        signum = self.interrupts.requested()
        if signum:
            self.interrupt(signum)
        return False

    def log_step(self) -> None:
        """The window's means to the history, the trackers, the progress bar and the epoch's terms."""
        self._stop_if_diverged()
        logs = self.window.reduce(self.accelerator)
        logs["lr"] = self.step_lr
        step = self.state.global_step
        self.result.history.append({"step": step, **logs})
        self.accelerator.log({f"train/{k}": v for k, v in logs.items()}, step=step)
        self.progress.set_postfix(
            loss=f"{logs.get('loss', math.nan):.4f}",
            clips_per_s=f"{logs['clips_per_s']:.1f}",
            data_wait=f"{logs['data_wait']:.0%}",
            lr=f"{logs['lr']:.2e}",
        )
        for key, value in logs.items():
            self.epoch_terms[key].append(value)

    def on_epoch_end(self, summary: dict[str, float]) -> None:
        """Record the epoch's summary, run the callbacks after a complete epoch, print the epoch line,
        move to the next epoch if this one is complete."""
        state, accelerator = self.state, self.accelerator
        self.result.skipped_steps += summary["skipped_steps"]
        self.result.epoch_summaries.append(summary)
        accelerator.log({f"epoch/{k}": v for k, v in summary.items()}, step=state.global_step)
        complete = state.batches_in_epoch >= len(self.loader)
        if complete and self.callbacks:
            self._stop_if_diverged()  # nothing is monitored or exported of a diverged model
            for callback in self.callbacks:
                summary |= callback.on_epoch_end(self.model, accelerator, state.epoch + 1, self.result)
        if accelerator.is_main_process:  # through tqdm, so the line does not break the progress bar
            self.progress.write(_epoch_line(summary, self.recipe.epochs, complete=complete))
        if complete:
            state.epoch += 1
            state.batches_in_epoch = 0

    def save(self) -> None:
        """A checkpoint of the current step; always a good one (a diverged run stops first)."""
        self._stop_if_diverged()
        if self.streaming:
            self.loader.gather_state()  # every process's stream position, which the main process writes
        self.result.last_checkpoint = save_checkpoint(
            self.accelerator, self.args.output_dir, self.state, self.args.save_total_limit, self.info
        )
        self.saved_step = self.state.global_step

    def interrupt(self, signum: int) -> None:
        """Save (unless this step is saved), say how to resume, stop with `TrainingInterrupted`."""
        if self.saved_step != self.state.global_step:
            self.save()
        self.progress.close()
        command = resume_command(num_processes=self.accelerator.num_processes, overwrote=self.args.overwrite)
        how = f"continue with:\n  {command}" if command else "running this command again starts the run over"
        self.accelerator.print(
            f"interrupted by {signal.Signals(signum).name} at step {self.state.global_step}: checkpoint "
            f"{self.result.last_checkpoint}; {how}"
        )
        raise TrainingInterrupted(signum, self.result.last_checkpoint)

    def finish(self) -> TrainResult:
        """The last checkpoint (unless this step is saved) and the trackers closed."""
        self.progress.close()
        self.result.global_step = self.state.global_step
        if self.saved_step != self.state.global_step:
            self.save()
        # not `end_training()`: it destroys the process group, which evaluation after training still needs
        for tracker in self.accelerator.trackers:
            tracker.finish()
        self.accelerator.trackers.clear()
        return self.result

    def _reached_max_steps(self) -> bool:
        return self.args.max_steps is not None and self.state.global_step >= self.args.max_steps

    def _progress_bar(self) -> tqdm:
        args = self.args
        total = self.recipe.epochs * self.steps_per_epoch if args.max_steps is None else args.max_steps
        return tqdm(
            total=total,
            initial=self.state.global_step,
            disable=not (args.progress_bar and self.accelerator.is_local_main_process),
            unit="step",
            dynamic_ncols=True,
        )

    def _stop_if_diverged(self) -> None:
        found = self.window.nonfinite(self.accelerator)
        if found is not None:
            step, names = found
            checkpoint = self.result.last_checkpoint
            restart = "resume from it" if checkpoint else "start again"
            raise TrainingDiverged(
                f"training diverged: non-finite {', '.join(names)} at step {step}; last good checkpoint: "
                f"{checkpoint or 'none written yet'}. Lower the learning rate (or set max_grad_norm) and "
                f"{restart}, or skip such steps with --skip-nonfinite-steps"
            )


def run_record(model: nn.Module, recipe: OptimizerRecipe, args: TrainingArguments) -> dict[str, Any]:
    """What a resumed run must share with the checkpoint: model class and config (method, backbone,
    method fields), recipe and seed; and a streaming run's shuffle buffer (its order), absent otherwise so
    that the records of runs that do not stream stay as they were."""
    config = getattr(model, "config", None)
    config_dict = config.to_diff_dict() if config is not None else {}
    config_dict.pop("transformers_version", None)
    record = {
        "model": type(model).__name__,
        "config": config_dict,
        "recipe": asdict(recipe),
        "seed": args.seed,
    }
    if args.streaming:
        record["streaming"] = {"shuffle_buffer_size": args.shuffle_buffer_size}
    return record


def _prepare_run(
    accelerator: Accelerator, model: nn.Module, recipe: OptimizerRecipe, args: TrainingArguments
) -> RunInfo:
    """`prepare_output_dir` on the main process; its answer (or its error, or `RunFinished`) on every
    process."""
    outcome: list[RunInfo | BaseException | None] = [None]
    if accelerator.is_main_process:
        try:
            outcome[0] = prepare_output_dir(
                args.output_dir, resume=args.resume, overwrite=args.overwrite,
                run_record=run_record(model, recipe, args),
            )  # fmt: skip
        except (ValueError, FileExistsError, FileNotFoundError, RunFinished) as err:
            outcome[0] = err
    if accelerator.num_processes > 1:
        broadcast_object_list(outcome)
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _setup_line(accelerator: Accelerator, micro_batch: int, channels_last: bool, checkpointing: bool) -> str:
    """What the run really is: processes, device, precision, batch of each process and memory knobs."""
    backend = f", {accelerator.state.backend}" if accelerator.num_processes > 1 else ""
    return (
        f"run: {accelerator.num_processes} process(es){backend}, device {accelerator.device.type}, "
        f"precision {accelerator.mixed_precision}, per-process batch {micro_batch} x "
        f"{accelerator.gradient_accumulation_steps} accumulation step(s), "
        f"channels_last_3d {'on' if channels_last else 'off'}, "
        f"gradient checkpointing {'on' if checkpointing else 'off'}"
    )


def enable_gradient_checkpointing(model: nn.Module) -> None:
    """Checkpoint every backbone stage of `model` (`VsslBackboneModel._run_stages`), non-reentrant: DDP with
    find_unused_parameters and frozen parts work, and autocast / channels_last run as without it."""
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is None:
        raise ValueError(
            f"gradient_checkpointing needs an hf-vssl (transformers) model, got {type(model).__name__}; unset it"
        )
    enable(activation_checkpointing_kwargs={"use_reentrant": False})


def _channels_last(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.ndim == 5 and value.is_floating_point():
        return value.contiguous(memory_format=torch.channels_last_3d)
    return value


def _epoch_line(summary: dict[str, float], epochs: int, complete: bool) -> str:
    terms = (
        ", ".join(
            f"{k} {v:.4f}"
            for k, v in summary.items()
            if k not in ("epoch", "seconds", "skipped_videos", "skipped_steps", "clips_per_s", "data_wait")
        )
        or "no step with finite values"
    )
    stopped = "" if complete else " (stopped by max_steps)"
    return (
        f"epoch {int(summary['epoch'])}/{epochs}{stopped}: {terms}, {summary.get('clips_per_s', 0.0):.1f} clips/s, "
        f"data wait {summary.get('data_wait', 0.0):.0%}, "
        f"{summary['seconds']:.0f} s, skipped videos {summary['skipped_videos']}, "
        f"skipped non-finite steps {summary['skipped_steps']}"
    )


def _scalar_hparams(values: dict[str, Any]) -> dict[str, Any]:
    """TensorBoard's hparams take scalars and strings only."""
    return {k: (v if isinstance(v, (int, float, str, bool)) else str(v)) for k, v in values.items()}
