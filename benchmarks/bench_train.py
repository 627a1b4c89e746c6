"""Training throughput per method, side by side in one run: compute-only vs end-to-end clips/s.

For each method (and a plain supervised finetune step) on the device present:
- compute-only: augmentation + model + loss + backward + optimizer step on ONE batch that stays on
  the device (no decoding): the rate the accelerator can train at;
- end-to-end: the shared training loop (`hf_vssl.training.loop.fit`) reading real mp4 files with
  `--num-workers` decoding processes, from the source videos and, with `--prepared DIR` (the output of
  `hf-vssl prepare`), from the prepared copy;
- their ratio (1.0 = the input pipeline keeps up), the fraction of step time spent waiting for data
  when the loop logs it, and the peak memory (CUDA: allocated; CPU: the process's max RSS).
On a GPU it also times torchvision's r3d_18 / r2plus1d_18 (when torchvision imports) at the same
settings, as the anchor of the compute-only rate.

`--checkpointing` prints instead the `--gradient-checkpointing` table: for each method, compute-only
clips/s and peak memory with it off and on, each setting in a fresh process (so one setting's freed
memory cannot hide the other's). Peak memory is counted above what the process holds just before the
first step (model, optimizer, the batch): activations, gradients and optimizer state. CUDA:
`torch.cuda.max_memory_allocated` (tensors; the caching allocator's reserve is not counted); CPU: the
resident set's high-water mark (Linux VmHWM, reset through /proc/self/clear_refs), with glibc's mmap
threshold fixed at 64 KiB in those processes so that freed tensors leave the resident set (glibc's
default threshold grows with each large free and keeps later frees resident, which hides the difference).

    python benchmarks/bench_train.py                                  # CPU-sized defaults
    python benchmarks/bench_train.py --dataset /data/UCF101 --prepared /data/UCF101-128 \
        --frames 16 --crop 112 --width 1.0 --batch-size 64 --steps 30 --num-workers 16   # one GPU
    python benchmarks/bench_train.py --checkpointing                  # memory with checkpointing off / on
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from hf_vssl.data.sources import class_names, load_video_dataset
from hf_vssl.data.synthetic import make_synthetic_ucf
from hf_vssl.evaluation.classifier import build_classifier
from hf_vssl.evaluation.finetune import ClassificationAugment, FinetuneArguments
from hf_vssl.methods import build_method_config
from hf_vssl.methods.registry import get_method
from hf_vssl.training.loop import TrainingArguments, enable_gradient_checkpointing, fit, make_accelerator
from hf_vssl.training.pretrain import build_train_dataset

METHODS = ("pace", "mfo", "sdc", "vicc", "supervised")


def method_parts(method: str, args: argparse.Namespace, dataset) -> tuple[Any, Any, Any, Any]:
    """(model, training dataset, augment, recipe) of `method` at the benchmark's clip and width."""
    clip = {"num_frames": args.frames, "crop_size": args.crop, "frame_size": list(args.frame_size)}
    recipe_fields = {"batch_size": args.batch_size, "epochs": 1}
    backbone = {"width_multiplier": args.width}
    if method == "supervised":
        from hf_vssl.data.clip_dataset import VideoClipDataset
        from hf_vssl.data.samplers import SingleClipSampler
        from hf_vssl.evaluation.runner import load_backbone
        from hf_vssl.optim import OptimizerRecipe

        network, _ = load_backbone(None, args.backbone, backbone)
        model = build_classifier(network, class_names(dataset), freeze_backbone=False, dropout=0.5)
        train = VideoClipDataset(
            dataset, SingleClipSampler(num_frames=args.frames), frame_size=args.frame_size
        )
        augment = ClassificationAugment((args.crop, args.crop), FinetuneArguments())
        return model, train, augment, OptimizerRecipe(**recipe_fields)
    config = build_method_config(
        method, args.backbone, backbone_overrides=backbone, overrides=clip | recipe_fields
    )
    spec = get_method(method)
    train = build_train_dataset(spec, config, dataset, seed=0)
    return spec.model_class(config), train, spec.build_augment(config), config.optimizer_recipe


def compute_only(
    model, train, augment, recipe, args: argparse.Namespace, device: torch.device
) -> tuple[float, float]:
    """(clips/s, peak MiB above the memory in use before the first step: `StepMemory`) of augmentation +
    step on one device-resident batch (decoded once, reused)."""
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, num_workers=0)
    batch = _to(next(iter(loader)), device)
    from hf_vssl.optim import build_optimizer

    model.to(device).train()
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last_3d)
    augment.to(device)
    optimizer = build_optimizer([p for p in model.parameters() if p.requires_grad], recipe)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    memory = StepMemory(device)
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync(device)
            start = time.perf_counter()
        with autocast:
            loss = model(**augment(batch)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - start), memory.peak_mib()


def end_to_end(
    model, train, augment, recipe, args: argparse.Namespace, workdir: Path
) -> tuple[float, float | None]:
    """(clips/s, data-wait fraction or None) of the training loop over real files, after warm-up steps."""
    steps = args.warmup + args.steps
    training = TrainingArguments(
        output_dir=workdir, num_workers=args.num_workers, max_steps=steps, logging_steps=1,
        save_steps=10**9, progress_bar=False, cpu=args.cpu, mixed_precision="auto" if not args.cpu else "no",
    )  # fmt: skip
    recipe = dataclasses.replace(recipe, epochs=max(1, -(-steps * args.batch_size // len(train))))
    result = fit(
        model, train, augment, recipe, training, accelerator=make_accelerator(training, trackers=False)
    )
    timed = [row for row in result.history if row["step"] > args.warmup]
    rate = sum(row["clips_per_s"] for row in timed) / len(timed)
    waits = [row["data_wait"] for row in timed if "data_wait" in row]
    return rate, (sum(waits) / len(waits) if waits else None)


def torchvision_anchor(name: str, args: argparse.Namespace, device: torch.device) -> float | None:
    """Compute-only clips/s of torchvision's `name` (r3d_18 / r2plus1d_18) with a cross-entropy step."""
    try:
        from torchvision.models import video
    except Exception:  # torchvision is optional (it does not import on every torch build)
        return None
    return classification_step_rate(getattr(video, name)(num_classes=400), args, device)


def classification_step_rate(
    model: torch.nn.Module,
    args: argparse.Namespace,
    device: torch.device,
    *,
    bf16: bool = True,
    channels_last: bool = True,
    compile: bool = False,
    num_classes: int = 400,
) -> float:
    """Compute-only clips/s of a `num_classes`-way cross-entropy training step of `model` (clips -> logits,
    or an output with `.logits`) on one device-resident batch of `args.batch_size` random clips
    (`args.frames` x `args.crop`^2), timed over `args.steps` steps after `args.warmup`."""
    memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=memory_format).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    forward = torch.compile(model) if compile else model
    clips = torch.randn(args.batch_size, 3, args.frames, args.crop, args.crop, device=device)
    clips = clips.contiguous(memory_format=memory_format)
    labels = torch.randint(0, num_classes, (args.batch_size,), device=device)
    for step in range(args.warmup + args.steps):
        if step == args.warmup:
            _sync(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            out = forward(clips)
            loss = torch.nn.functional.cross_entropy(getattr(out, "logits", out), labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    _sync(device)
    return args.steps * args.batch_size / (time.perf_counter() - start)


class StepMemory:
    """Peak memory from its creation on, above the memory in use then (MiB); NaN where the CPU peak
    cannot be reset (no Linux /proc)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        if device.type == "cuda":
            _sync(device)
            torch.cuda.reset_peak_memory_stats(device)
            self.start = torch.cuda.memory_allocated(device) / 2**20
            return
        try:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: the high-water mark VmHWM := VmRSS now
            self.start = _proc_status_mib("VmRSS")
        except OSError:
            self.start = math.nan

    def peak_mib(self) -> float:
        if self.device.type == "cuda":
            _sync(self.device)
            return torch.cuda.max_memory_allocated(self.device) / 2**20 - self.start
        return math.nan if math.isnan(self.start) else _proc_status_mib("VmHWM") - self.start


def _proc_status_mib(key: str) -> float:
    """A memory line (kB) of /proc/self/status, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise OSError(f"/proc/self/status has no {key} line")


def checkpointed_step(method: str, checkpointing: bool, args: argparse.Namespace, device_type: str):
    """`compute_only` of `method` with gradient checkpointing on or off: run in a fresh process."""
    torch.manual_seed(0)
    model, train, augment, recipe = method_parts(method, args, load_video_dataset(args.root)["train"])
    if checkpointing:
        enable_gradient_checkpointing(model)
    return compute_only(model, train, augment, recipe, args, torch.device(device_type))


def checkpointing_table(args: argparse.Namespace, device: torch.device) -> None:
    """Clips/s and peak memory of every method's step with gradient checkpointing off and on."""
    print(
        f"peak MiB: above the memory in use before the first step, {args.warmup + args.steps} steps; "
        + (
            "torch.cuda.max_memory_allocated"
            if device.type == "cuda"
            else "resident set high-water mark (VmHWM), a fresh process per cell, glibc mmap threshold 64 KiB"
        )
    )
    header = ["method", "clips/s off", "clips/s on", "on/off", "peak MiB off", "peak MiB on", "on/off"]
    print(" | ".join(header))
    spawn = multiprocessing.get_context("spawn")  # a fresh process per cell: nothing freed earlier is reused
    os.environ["MALLOC_MMAP_THRESHOLD_"] = str(64 * 1024)  # read by glibc when each cell's process starts
    for method in args.methods.split(","):
        cells = {}
        for checkpointing in (False, True):
            with spawn.Pool(1) as pool:
                cells[checkpointing] = pool.apply(
                    checkpointed_step, (method, checkpointing, args, device.type)
                )
        (rate_off, peak_off), (rate_on, peak_on) = cells[False], cells[True]
        row = [method, f"{rate_off:.1f}", f"{rate_on:.1f}", f"{rate_on / rate_off:.2f}"]
        row += [f"{peak_off:.0f}", f"{peak_on:.0f}", f"{peak_on / peak_off:.2f}"]
        print(" | ".join(row), flush=True)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device, non_blocking=True)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--dataset", type=Path, help="dataset root (default: the synthetic 'small' set)")
    parser.add_argument("--prepared", type=Path, help="the same dataset after `hf-vssl prepare`")
    parser.add_argument("--backbone", default="r3d")
    parser.add_argument("--width", type=float, default=0.25, help="width_multiplier (1.0 on a GPU)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--crop", type=int, default=64)
    parser.add_argument("--frame-size", type=int, nargs=2, default=(72, 96))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument(
        "--checkpointing",
        action="store_true",
        help="print the gradient checkpointing table (compute-only clips/s and peak memory, off / on) instead",
    )
    args = parser.parse_args()
    torch.backends.cudnn.benchmark = True  # fixed shapes
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        root = args.dataset or make_synthetic_ucf(Path(tmp) / "data", preset="small", seed=0)
        sources = {"source": load_video_dataset(root)["train"]}
        args.root = root
        if args.prepared:
            sources["prepared"] = load_video_dataset(args.prepared)["train"]
        print(
            f"device {device}, backbone {args.backbone} x{args.width}, clips {args.frames}x{args.crop}x{args.crop} "
            f"from {args.frame_size[0]}x{args.frame_size[1]}, batch {args.batch_size}, {args.steps} timed steps "
            f"after {args.warmup}, {args.num_workers} workers"
        )
        if args.checkpointing:
            checkpointing_table(args, device)
            return
        header = ["method", "compute clips/s", *(f"{name} e2e clips/s" for name in sources)]
        header += [f"{name} e2e/compute" for name in sources] + ["data wait", "peak MiB"]
        print(" | ".join(header))
        for method in args.methods.split(","):
            torch.manual_seed(0)
            parts = method_parts(method, args, sources["source"])
            compute, _ = compute_only(*parts, args, device)
            rates, wait = {}, None
            for name, split in sources.items():
                torch.manual_seed(0)
                model, train, augment, recipe = method_parts(method, args, split)
                rates[name], wait = end_to_end(
                    model, train, augment, recipe, args, Path(tmp) / f"{method}-{name}"
                )
            cells = [method, f"{compute:.1f}", *(f"{r:.1f}" for r in rates.values())]
            cells += [f"{r / compute:.2f}" for r in rates.values()]
            cells += ["-" if wait is None else f"{wait:.0%}", f"{peak_memory_mib(device):.0f}"]
            print(" | ".join(cells), flush=True)
        if device.type == "cuda":
            for name in ("r3d_18", "r2plus1d_18"):
                rate = torchvision_anchor(name, args, device)
                print(f"torchvision {name} | {'-' if rate is None else f'{rate:.1f}'} (compute-only anchor)")


if __name__ == "__main__":
    main()
