"""Learning you can watch: a weighted kNN of the backbone's pooled features during pretraining.

Before the first step (the random-init reference) and every `monitor_every` epochs, the backbone's
pooled features of one centre clip per video (the model's own test processor) are extracted for the
train split (the bank) and a held-out split (the queries), and every query is classified by its k
nearest bank videos by cosine similarity, each voting exp(similarity / temperature) for its class
(InstDisc's weighted kNN, as solo-learn's `WeightedKNNClassifier`: k = 20, temperature 0.07), once per
label column of the dataset (`label`, `appearance_label`, ...). The clips are decoded once, when the
run starts, and kept in memory as uint8: a pass costs forward passes only. `max_videos` bounds that
memory: each split is cut to a class-stratified subset (`stratified_rows`), a function of its labels
alone, so every process and a resumed run score the same videos. Each process holds and encodes a
shard of the videos; the features are gathered, so the numbers do not depend on the number of
processes. A pass writes one line to `monitor.jsonl` in the run folder, the trackers
(`monitor/knn_top1_<label>`) and the epoch line.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import gather_object
from torch import nn
from torch.utils.data import DataLoader, Subset

from ..data.processor import VsslVideoProcessor
from ..data.test_clips import STREAM_COLUMNS, TestClipDataset, model_input
from ..typed_fields import bounds, check_bounds
from .loop import TrainResult

logger = logging.getLogger(__name__)

MONITOR_FILE = "monitor.jsonl"
HELD_OUT_SPLITS = ("test", "validation", "val")  # the first one the dataset has holds the queries


@dataclass(frozen=True)
class KnnSettings:
    """k neighbours, each voting exp(cosine / temperature): InstDisc / solo-learn's defaults."""

    k: int = field(default=20, metadata=bounds(ge=1))
    temperature: float = field(default=0.07, metadata=bounds(gt=0))
    batch_size: int = field(default=32, metadata=bounds(ge=1, why="clips per forward pass"))

    def __post_init__(self) -> None:
        check_bounds(self)


@dataclass
class _DecodedShard:
    """This process's decoded videos of one split: their rows and uint8 clips (1, T, H, W, C); over
    all processes: the videos skipped (named) and each label column of the decoded ones in row order."""

    rows: list[int] = field(default_factory=list)
    clips: list[torch.Tensor] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    labels: dict[str, torch.Tensor] = field(default_factory=dict)


def held_out_split(dataset: datasets.DatasetDict) -> str:
    """The split the monitor queries: the first of HELD_OUT_SPLITS the dataset has."""
    for name in HELD_OUT_SPLITS:
        if name in dataset:
            return name
    raise ValueError(
        f"--monitor-every needs a held-out split ({' or '.join(HELD_OUT_SPLITS)}) beside 'train'; the dataset "
        f"has {list(dataset)}: add one or leave monitoring off"
    )


def label_columns(split: datasets.Dataset) -> list[str]:
    """Every class column of the split (`label`, a two-label set's `appearance_label`, ...)."""
    columns = [name for name, feature in split.features.items() if isinstance(feature, datasets.ClassLabel)]
    if not columns:
        raise ValueError(
            f"--monitor-every needs a ClassLabel column to score; the split has {split.column_names}"
        )
    return columns


def stratified_rows(labels: Sequence[int], max_videos: int | None) -> list[int]:
    """Rows of at most `max_videos` videos (all with None): every class keeps one video and the rest
    are shared in proportion to the class sizes (largest remainders, ties to the lower class), each
    class's picks spread evenly over its rows in split order (UCF-101's groups and clips). It depends
    on the labels alone: the same rows on every process and after a resume."""
    if max_videos is None or max_videos >= len(labels):
        return list(range(len(labels)))
    by_class: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(labels):
        by_class[int(label)].append(row)
    classes = sorted(by_class)
    if max_videos < len(classes):
        raise ValueError(
            f"monitor_max_videos {max_videos} is fewer than the {len(classes)} classes of a monitored split: "
            f"every class needs a video; use at least {len(classes)}"
        )
    spare = max_videos - len(classes)  # beyond the one video of each class, shared in proportion
    extra = {c: spare * (len(by_class[c]) - 1) / (len(labels) - len(classes)) for c in classes}
    quota = {c: 1 + int(extra[c]) for c in classes}
    by_remainder = sorted(classes, key=lambda c: (-(extra[c] - int(extra[c])), c))
    for c in by_remainder[: max_videos - sum(quota.values())]:
        quota[c] += 1
    rows = [
        by_class[c][(2 * i + 1) * len(by_class[c]) // (2 * quota[c])]
        for c in classes
        for i in range(quota[c])
    ]
    return sorted(rows)


def weighted_knn_accuracy(
    bank: torch.Tensor,
    bank_labels: torch.Tensor,
    queries: torch.Tensor,
    query_labels: torch.Tensor,
    settings: KnnSettings,
) -> dict[str, float]:
    """top1 / top5 of the weighted kNN vote. bank: (N, D), queries: (M, D), labels: (N,) / (M,)."""
    num_classes = int(max(bank_labels.max(), query_labels.max())) + 1
    similarity = F.normalize(queries, dim=1) @ F.normalize(bank, dim=1).T  # (M, N)
    top_sim, top_index = similarity.topk(min(settings.k, len(bank)), dim=1)  # (M, k)
    votes = torch.zeros(len(queries), num_classes).scatter_add_(
        1, bank_labels[top_index], (top_sim / settings.temperature).exp()
    )  # (M, classes)
    ranked = votes.argsort(dim=1, descending=True)
    hits = ranked == query_labels[:, None]
    return {
        "top1": hits[:, :1].any(1).float().mean().item(),
        "top5": hits[:, :5].any(1).float().mean().item(),
    }


class KnnMonitor:
    """The kNN monitor of one run: `start` decodes the two splits and runs the reference pass (or, on a
    resumed run, drops the lines past its checkpoint); `on_epoch_end` runs a pass every `every` epochs
    and at the last one. `seconds`: all the time it took (decoding included)."""

    def __init__(
        self,
        dataset: datasets.DatasetDict,
        processor: VsslVideoProcessor,
        output_dir: Path,
        *,
        every: int,
        last_epoch: int,
        stream: str = "rgb",
        settings: KnnSettings = KnnSettings(),
        num_workers: int = 0,
        max_videos: int | None = None,
    ) -> None:
        self.held_out = held_out_split(dataset)
        self.labels = label_columns(dataset["train"])
        # the subset of each split the monitor decodes and scores (`stratified_rows` on the first label)
        self.splits = {
            name: _subset(dataset[name], self.labels[0], max_videos) for name in ("train", self.held_out)
        }
        # one centre clip of the model's own test clips: what a video looks like to the backbone
        self.processor = dataclasses.replace(processor, num_clips=1, ten_crop=False)
        self.path = Path(output_dir) / MONITOR_FILE
        self.every, self.last_epoch, self.stream = every, last_epoch, stream
        self.settings, self.num_workers = settings, num_workers
        self.seconds = 0.0

    def start(self, model: nn.Module, accelerator: Accelerator, completed_epochs: int, resumed: bool) -> None:
        stamp = time.perf_counter()
        self.shards = {name: self._decode(name, accelerator) for name in self.splits}
        self.seconds += time.perf_counter() - stamp
        if resumed:  # passes after the checkpoint are run again: their lines go
            self._keep_lines(accelerator, lambda line: line["epoch"] <= completed_epochs)
        else:
            self._keep_lines(accelerator, lambda line: False)
            self.run_pass(model, accelerator, epoch=0, step=0)

    def on_epoch_end(
        self, model: nn.Module, accelerator: Accelerator, epoch: int, result: TrainResult
    ) -> dict[str, float]:
        if epoch % self.every and epoch != self.last_epoch:
            return {}
        return self.run_pass(model, accelerator, epoch, result.global_step)

    def run_pass(self, model: nn.Module, accelerator: Accelerator, epoch: int, step: int) -> dict[str, float]:
        """Features of both splits, the kNN of every label; logged, written, returned."""
        stamp = time.perf_counter()
        backbone = accelerator.unwrap_model(model).backbone
        features = {name: self._features(backbone, name, accelerator) for name in self.shards}
        values: dict[str, float] = {}
        for column in self.labels:
            (bank, bank_labels), (queries, query_labels) = (
                (features[name], self.shards[name].labels[column]) for name in ("train", self.held_out)
            )
            scores = weighted_knn_accuracy(bank, bank_labels, queries, query_labels, self.settings)
            values |= {f"knn_{k}_{column}": v for k, v in scores.items()}
        seconds = time.perf_counter() - stamp
        self.seconds += seconds
        accelerator.log({f"monitor/{k}": v for k, v in values.items()}, step=step)
        if accelerator.is_main_process:
            skipped = sum(len(shard.skipped) for shard in self.shards.values())
            line = {
                "epoch": epoch,
                "step": step,
                **values,
                "seconds": round(seconds, 3),
                "skipped_videos": skipped,
                "videos": {name: len(split) for name, split in self.splits.items()},
            }
            with self.path.open("a") as handle:
                handle.write(json.dumps(line) + "\n")
            if epoch == 0:
                accelerator.print(f"monitor (random init): {_describe(values)}")
        return values

    def summary_line(self, total_seconds: float) -> str:
        share = self.seconds / max(total_seconds, 1e-9)
        return f"monitor: {self.seconds:.0f} s of {total_seconds:.0f} s ({share:.1%})"

    def _decode(self, name: str, accelerator: Accelerator) -> _DecodedShard:
        """This process's videos of split `name` (every num_processes-th), decoded; the rows kept (and
        their labels) and the undecodable videos named, over all processes."""
        split = self.splits[name]
        videos = TestClipDataset(
            split, self.processor, video_column=STREAM_COLUMNS[self.stream], label_column=self.labels[0]
        )
        mine = list(range(accelerator.process_index, len(videos), accelerator.num_processes))
        loader = DataLoader(Subset(videos, mine), batch_size=None, num_workers=self.num_workers)
        shard, skipped = _DecodedShard(), []
        for item in loader:
            if item["clips"] is None:
                skipped.append(f"{item['path']}: {item['error']}")
                continue
            shard.clips.append(item["clips"])
            shard.rows.append(item["index"])
        shard.skipped, rows = _gathered(skipped, accelerator), sorted(_gathered(shard.rows, accelerator))
        if shard.skipped and accelerator.is_main_process:
            logger.warning(
                "monitor: skipped %d undecodable video(s) of the %s split: %s",
                len(shard.skipped), name, "; ".join(shard.skipped),
            )  # fmt: skip
        if not rows:
            raise ValueError(f"monitor: no video of the {name} split could be decoded")
        shard.labels = {column: torch.tensor(split[column], dtype=torch.long)[rows] for column in self.labels}
        return shard

    @torch.no_grad()
    def _features(self, backbone: nn.Module, name: str, accelerator: Accelerator) -> torch.Tensor:
        """(videos, D) pooled features of split `name`, gathered over processes in row order."""
        was_training = backbone.training
        backbone.eval()
        shard, outputs = self.shards[name], []
        in_channels = backbone.config.in_channels
        for start in range(0, len(shard.clips), self.settings.batch_size):
            clips = torch.cat(shard.clips[start : start + self.settings.batch_size]).to(accelerator.device)
            pixel_values = model_input(self.processor.preprocess_clips(clips), in_channels)
            with accelerator.autocast():
                outputs.append(backbone(pixel_values).pooler_output.float().cpu())
        backbone.train(was_training)
        mine = list(zip(shard.rows, torch.cat(outputs))) if outputs else []
        return torch.stack(
            [feature for _, feature in sorted(_gathered(mine, accelerator), key=lambda r: r[0])]
        )

    def _keep_lines(self, accelerator: Accelerator, keep: Any) -> None:
        if accelerator.is_main_process:
            lines = self.path.read_text().splitlines() if self.path.is_file() else []
            kept = [line for line in lines if keep(json.loads(line))]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("".join(f"{line}\n" for line in kept))
        accelerator.wait_for_everyone()


def _subset(split: datasets.Dataset, column: str, max_videos: int | None) -> datasets.Dataset:
    """`split` cut to the `stratified_rows` of its `column` (the whole split without a bound)."""
    if max_videos is None:
        return split
    return split.select(stratified_rows(split[column], max_videos))


def _gathered(items: list[Any], accelerator: Accelerator) -> list[Any]:
    """Every process's `items`, concatenated (safe alone)."""
    return gather_object(items) if accelerator.num_processes > 1 else items


def _describe(values: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in values.items() if "top1" in k)
