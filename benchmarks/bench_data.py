"""Data throughput: decoded + sampled clips per second for ONE data worker, to size the CPU side of a GPU.

Each measurement runs `VideoClipDataset.__getitem__` in this process (what one DataLoader worker does: draw
frame indices, seek, decode with PyAV, resize to the frame size while decoding) over UCF-101-like videos
(320x240, 25 fps, ~6.5 s, H.264 mp4 and MPEG-4 avi), then the batched GPU-side augmentation on this
machine's device for reference. Workers needed per GPU ~= clips/s the GPU trains on / clips/s per worker.

`hf-vssl prepare` rows: the codecs it could use, timed in CPU-seconds on copies at the prepared size (the
choice of `PREPARED_CODEC`), the source against its prepared copy side by side (ratio), and Pace's frames
decoded per sample with and without skipping the key-frame groups that hold no needed frame.

Repeated sampling rows: samples per CPU-second when each decoded video gives K samples (`repeated_samples`,
one decode of the union of their frames) for K = 1, 2, 4 side by side.

    python benchmarks/bench_data.py                      # synthetic UCF-like videos (built once, ~1 min)
    python benchmarks/bench_data.py --root /data/UCF101  # a real dataset (any layout the loaders read)
    python benchmarks/bench_data.py --tables repeated     # only some of the tables
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
from hf_vssl.data.decoding import decode_frames, probe_video
from hf_vssl.data.encoding import CODECS, VideoCodec, write_video
from hf_vssl.data.prepare import PREPARED_CODEC, prepared_path, transcode_video
from hf_vssl.data.samplers import SingleClipSampler, TwoClipSampler
from hf_vssl.data.sources import load_video_dataset
from hf_vssl.data.synthetic import PRESETS, SyntheticPreset, make_synthetic_ucf, render_video
from hf_vssl.methods.pace import PaceConfig
from hf_vssl.methods.registry import get_method
from hf_vssl.methods.vicc import ViCCConfig
from hf_vssl.methods.vicc.views import ViCCAugment

# (name, sampler, decoded frame size, crop size of the GPU augmentation)
CLIPS = (
    ("16x112x112", SingleClipSampler(num_frames=16), (128, 171), 112),  # Pace / MFO / SDC clips
    ("32x128x128", SingleClipSampler(num_frames=32), (128, 171), 128),  # ViCC's S3D clips
    ("2 x 32x128x128", TwoClipSampler(num_frames=32), (128, 171), 128),  # ViCC: two clips per sample
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


# the codecs `hf-vssl prepare` could write (FFmpeg's bundled encoders), timed at the prepared size
PREPARE_CODECS = {
    "MPEG-4 qscale 3 (prepare's choice)": PREPARED_CODEC,
    "MPEG-4 qscale 5": VideoCodec("mpeg4", "yuv420p", {"qscale:v": "5"}),
    "H.264 veryfast crf 18": CODECS[".mp4"],
    "H.264 veryfast tune=fastdecode": VideoCodec(
        "libx264", "yuv420p", {"preset": "veryfast", "crf": "18", "tune": "fastdecode"}
    ),
    "H.264 ultrafast": VideoCodec("libx264", "yuv420p", {"preset": "ultrafast", "crf": "18"}),
    "MJPEG qscale 3": VideoCodec("mjpeg", "yuvj420p", {"qscale:v": "3"}),
}
# MFO and Pace Prediction supp.: the source is resized to 128x171 while decoding
SOURCE_FRAME_SIZE = (128, 171)
TABLES = ("prepared", "repeated", "decode", "augment")
REPEATS = (1, 2, 4)  # samples per decoded video in the repeated-sampling table


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
        {
            "video": paths,
            "label": [0] * len(paths),
            "video_frames": [probe_video(p).video_frames for p in paths],
        }
    )


def clips_per_second(
    rows: datasets.Dataset,
    sampler,
    frame_size,
    threads: int,
    samples: int,
    clock=time.perf_counter,
    repeated: int = 1,
) -> float:
    """Samples per second of `clock` (wall time, or `time.process_time` for CPU-seconds); `repeated`
    samples per decoded video (`repeated_samples`), so `samples / repeated` items are read."""
    dataset = VideoClipDataset(
        rows, sampler, frame_size=frame_size, decode_threads=threads, repeated_samples=repeated
    )
    for index in range(min(3, len(rows))):  # warm-up: file cache, codec init
        dataset[index]
    items = max(1, samples // repeated)
    start = clock()
    for index in range(items):
        dataset[index % len(rows)]
    return items * repeated / (clock() - start)


def prepared_copies(paths: list[str], folder: Path, codec: VideoCodec) -> list[str]:
    """`paths` re-encoded as `hf-vssl prepare` does (short side 128, GOP 16) with `codec`, built once."""
    copies = []
    for path in paths:
        target = folder / prepared_path(Path(Path(path).name))
        if not target.is_file():
            transcode_video(path, target, codec=codec)
        copies.append(str(target))
    return copies


def frames_per_sample(
    paths: list[str], sampler, samples: int, skip_unneeded: bool = True, repeated: int = 1
) -> tuple[float, float, float]:
    """(frames decoded, distinct frames used, samples per CPU-second) per sample of `sampler`, `repeated`
    samples per decode (the union of their frames, as `VideoClipDataset` decodes it)."""
    counts = [probe_video(path).video_frames for path in paths]
    stats, used, items = {}, 0, max(1, samples // repeated)
    start = time.process_time()
    for index in range(items):
        rng = np.random.default_rng(index)
        draws = [sampler(counts[index % len(paths)], rng).views for _ in range(repeated)]
        needed = np.unique(np.concatenate([v.reshape(-1) for views in draws for v in views.values()]))
        decode_frames(
            paths[index % len(paths)],
            needed,
            size=SOURCE_FRAME_SIZE,
            threads=1,
            skip_unneeded=skip_unneeded,
            stats=stats,
        )
        used += len(needed)
    done = items * repeated
    return stats["decoded"] / done, used / done, done / (time.process_time() - start)


def augment_clips_per_second(
    num_frames: int, frame_size, crop: int, device: torch.device, batch: int = 16
) -> float:
    """ViCC's strong policy on a batch of uint8 clips already on the device."""
    clips = torch.randint(0, 256, (batch, num_frames, *frame_size, 3), dtype=torch.uint8, device=device)
    config = ViCCConfig(num_frames=num_frames, frame_size=list(frame_size), crop_size=crop)
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
    parser.add_argument("--tables", nargs="+", choices=TABLES, default=list(TABLES), help="tables to print")
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
    print(f"\nCPU: {os.cpu_count()} cores; PyAV decoding in this process = one data worker")
    if "prepared" in args.tables and not args.root:
        prepared_rows(folder, videos, args.samples)
    if "repeated" in args.tables:
        repeated_rows(sources, args.samples)
    if "decode" in args.tables:
        print("\n| clip | source | decoder threads | clips/s per worker | ms per clip |")
        print("|---|---|---:|---:|---:|")
        for name, sampler, frame_size, _crop in CLIPS:
            for source, rows in sources.items():
                for threads in args.threads:
                    rate = clips_per_second(rows, sampler, frame_size, threads, args.samples)
                    label = "auto" if threads == 0 else str(threads)
                    print(f"| {name} | {source} | {label} | {rate:.1f} | {1000 / rate:.1f} |", flush=True)

    if "augment" in args.tables:
        print(f"\n| GPU-side augmentation (ViCC strong policy), device {device} | clips/s |")
        print("|---|---:|")
        for name, _sampler, frame_size, crop in CLIPS[:2]:
            rate = augment_clips_per_second(int(name.split("x")[0]), frame_size, crop, device)
            print(f"| {name} from {frame_size[0]}x{frame_size[1]} | {rate:.0f} |", flush=True)


def repeated_rows(sources: dict[str, datasets.Dataset], samples: int) -> None:
    """Samples per CPU-second with K samples per decoded video (one decoder thread), K = 1, 2, 4, and the
    frames decoded per sample (what the K samples share)."""
    ks = " | ".join(f"K={k}" for k in REPEATS)
    print(
        f"\n| repeated sampling: samples per CPU-s (frames decoded per sample) | source | {ks} | K={REPEATS[-1]} / K=1 |"
    )
    print(f"|---|---|{'---:|' * (len(REPEATS) + 1)}")
    for name, sampler, frame_size, _crop in (CLIPS[0], CLIPS[2]):
        for source, rows in sources.items():
            rates = [
                clips_per_second(rows, sampler, frame_size, 1, samples, time.process_time, repeated=k)
                for k in REPEATS
            ]
            decoded = [frames_per_sample(rows["video"], sampler, samples, repeated=k)[0] for k in REPEATS]
            cells = " | ".join(f"{rate:.1f} ({frames:.0f})" for rate, frames in zip(rates, decoded))
            print(f"| {name} | {source} | {cells} | {rates[-1] / rates[0]:.2f}x |", flush=True)


def prepared_rows(folder: Path, videos: dict[str, list[str]], samples: int) -> None:
    """The `hf-vssl prepare` tables (16-frame clips, one decoder thread, CPU-seconds of this process)."""
    clip = SingleClipSampler(num_frames=16)
    tiny = make_synthetic_ucf(folder / "synthetic_tiny", "tiny")  # the bundled synthetic set, 64x80
    synthetic = [str(min(d.glob("*.mp4"))) for d in sorted(tiny.iterdir()) if any(d.glob("*.mp4"))]
    print(
        "\n| prepared codec (short side 128, GOP 16) | source videos | KiB per video | 16-frame clips per CPU-s |"
    )
    print("|---|---|---:|---:|")
    for name, codec in PREPARE_CODECS.items():
        for label, paths in (("synthetic tiny 64x80", synthetic), ("UCF-like 320x240", videos[".mp4"])):
            copies = prepared_copies(
                paths,
                folder / "codecs" / label.split()[0] / "".join(c if c.isalnum() else "_" for c in name),
                codec,
            )
            rate = clips_per_second(rows_for(copies), clip, None, 1, samples, clock=time.process_time)
            size = np.mean([os.path.getsize(p) for p in copies]) / 1024
            print(f"| {name} | {label} | {size:.0f} | {rate:.0f} |", flush=True)

    print(
        "\n| 16-frame clips per CPU-second | source (resized to 128x171) | prepared (128x170, no resize) | ratio |"
    )
    print("|---|---:|---:|---:|")
    for extension, label in ((".mp4", "320x240 H.264"), (".avi", "320x240 MPEG-4 avi")):
        copies = prepared_copies(videos[extension], folder / "prepared" / extension[1:], PREPARED_CODEC)
        source = clips_per_second(
            rows_for(videos[extension]), clip, SOURCE_FRAME_SIZE, 1, samples, clock=time.process_time
        )
        prepared = clips_per_second(rows_for(copies), clip, None, 1, samples, clock=time.process_time)
        print(f"| {label} | {source:.0f} | {prepared:.0f} | {prepared / source:.2f}x |", flush=True)

    print(
        "\n| Pace sampler (2 clips x 16, paces 1-4), 320x240 H.264 | frames decoded per sample | distinct frames used | samples per CPU-s |"
    )
    print("|---|---:|---:|---:|")
    pace = get_method("pace").build_sampler(PaceConfig())
    for label, skip in (
        ("decode the whole span (before)", False),
        ("skip groups without a needed frame", True),
    ):
        decoded, used, rate = frames_per_sample(videos[".mp4"], pace, samples, skip)
        print(f"| {label} | {decoded:.0f} | {used:.0f} | {rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
