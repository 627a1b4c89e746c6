"""Feature extraction end to end against the compute alone: is `hf-vssl extract-features` fed fast enough?

For one backbone and batch size, the compute-only rate is clips per second of forward passes on random
clips already on the device (the same autocast as extraction: bf16 on CUDA, float32 on the CPU); the
end-to-end rate is clips per second of `write_features` (decode with PyAV in DataLoader workers, crop,
forward, pool, write one .npy per video) on the synthetic set and on its `hf-vssl prepare` copy. A ratio
near 1 means decoding keeps up with the network; well below 1, more workers or prepared data are needed.

    python benchmarks/bench_extract.py                                   # r3d-18, 16x112 clips, all videos
    python benchmarks/bench_extract.py --width-multiplier 0.25 --videos 24 --num-workers 1   # a small CPU run
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel

import hf_vssl.models  # noqa: F401  (registers the Auto classes)
from hf_vssl.data.prepare import prepare_dataset
from hf_vssl.data.processor import VsslVideoProcessor
from hf_vssl.data.synthetic import make_synthetic_ucf
from hf_vssl.evaluation.extract import ExtractionArguments, FeatureExtractor, FeatureFolder, open_videos
from hf_vssl.training.loop import TrainingArguments, default_num_workers, make_accelerator


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "hf_vssl_bench_extract")
    parser.add_argument("--preset", default="small", help="synthetic preset (hf_vssl.data.synthetic.PRESETS)")
    parser.add_argument("--videos", type=int, default=None, help="only the first N videos (default: all)")
    parser.add_argument("--depth", type=int, default=18, help="R3D depth")
    parser.add_argument("--width-multiplier", type=float, default=1.0)
    parser.add_argument("--num-frames", type=int, default=16)
    parser.add_argument("--crop-size", type=int, default=112)
    parser.add_argument("--stride", type=int, default=4, help="frames between clips")
    parser.add_argument("--batch-size", type=int, default=32, help="crops per forward pass")
    parser.add_argument("--num-workers", type=int, default=None, help="decoding workers (default: the cores)")
    parser.add_argument(
        "--compute-iters", type=int, default=10, help="timed forward passes of the compute rate"
    )
    return parser.parse_args()


def compute_rate(extractor: FeatureExtractor, iters: int) -> float:
    """Clips per second of forward passes alone on full batches of random clips on the device."""
    accelerator, processor = extractor.accelerator, extractor.processor
    shape = (extractor.arguments.batch_size, 3, processor.num_frames, *processor.crop_size)
    clips = torch.randn(shape, device=accelerator.device)
    network = extractor.backbone.eval()

    def forward() -> None:
        with torch.no_grad(), accelerator.autocast():
            network(clips).pooler_output.float().cpu()  # the copy back synchronises the device

    forward()  # warm-up: kernels chosen, memory allocated
    start = time.perf_counter()
    for _ in range(iters):
        forward()
    return iters * shape[0] / (time.perf_counter() - start)


def end_to_end_rate(
    extractor: FeatureExtractor, root: Path, out: Path, videos: int | None
) -> tuple[float, int]:
    """(clips per second, clips) of writing the features of `root`'s videos into a fresh `out`."""
    dataset = open_videos(root)
    dataset = dataset.select(range(min(videos, len(dataset)))) if videos else dataset
    report = FeatureFolder(out, extractor).write(dataset)
    return report.clips / report.seconds, report.clips


def main() -> None:
    args = parse_args()
    synthetic = make_synthetic_ucf(args.cache / f"synthetic-{args.preset}", preset=args.preset, seed=0)
    prepared = args.cache / f"prepared-{args.preset}"
    if not prepared.is_dir():
        prepare_dataset(synthetic, prepared, progress=False)
    torch.manual_seed(0)
    config = AutoConfig.for_model("vssl-r3d", depth=args.depth, width_multiplier=args.width_multiplier)
    processor = VsslVideoProcessor(num_frames=args.num_frames, crop_size=args.crop_size)
    accelerator = make_accelerator(TrainingArguments(output_dir=args.cache), trackers=False)
    extractor = FeatureExtractor(
        AutoModel.from_config(config), processor, ExtractionArguments(stride=args.stride, batch_size=args.batch_size),
        accelerator=accelerator, name="bench", progress=False,
        num_workers=default_num_workers() if args.num_workers is None else args.num_workers,
    )  # fmt: skip
    print(
        f"r3d-{args.depth} x{args.width_multiplier}, clips {args.num_frames}x{args.crop_size}, batch "
        f"{args.batch_size}, stride {args.stride}, {extractor.num_workers} workers, {accelerator.device} "
        f"({accelerator.mixed_precision})"
    )
    print(f"{'data':<12}{'clips':>8}{'end-to-end clips/s':>20}{'compute clips/s':>18}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as out:
        for name, root in (("synthetic", synthetic), ("prepared", prepared)):
            compute = compute_rate(extractor, args.compute_iters)  # beside each run: a shared machine drifts
            rate, clips = end_to_end_rate(extractor, root, Path(out) / name, args.videos)
            print(f"{name:<12}{clips:>8}{rate:>20.1f}{compute:>18.1f}{rate / compute:>8.2f}")


if __name__ == "__main__":
    main()
