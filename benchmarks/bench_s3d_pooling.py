"""S3D forward + backward time with ceil (MFO supp. Table 2) vs floor (CoCLR / ViCC / torchvision)
pooling at MaxPool_5a, side by side on the same input: ceil keeps Mixed_5b / 5c at 2x4x4 for 16x112x112,
floor at 2x3x3 (16 vs 9 positions per frame).

    python benchmarks/bench_s3d_pooling.py                          # full width, batch 8, this device
    python benchmarks/bench_s3d_pooling.py --width 0.25 --batch 2   # a quick CPU look
"""

from __future__ import annotations

import argparse
import time

import torch

from hf_vssl.models.s3d import S3DConfig, S3DModel


def seconds_per_step(model: S3DModel, clips: torch.Tensor, steps: int) -> float:
    """Mean wall time of a training step's forward + backward (after one warm-up step)."""

    def step() -> None:
        model(clips).pooler_output.sum().backward()
        model.zero_grad(set_to_none=True)

    step()
    if clips.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if clips.device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--width", type=float, default=1.0, help="S3D width_multiplier")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--steps", type=int, default=5, help="steps timed per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    clips = torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    print(f"S3D width {args.width}, batch {args.batch} x 3x{args.frames}x{args.size}x{args.size} on {device}")
    models = {}
    for ceil in (True, False):
        config = S3DConfig(width_multiplier=args.width, pool5_ceil_mode=ceil)
        torch.manual_seed(0)
        models[ceil] = S3DModel(config).to(device).train()
    # alternate the two models over rounds and keep each one's best, so load on a shared machine hits both
    timings = {ceil: float("inf") for ceil in models}
    for _ in range(args.rounds):
        for ceil, model in models.items():
            timings[ceil] = min(timings[ceil], seconds_per_step(model, clips, args.steps))
    for ceil, model in models.items():
        with torch.no_grad():
            grid = tuple(model(clips[:1]).last_hidden_state.shape[-3:])
        name = "ceil (MFO supp.)" if ceil else "floor (releases)"
        print(f"  {name:17s} Mixed_5c {grid}: {1000 * timings[ceil]:8.1f} ms / step (best of {args.rounds})")
    print(f"  floor is {timings[True] / timings[False]:.2f}x the speed of ceil")


if __name__ == "__main__":
    main()
