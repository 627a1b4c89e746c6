"""What every evaluation command shares: the network under test, the data, the clip protocol.

The network is any checkpoint `AutoModel.from_pretrained` loads (a folder or a Hub id; a
pretraining checkpoint gives its backbone) or a random init of a backbone type. The protocol's
clip length, crop and frame size default to what the checkpoint was pretrained with (its
`pretraining` record), else to the seeds' 16 frames, 112 crop and 128 x 171 frames.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import torch
from accelerate import Accelerator
from transformers import AutoConfig, AutoModel

from ..models.modeling_utils import VsslBackboneModel
from ..training.data import class_names
from .features import ClipOutputs, ClipProtocol, cached_backbone_features


def load_backbone(
    model: str | None,
    backbone: str | None = None,
    backbone_overrides: dict[str, Any] | None = None,
    *,
    seed: int = 0,
) -> tuple[VsslBackboneModel, str]:
    """(backbone, a display name): `model` loaded with AutoModel, else a seeded random init of `backbone`."""
    if model is not None:
        if backbone is not None or backbone_overrides:
            raise ValueError("pass either --model (a checkpoint) or --backbone (a random init), not both")
        if not Path(model).exists() and model.count("/") != 1:
            raise FileNotFoundError(f"model {model}: no such folder, and not a Hub id (owner/name)")
        try:
            with quiet_loading():  # a pretraining checkpoint's heads are reported unused: expected
                loaded = AutoModel.from_pretrained(model)
        except OSError as err:  # a Hub id that cannot be fetched, or a folder without weights
            raise FileNotFoundError(f"could not load model {model}: {err}") from err
        if not isinstance(loaded, VsslBackboneModel):
            raise ValueError(f"{model} holds a {type(loaded).__name__}, not an hf-vssl video backbone")
        return loaded, Path(model).name if Path(model).exists() else model
    if backbone is None:
        raise ValueError("name the network to evaluate: --model (a checkpoint) or --backbone (a random init)")
    from ..training.pretrain import backbone_model_type

    config = AutoConfig.for_model(backbone_model_type(backbone), **(backbone_overrides or {}))
    torch.manual_seed(seed)
    return AutoModel.from_config(config), f"random init ({config.model_type.removeprefix('vssl-')})"


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Silence transformers' load report (missing weights still raise in `VsslPreTrainedModel`)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)


def default_protocol(backbone: VsslBackboneModel, **overrides: Any) -> ClipProtocol:
    """The clip protocol for `backbone`: `overrides` (None = unset) > its pretraining record > the seeds'."""
    record = getattr(backbone.config, "pretraining", None) or {}
    values = {
        "clip_len": record.get("num_frames"),
        "crop_size": record.get("crop_size"),
        "frame_size": record.get("frame_size"),
    }
    values = {k: v for k, v in values.items() if v is not None}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ClipProtocol(**values)


@dataclass
class Evaluation:
    """One network on one dataset under one protocol; extracts each split's clip features once."""

    backbone: VsslBackboneModel
    name: str
    dataset: datasets.DatasetDict
    protocol: ClipProtocol
    accelerator: Accelerator
    cache_dir: Path | None = None
    batch_size: int = 32
    num_workers: int = 2

    def __post_init__(self) -> None:
        missing = {"train", "test"} - set(self.dataset)
        if missing:
            raise ValueError(
                f"evaluation needs 'train' and 'test' splits; the dataset lacks {sorted(missing)}"
            )
        self.backbone.to(self.accelerator.device)
        self._features: dict[str, ClipOutputs] = {}

    @property
    def class_names(self) -> list[str]:
        return class_names(self.dataset["train"])

    def features(self, split: str) -> ClipOutputs:
        """Pooled backbone features of every clip of `split` (from the disk cache when present)."""
        if split not in self._features:
            self._features[split] = cached_backbone_features(
                self.backbone,
                self.dataset[split],
                self.protocol,
                accelerator=self.accelerator,
                cache_dir=self.cache_dir,
                batch_size=self.batch_size,
                num_workers=self.num_workers,
            )
        return self._features[split]

    def describe(self) -> dict[str, Any]:
        return {"model": self.name, "protocol": dataclasses.asdict(self.protocol)}
