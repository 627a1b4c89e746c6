"""Multi-clip test protocol: cut every video into clips, run a frozen network once, cache the result.

A video gives `num_clips` clips spread uniformly over it (the 10-clip protocol of every seed), or
ViCC's dense windows (every `dense_window_stride` frames); each clip is resized while decoding,
then centre-cropped, or cut into ten crops (four corners + centre, and their mirror images, ViCC's
variant). The network's output for every crop of every clip is kept with the index of its video,
so probe, retrieval and clustering share one extraction, stored on disk under a key made of the
weights, the dataset and the protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.augment import check_crop_fits, normalize, to_float_clips
from ..data.decoding import decode_frames
from ..data.samplers import dense_clips, uniform_clips


@dataclass(frozen=True)
class ClipProtocol:
    """How test clips are cut. clip_len frames at `stride`; crop_size from frames decoded at frame_size
    (H, W); num_clips uniform clips, or dense windows every dense_window_stride frames; ten_crop adds
    the corner crops and mirror images."""

    clip_len: int = 16  # every seed tests on 16-frame clips (ViCC's S3D: 32)
    crop_size: int = 112  # centre crop 112, or the model's pretraining size
    frame_size: tuple[int, int] = (128, 171)  # the seeds' resize before cropping
    num_clips: int = 10  # METHODS.md: 10 clips sampled uniformly over each video
    stride: int = 1
    dense_window_stride: int | None = None  # ViCC's dense-window variant
    ten_crop: bool = False  # ViCC's variant: 10 crops per window

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_size", tuple(int(s) for s in self.frame_size))
        check_crop_fits(self.crop_size, self.frame_size)
        for name in ("clip_len", "crop_size", "num_clips", "stride"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dense_window_stride is not None and self.dense_window_stride < 1:
            raise ValueError(f"dense_window_stride must be >= 1, got {self.dense_window_stride}")

    @property
    def crops_per_clip(self) -> int:
        return 10 if self.ten_crop else 1

    def clip_indices(self, num_frames: int) -> np.ndarray:
        """(n_clips, clip_len) frame indices of one video."""
        if self.dense_window_stride is not None:
            return dense_clips(num_frames, self.clip_len, self.dense_window_stride, stride=self.stride)
        return uniform_clips(num_frames, self.clip_len, num_clips=self.num_clips, stride=self.stride)

    def to_pixel_values(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 clips: (N, T, H, W, C) -> normalised float (N * crops, C, T, crop, crop), crops of a
        clip adjacent."""
        video = normalize(to_float_clips(clips))  # (N, C, T, H, W)
        crops = [
            _crop(video, corner, self.crop_size) for corner in (_CORNERS if self.ten_crop else ("centre",))
        ]
        if self.ten_crop:
            crops += [c.flip(-1) for c in crops]
        return torch.stack(crops, dim=1).flatten(0, 1)


_CORNERS = ("centre", "top_left", "top_right", "bottom_left", "bottom_right")


def _crop(video: torch.Tensor, corner: str, size: int) -> torch.Tensor:
    """A size x size crop of video: (N, C, T, H, W) at `corner`."""
    height, width = video.shape[-2:]
    top = {"centre": (height - size) // 2, "top_left": 0, "top_right": 0}.get(corner, height - size)
    left = {"centre": (width - size) // 2, "top_left": 0, "bottom_left": 0}.get(corner, width - size)
    return video[..., top : top + size, left : left + size]


@dataclass
class ClipOutputs:
    """outputs: (N_crops_total, D) per crop of every clip; video_index: (N_crops_total,) its video;
    labels: (num_videos,) class of each video."""

    outputs: torch.Tensor
    video_index: torch.Tensor
    labels: torch.Tensor

    @property
    def num_videos(self) -> int:
        return len(self.labels)

    def video_means(self) -> torch.Tensor:
        """(num_videos, D): every video's outputs averaged over its clips and crops."""
        sums = torch.zeros(self.num_videos, self.outputs.shape[1]).index_add_(
            0, self.video_index, self.outputs
        )
        return sums / torch.bincount(self.video_index, minlength=self.num_videos)[:, None].clamp_min(1)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"outputs": self.outputs, "video_index": self.video_index, "labels": self.labels}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> ClipOutputs:
        return cls(**load_file(str(path)))


class TestClipDataset(Dataset):
    """Item i: every clip of video i, decoded at the protocol's frame size: uint8 (n, T, H, W, C)."""

    def __init__(
        self, dataset: Any, protocol: ClipProtocol, video_column: str = "video", label_column: str = "label"
    ):
        missing = {video_column, label_column} - set(dataset.column_names)
        if missing:
            raise ValueError(
                f"the dataset has no column(s) {sorted(missing)}; columns: {dataset.column_names}"
            )
        self.dataset, self.protocol = dataset, protocol
        self.video_column, self.label_column = video_column, label_column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[index]
        num_frames = row.get("num_frames")
        if num_frames is None:
            from ..data.decoding import probe_video

            num_frames = probe_video(row[self.video_column]).num_frames
        indices = self.protocol.clip_indices(int(num_frames))  # (n, T); each distinct frame decodes once
        frames = decode_frames(row[self.video_column], indices.reshape(-1), size=self.protocol.frame_size)
        clips = torch.from_numpy(frames.reshape(*indices.shape, *frames.shape[1:]))  # (n, T, H, W, C)
        return {"clips": clips, "label": int(row[self.label_column]), "index": index}


def pooled_features(backbone: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """pixel_values (N, C, T, H, W) -> pooled backbone features (N, D)."""
    return lambda pixel_values: backbone(pixel_values).pooler_output


@torch.no_grad()
def extract_clip_outputs(
    network: Callable[[torch.Tensor], torch.Tensor],
    dataset: Any,
    protocol: ClipProtocol,
    *,
    accelerator: Accelerator,
    batch_size: int = 32,
    num_workers: int = 2,
    modules: tuple[nn.Module, ...] = (),
) -> ClipOutputs:
    """Run `network` (in eval mode: pass its modules) over every clip and crop of every video.

    Videos are split over the processes and the results gathered, so every process returns the
    full ClipOutputs. batch_size: crops per forward pass.
    """
    for module in modules:
        module.eval()
    videos = TestClipDataset(dataset, protocol)
    mine = list(range(accelerator.process_index, len(videos), accelerator.num_processes))
    loader = DataLoader(
        torch.utils.data.Subset(videos, mine), batch_size=None, num_workers=num_workers, prefetch_factor=None
    )
    results = []
    for item in loader:
        pixel_values = protocol.to_pixel_values(item["clips"].to(accelerator.device))
        outputs = []
        with accelerator.autocast():
            for chunk in pixel_values.split(batch_size):
                outputs.append(network(chunk).float().cpu())
        results.append((item["index"], torch.cat(outputs), item["label"]))
    gathered = (
        sorted(gather_object(results), key=lambda r: r[0]) if accelerator.num_processes > 1 else results
    )
    return ClipOutputs(
        outputs=torch.cat([r[1] for r in gathered]),
        video_index=torch.cat(
            [torch.full((len(r[1]),), i, dtype=torch.long) for i, r in enumerate(gathered)]
        ),
        labels=torch.tensor([r[2] for r in gathered], dtype=torch.long),
    )


def weights_fingerprint(module: nn.Module) -> str:
    """A digest of every parameter and buffer: the cache key of a network's outputs."""
    digest = hashlib.sha1()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def cached_backbone_features(
    backbone: nn.Module,
    dataset: Any,
    protocol: ClipProtocol,
    *,
    accelerator: Accelerator,
    cache_dir: Path | None,
    batch_size: int = 32,
    num_workers: int = 2,
) -> ClipOutputs:
    """Pooled backbone features of every clip, read from `cache_dir` when this backbone, dataset split
    and protocol were extracted before (None disables the cache)."""
    path = None
    if cache_dir is not None:
        key = {
            "weights": weights_fingerprint(backbone),
            "dataset": getattr(dataset, "_fingerprint", None) or str(len(dataset)),
            "protocol": dataclasses.asdict(protocol),
        }
        name = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
        path = Path(cache_dir) / f"features-{name}.safetensors"
        if path.is_file():
            return ClipOutputs.load(path)
    outputs = extract_clip_outputs(
        pooled_features(backbone),
        dataset,
        protocol,
        accelerator=accelerator,
        batch_size=batch_size,
        num_workers=num_workers,
        modules=(backbone,),
    )
    if path is not None and accelerator.is_main_process:
        outputs.save(path)
    accelerator.wait_for_everyone()
    return outputs
