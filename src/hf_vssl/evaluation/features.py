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
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import gather_object
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.decoding import (
    VideoDecodeError,
)
from ..data.processor import VsslVideoProcessor
from ..data.test_clips import TestClipDataset, model_input

logger = logging.getLogger(__name__)


@dataclass
class ClipOutputs:
    """outputs: (N_crops_total, D) per crop of every clip; video_index: (N_crops_total,) its video;
    labels: (num_videos,) class of each video; rows: (num_videos,) each video's row in the dataset split;
    skipped: the videos that could not be decoded (left out of the other fields, named with the reason)."""

    outputs: torch.Tensor
    video_index: torch.Tensor
    labels: torch.Tensor
    rows: torch.Tensor | None = None  # None: video i is row i
    skipped: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rows is None:
            self.rows = torch.arange(len(self.labels))

    def relabel(self, column: Sequence[int]) -> ClipOutputs:
        """The same features with each video's class read from `column` (every row of the split's other label
        column, e.g. a two-label set's `appearance_label`): one extraction serves every label."""
        return replace(self, labels=torch.as_tensor(list(column), dtype=torch.long)[self.rows])

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
        tensors = {
            "outputs": self.outputs,
            "video_index": self.video_index,
            "labels": self.labels,
            "rows": self.rows,
        }
        metadata = {"skipped": json.dumps(self.skipped)}
        # written beside, then renamed: a run sharing the cache never reads a half-written file
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(partial), metadata=metadata)
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> ClipOutputs:
        with safe_open(str(path), "pt") as handle:
            skipped = json.loads((handle.metadata() or {}).get("skipped", "[]"))
        return cls(**load_file(str(path)), skipped=skipped)


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
    skip_corrupt: bool = True,
    progress: bool = True,
    video_column: str = "video",
    in_channels: int = 3,
) -> ClipOutputs:
    """Run `network` (in eval mode: pass its modules) over every clip and crop of every video.

    Videos are split over the processes and the results gathered, so every process returns the
    full ClipOutputs. batch_size: crops per forward pass, filled across videos (the workers decode
    the next videos meanwhile). An undecodable video is skipped and named in `skipped`, or with
    `skip_corrupt=False` is an error naming it. video_column: "video" (RGB) or "flow"; in_channels:
    the network's input channels (`model_input`).
    """
    videos = TestClipDataset(dataset, processor, video_column=video_column, label_column=label_column)
    mine = list(range(accelerator.process_index, len(videos), accelerator.num_processes))
    results: list[tuple[int, torch.Tensor, int]] = []  # (dataset index, crops' outputs, label) per video
    skipped: list[tuple[int, str]] = []
    show = progress and accelerator.is_main_process
    stream = stream_clip_outputs(
        network, videos, mine, processor, accelerator=accelerator, batch_size=batch_size,
        num_workers=num_workers, modules=modules, in_channels=in_channels, skip_corrupt=skip_corrupt,
    )  # fmt: skip
    for item, crops in tqdm(stream, total=len(mine), desc="features", unit="video", disable=not show):
        if crops is None:
            skipped.append((item["index"], f"{item['path']}: {item['error']}"))
        else:
            results.append((item["index"], crops, item["label"]))
    results.sort(key=lambda r: r[0])
    if accelerator.num_processes > 1:
        results = sorted(gather_object(results), key=lambda r: r[0])
        skipped = sorted(gather_object(skipped))
    if skipped and accelerator.is_main_process:
        logger.warning("skipped %d undecodable video(s): %s", len(skipped), "; ".join(m for _, m in skipped))
    if not results:
        raise ValueError(f"no video of the split could be decoded ({len(skipped)} tried)")
    return ClipOutputs(
        outputs=torch.cat([r[1] for r in results]),
        video_index=torch.cat([torch.full((len(r[1]),), i, dtype=torch.long) for i, r in enumerate(results)]),
        labels=torch.tensor([r[2] for r in results], dtype=torch.long),
        rows=torch.tensor([r[0] for r in results], dtype=torch.long),
        skipped=[message for _, message in skipped],
    )


@torch.no_grad()
def stream_clip_outputs(
    network: Callable[[torch.Tensor], torch.Tensor],
    videos: TestClipDataset,
    indices: Sequence[int],
    processor: VsslVideoProcessor,
    *,
    accelerator: Accelerator,
    batch_size: int,
    num_workers: int,
    modules: tuple[nn.Module, ...] = (),
    in_channels: int = 3,
    skip_corrupt: bool = True,
) -> Iterator[tuple[dict[str, Any], torch.Tensor | None]]:
    """(item, outputs (crops, D) on the CPU) of the videos `indices` of `videos`, each as soon as its last
    crop has run; an undecodable video gives outputs None (or, without `skip_corrupt`, raises naming it).

    Forward passes take `batch_size` crops filled across videos while DataLoader workers decode the next
    videos; `network` runs in eval mode (pass its modules) under the accelerator's autocast."""
    for module in modules:
        module.eval()
    loader = DataLoader(
        torch.utils.data.Subset(videos, list(indices)), batch_size=None, num_workers=num_workers,
        prefetch_factor=None,
    )  # fmt: skip
    waiting: list[tuple[dict[str, Any], int]] = []  # videos whose crops are queued, with their crop counts
    done: list[torch.Tensor] = []  # outputs of the queued crops already run
    buffer: torch.Tensor | None = None  # crops waiting for a full batch

    def run(pixel_values: torch.Tensor) -> Iterator[tuple[dict[str, Any], torch.Tensor]]:
        with accelerator.autocast():
            done.append(network(pixel_values).float().cpu())
        ready = torch.cat(done)
        while waiting and waiting[0][1] <= len(ready):
            item, count = waiting.pop(0)
            yield item, ready[:count]
            ready = ready[count:]
        done[:] = [ready] if len(ready) else []

    for item in loader:
        if item["clips"] is None:
            if not skip_corrupt:
                raise VideoDecodeError(item["path"], item["error"])
            yield item, None
            continue
        clips = item.pop("clips").to(accelerator.device, non_blocking=True)
        pixel_values = model_input(processor.preprocess_clips(clips), in_channels)
        waiting.append((item, len(pixel_values)))
        buffer = pixel_values if buffer is None else torch.cat([buffer, pixel_values])
        while len(buffer) >= batch_size:
            yield from run(buffer[:batch_size])
            buffer = buffer[batch_size:]
    if buffer is not None and len(buffer):
        yield from run(buffer)


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
    skip_corrupt: bool = True,
    progress: bool = True,
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
            "fields": "rows",  # files written before ClipOutputs.rows are not read
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
        skip_corrupt=skip_corrupt,
        progress=progress,
        video_column=video_column,
        in_channels=backbone.config.in_channels,
    )
    if path is not None and accelerator.is_main_process:
        outputs.save(path)
    accelerator.wait_for_everyone()
    return outputs
