"""Data throughput: decoded + sampled clips per second for ONE data worker, to size the CPU side of a GPU.

Each measurement runs `VideoClipDataset.__getitem__` in this process (what one DataLoader worker does: draw
frame indices, seek, decode with PyAV, resize to the frame size while decoding) over UCF-101-like videos
(320x240, 25 fps, ~6.5 s, H.264 mp4 and MPEG-4 avi), then the batched GPU-side augmentation on this
machine's device for reference. Workers needed per GPU ~= clips/s the GPU trains on / clips/s per worker.

    python benchmarks/bench_data.py                      # synthetic UCF-like videos (built once, ~1 min)
    python benchmarks/bench_data.py --root /data/UCF101  # a real dataset (any layout the loaders read)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import datasets
import numpy as np
import torch

from hf_vssl.data.clip_dataset import VideoClipDataset
from hf_vssl.data.decoding import probe_video
from hf_vssl.data.encoding import write_video
from hf_vssl.data.samplers import SingleClipSampler, TwoClipSampler
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.data.synthetic import PRESETS, SyntheticPreset, render_video
from hf_vssl.methods.vicc import ViCCConfig
from hf_vssl.methods.vicc.views import ViCCAugment

# (name, sampler, decoded frame size, crop size of the GPU augmentation)
CLIPS = (
    ("16x112x112", SingleClipSampler(clip_len=16), (128, 171), 112),  # Pace / MFO / SDC clips
    ("32x128x128", SingleClipSampler(clip_len=32), (128, 171), 128),  # ViCC's S3D clips
    ("2 x 32x128x128", TwoClipSampler(clip_len=32), (128, 171), 128),  # ViCC: two clips per sample
)
UCF_LIKE = SyntheticPreset(
    classes=PRESETS["small"].classes,
    height=240,
    width=320,
    min_frames=150,
    max_frames=180,
    groups=3,
    clips_per_group=1,
    test_groups=1,
    gop_size=12,
)


def build_videos(folder: Path, count: int) -> dict[str, list[str]]:
    """`count` UCF-like videos per container (mp4 H.264, avi MPEG-4), built once and reused."""
    videos: dict[str, list[str]] = {".mp4": [], ".avi": []}
    for i in range(count):
        frames = None
        for extension in videos:
            path = folder / f"video{i:02d}{extension}"
            if not path.is_file():
                if frames is None:
                    name = UCF_LIKE.classes[i % len(UCF_LIKE.classes)]
                    frames = render_video(name, UCF_LIKE, np.random.default_rng(i))
                write_video(path, frames, fps=25, gop_size=UCF_LIKE.gop_size)
            videos[extension].append(str(path))
    return videos


def rows_for(paths: list[str]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"video": paths, "label": [0] * len(paths), "num_frames": [probe_video(p).num_frames for p in paths]}
    )


def clips_per_second(rows: datasets.Dataset, sampler, frame_size, threads: int, samples: int) -> float:
    dataset = VideoClipDataset(rows, sampler, frame_size=frame_size, decode_threads=threads)
    for index in range(min(3, len(rows))):  # warm-up: file cache, codec init
        dataset[index]
    start = time.perf_counter()
    for index in range(samples):
        dataset[index % len(rows)]
    return samples / (time.perf_counter() - start)


def augment_clips_per_second(
    clip_len: int, frame_size, crop: int, device: torch.device, batch: int = 16
) -> float:
    """ViCC's strong policy on a batch of uint8 clips already on the device."""
    clips = torch.randint(0, 256, (batch, clip_len, *frame_size, 3), dtype=torch.uint8, device=device)
    config = ViCCConfig(num_frames=clip_len, frame_size=list(frame_size), crop_size=crop)
    augment = ViCCAugment(config).views.augment  # strong=None: every clip gets the colour ops
    generator = torch.Generator(device="cpu").manual_seed(0)
    augment(clips, generator=generator)
    repeats = 5 if device.type == "cuda" else 2
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        augment(clips, generator=generator)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return repeats * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", help="a real dataset folder (default: synthetic UCF-like videos)")
    parser.add_argument(
        "--cache",
        default=Path(tempfile.gettempdir()) / "hf_vssl_bench_data",
        help="where the synthetic videos are kept",
    )
    parser.add_argument("--num-videos", type=int, default=8)
    parser.add_argument("--samples", type=int, default=40, help="clips timed per configuration")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 0], help="decoder threads (0 = FFmpeg auto)"
    )
    args = parser.parse_args()

    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    if args.root:
        sources = {
            Path(args.root).name: load_video_dataset(args.root)["train"].select(range(args.num_videos))
        }
    else:
        start = time.perf_counter()
        folder = Path(args.cache)
        folder.mkdir(parents=True, exist_ok=True)
        videos = build_videos(folder, args.num_videos)
        print(
            f"videos: {args.num_videos} per container at 320x240, 150-180 frames, GOP 12, in {folder} "
            f"({time.perf_counter() - start:.0f} s)"
        )
        sources = {
            "mp4 / H.264": rows_for(videos[".mp4"]),
            "avi / MPEG-4": rows_for(videos[".avi"]),
        }

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"\nCPU: {os.cpu_count()} cores; PyAV decoding in this process = one data worker\n")
    print("| clip | source | decoder threads | clips/s per worker | ms per clip |")
    print("|---|---|---:|---:|---:|")
    for name, sampler, frame_size, _crop in CLIPS:
        for source, rows in sources.items():
            for threads in args.threads:
                rate = clips_per_second(rows, sampler, frame_size, threads, args.samples)
                label = "auto" if threads == 0 else str(threads)
                print(f"| {name} | {source} | {label} | {rate:.1f} | {1000 / rate:.1f} |", flush=True)

    print(f"\n| GPU-side augmentation (ViCC strong policy), device {device} | clips/s |")
    print("|---|---:|")
    for name, _sampler, frame_size, crop in CLIPS[:2]:
        rate = augment_clips_per_second(int(name.split("x")[0]), frame_size, crop, device)
        print(f"| {name} from {frame_size[0]}x{frame_size[1]} | {rate:.0f} |", flush=True)


if __name__ == "__main__":
    main()
