"""Multi-clip test features: cut every video into clips, run a frozen network once, cache the result.

The clips are those of the model's `VsslVideoProcessor` (the one description of test clips: num_clips
uniform clips or ViCC's dense windows, frames resized while decoding, a centre crop or ViCC's ten
crops). The network's output for every crop of every clip is kept with the index of its video, so
probe, retrieval and clustering share one extraction, stored on disk under a key made of the
weights, the dataset and the processor.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.decoding import decode_frames, probe_video
from ..data.processor import VsslVideoProcessor

# the dataset column each input stream reads: RGB videos, or the flow videos of `hf-vssl extract-flow`
STREAM_COLUMNS = {"rgb": "video", "flow": "flow"}


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
    """Item i: every clip of video i, decoded at the processor's frame size: uint8 (n, T, H, W, C)."""

    def __init__(
        self,
        dataset: Any,
        processor: VsslVideoProcessor,
        video_column: str = "video",
        label_column: str = "label",
    ):
        missing = {video_column, label_column} - set(dataset.column_names)
        if missing:
            raise ValueError(
                f"the dataset has no column(s) {sorted(missing)}; columns: {dataset.column_names}"
            )
        self.dataset, self.processor = dataset, processor
        self.video_column, self.label_column = video_column, label_column

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.dataset[index]
        path = row[self.video_column]
        video_frames, size = row.get("num_frames"), self.processor.frame_size
        if video_frames is None or isinstance(size, int):  # the video's length or size is needed
            info = probe_video(path)
            video_frames = info.num_frames
            size = self.processor.decode_size(info.height, info.width) if size is not None else None
        indices = self.processor.clip_indices(int(video_frames))  # (n, T); each distinct frame decodes once
        frames = decode_frames(path, indices.reshape(-1), size=None if size is None else tuple(size))
        clips = torch.from_numpy(frames.reshape(*indices.shape, *frames.shape[1:]))  # (n, T, H, W, C)
        return {"clips": clips, "label": int(row[self.label_column]), "index": index}


def model_input(pixel_values: torch.Tensor, in_channels: int) -> torch.Tensor:
    """Normalised 3-channel clips (N, 3, T, H, W) -> the network's `in_channels`: a 2-channel flow
    network takes (v, u) of the (128, v, u) flow image, the constant channel dropped after
    normalisation, as ViCC's training views (`ViCCAugment`, `flow_channels=2`)."""
    if in_channels == pixel_values.shape[1]:
        return pixel_values
    if in_channels == 2 and pixel_values.shape[1] == 3:
        return pixel_values[:, 1:]
    raise ValueError(
        f"the network takes {in_channels}-channel clips, the processor gives {pixel_values.shape[1]} channels"
    )


def pooled_features(backbone: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """pixel_values (N, C, T, H, W) -> pooled backbone features (N, D)."""
    return lambda pixel_values: backbone(pixel_values).pooler_output


@torch.no_grad()
def extract_clip_outputs(
    network: Callable[[torch.Tensor], torch.Tensor],
    dataset: Any,
    processor: VsslVideoProcessor,
    *,
    accelerator: Accelerator,
    batch_size: int = 32,
    num_workers: int = 2,
    modules: tuple[nn.Module, ...] = (),
    label_column: str = "label",
    video_column: str = "video",
    in_channels: int = 3,
) -> ClipOutputs:
    """Run `network` (in eval mode: pass its modules) over every clip and crop of every video.

    Videos are split over the processes and the results gathered, so every process returns the
    full ClipOutputs. batch_size: crops per forward pass. video_column: "video" (RGB) or "flow";
    in_channels: the network's input channels (`model_input`).
    """
    for module in modules:
        module.eval()
    videos = TestClipDataset(dataset, processor, video_column=video_column, label_column=label_column)
    mine = list(range(accelerator.process_index, len(videos), accelerator.num_processes))
    loader = DataLoader(
        torch.utils.data.Subset(videos, mine), batch_size=None, num_workers=num_workers, prefetch_factor=None
    )
    results = []
    for item in loader:
        pixel_values = model_input(
            processor.preprocess_clips(item["clips"].to(accelerator.device)), in_channels
        )
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
    processor: VsslVideoProcessor,
    *,
    accelerator: Accelerator,
    cache_dir: Path | None,
    batch_size: int = 32,
    num_workers: int = 2,
    label_column: str = "label",
    video_column: str = "video",
) -> ClipOutputs:
    """Pooled backbone features of every clip, read from `cache_dir` when this backbone, dataset split,
    video and label columns and processor were extracted before (None disables the cache)."""
    path = None
    if cache_dir is not None:
        key = {
            "weights": weights_fingerprint(backbone),
            "dataset": getattr(dataset, "_fingerprint", None) or str(len(dataset)),
            "processor": processor.to_dict(),
            "labels": label_column,
            "videos": video_column,
        }
        name = hashlib.sha1(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
        path = Path(cache_dir) / f"features-{name}.safetensors"
        if path.is_file():
            return ClipOutputs.load(path)
    outputs = extract_clip_outputs(
        pooled_features(backbone),
        dataset,
        processor,
        accelerator=accelerator,
        batch_size=batch_size,
        num_workers=num_workers,
        modules=(backbone,),
        label_column=label_column,
        video_column=video_column,
        in_channels=backbone.config.in_channels,
    )
    if path is not None and accelerator.is_main_process:
        outputs.save(path)
    accelerator.wait_for_everyone()
    return outputs
