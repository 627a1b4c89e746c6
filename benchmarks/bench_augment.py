"""Augmentation time per batch: the crop read from uint8 frames (only the kept pixels become float) beside the
same functions fed frames converted to float first, on this machine's device, side by side.

Rows: the resized crop alone, then a whole view policy (MFO's: crop, flip, jitter, grey, blur, normalise),
from frames decoded at 128x171 (the papers' frame size) and at 240x320 (full-resolution UCF-101 frames, as the
released ViCC crops them). Each figure is the median of `--repeats` timed calls after one warm-up call.

    python benchmarks/bench_augment.py                       # batch 8 x 16 frames
    python benchmarks/bench_augment.py --batch 32 --frames 16
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial

import torch

from hf_vssl.data.augment import ClipAugment, random_resized_crop, sample_crop_params, to_float_clips
from hf_vssl.methods.mfo.configuration_mfo import MFOConfig
from hf_vssl.methods.mfo.views import clip_augment

FRAME_SIZES = ((128, 171), (240, 320))
CROP = 112


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(step: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> float:
    step()  # warm-up: allocator, kernels
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    policy: ClipAugment = clip_augment(MFOConfig(crop_size=CROP)).to(device)
    print(
        f"device {device}, {torch.get_num_threads()} threads, batch {args.batch} x {args.frames} frames, crop {CROP}"
    )
    print(f"{'step':<34} {'uint8 crop first':>17} {'float, then crop':>17} {'ratio':>7}")
    for height, width in FRAME_SIZES:
        frames = torch.randint(
            0, 256, (args.batch, args.frames, height, width, 3), dtype=torch.uint8, device=device
        )
        boxes = sample_crop_params(args.batch, height, width, (0.5, 1.0), device=device)
        steps: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
            "resized crop": partial(random_resized_crop, size=CROP, params=boxes),
            "MFO view policy": policy,
        }
        for name, step in steps.items():
            first = median_ms(partial(step, frames), device, args.repeats)
            second = median_ms(
                lambda step=step, frames=frames: step(to_float_clips(frames)), device, args.repeats
            )
            label = f"{name} from {height}x{width}"
            print(f"{label:<34} {first:>14.1f} ms {second:>14.1f} ms {second / first:>6.2f}x")


if __name__ == "__main__":
    main()
