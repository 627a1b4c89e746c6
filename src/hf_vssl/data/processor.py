"""`VsslVideoProcessor`: inference preprocessing saved beside a model as JSON.

transformers' `BaseVideoProcessor` needs torchvision, which this project cannot require, so this is a
small stand-alone class with the same habits: `save_pretrained(dir)` writes
`video_preprocessor_config.json`, `from_pretrained(dir or repo id)` reads it, and calling it on videos
(with `return_tensors`, `num_frames`, `do_sample_frames`) returns a `BatchFeature` of `pixel_values`.
Where torchvision is installed, `VsslTorchvisionVideoProcessor` (a `BaseVideoProcessor` running this
class) is what `AutoVideoProcessor.from_pretrained` returns for the same file (`hf_vssl.pipelines`).
Pipeline (the papers' test protocol): sample clips (10 uniform, or dense windows), resize every frame to
`frame_size` while decoding, centre crop `crop_size` (or ten crops), scale to [0, 1], normalise ->
(num_clips * crops, C, T, h, w).

It is the one description of a model's test clips: pretraining saves it with the model (derived from
the method config), and probe / finetune / retrieval / clustering read it back as their default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from transformers import BatchFeature
from transformers.utils import is_torchvision_available

from .augment import IMAGENET_MEAN, IMAGENET_STD, check_crop_fits, normalize, to_float_clips
from .decoding import decode_frames, probe_video, short_side_size
from .samplers import dense_clips, uniform_clips

VideoInput = str | os.PathLike | np.ndarray | torch.Tensor


@dataclass
class VsslVideoProcessor:
    """Frames -> normalised clips (num_clips, C, T, H, W) for a video backbone.

    num_frames, frame_stride: frames per clip and the step between them.
    sampling: "uniform" (`num_clips` clips spread over the video, the papers' 10-clip test) or "dense"
        (clips every `window_stride` frames, ViCC's test; the clip count depends on the video).
    frame_size: (H, W) frames are resized to while decoding, an int for the shorter side (aspect
        kept), or None for the video's own size (data prepared at the training size).
    crop_size: (h, w) (or int) of the centre crop.
    ten_crop: ViCC's variant: the four corner crops and the centre, and their mirror images.
    channel_order, do_rescale, do_normalize: what the network was trained on: "rgb" or "bgr" frames,
        scaled to [0, 1] (do_rescale) or kept in 0-255, then ImageNet-normalised or not (Pace's
        release feeds raw 0-255 BGR: channel_order="bgr", do_rescale=False, do_normalize=False).
    """

    config_name: ClassVar[str] = "video_preprocessor_config.json"

    num_frames: int = 16  # MFO, SDC and Pace Prediction supp.: 16-frame clips
    frame_stride: int = 1
    num_clips: int = 10  # MFO and SDC supp.: ten clips per test video
    sampling: Literal["uniform", "dense"] = "uniform"
    window_stride: int = 16
    # MFO and Pace Prediction supp.: 128x171
    frame_size: list[int] | int | None = field(default_factory=lambda: [128, 171])
    # MFO, SDC and Pace Prediction supp.: centre 112
    crop_size: list[int] | int = field(default_factory=lambda: [112, 112])
    ten_crop: bool = False
    channel_order: Literal["rgb", "bgr"] = "rgb"
    do_rescale: bool = True
    do_normalize: bool = True
    image_mean: list[float] = field(default_factory=lambda: list(IMAGENET_MEAN))
    image_std: list[float] = field(default_factory=lambda: list(IMAGENET_STD))
    video_processor_type: str = "VsslVideoProcessor"

    def __post_init__(self):
        for name in ("num_frames", "frame_stride", "num_clips", "window_stride"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VsslVideoProcessor.{name} must be >= 1, got {getattr(self, name)}")
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(
                f"VsslVideoProcessor.channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}"
            )
        if self.sampling not in ("uniform", "dense"):
            raise ValueError(
                f"VsslVideoProcessor.sampling must be 'uniform' or 'dense', got {self.sampling!r}"
            )
        for name in ("frame_size", "crop_size"):
            value = getattr(self, name)
            if value is None and name == "frame_size":
                continue
            value = [value, value] if name == "crop_size" and isinstance(value, int) else value
            value = value if isinstance(value, int) else [int(v) for v in value]
            if (isinstance(value, int) and value < 1) or (
                not isinstance(value, int) and (len(value) != 2 or min(value) < 1)
            ):
                raise ValueError(f"VsslVideoProcessor.{name} must be a positive int or (H, W), got {value}")
            setattr(self, name, value)
        if len(self.image_mean) != 3 or len(self.image_std) != 3 or min(self.image_std) <= 0:
            raise ValueError("VsslVideoProcessor.image_mean / image_std must hold 3 values (std > 0)")
        if isinstance(self.frame_size, list):
            check_crop_fits(self.crop_size, self.frame_size)

    # ----- serialisation -----

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save_pretrained(self, save_directory: str | os.PathLike) -> Path:
        """Write `video_preprocessor_config.json` into `save_directory` (beside the model's files)."""
        directory = Path(save_directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / self.config_name
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, **kwargs: Any) -> VsslVideoProcessor:
        """From a folder holding `video_preprocessor_config.json`, or a Hub repo id (kwargs: `revision`,
        `token`, ... for `hf_hub_download`). Unknown keys in the file are an error naming them."""
        path = Path(name_or_path)
        if path.is_dir():
            config_file = path / cls.config_name
            if not config_file.is_file():
                raise FileNotFoundError(f"{path} has no {cls.config_name}; save one with save_pretrained")
        else:
            from huggingface_hub import hf_hub_download

            config_file = Path(hf_hub_download(str(name_or_path), cls.config_name, **kwargs))
        values = json.loads(config_file.read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"{config_file}: unknown VsslVideoProcessor fields {unknown}")
        return cls(**values)

    # ----- processing -----

    def clip_indices(self, video_frames: int) -> np.ndarray:
        """Frame indices (num_clips, T) of the test clips of a video with `video_frames` frames."""
        if self.sampling == "uniform":
            return uniform_clips(video_frames, self.num_frames, self.num_clips, self.frame_stride)
        return dense_clips(video_frames, self.num_frames, self.window_stride, self.frame_stride)

    def decode_size(self, height: int, width: int) -> tuple[int, int]:
        """The (H, W) a video of `height` x `width` is decoded at."""
        if self.frame_size is None:
            return height, width
        if isinstance(self.frame_size, int):
            return short_side_size(height, width, self.frame_size)
        return tuple(self.frame_size)

    def _decoded_clips(self, video: VideoInput, sample: bool = True) -> torch.Tensor:
        """uint8 (num_clips, T, H, W, 3) of one video: a file path, or decoded frames (T, H, W, 3).
        Without `sample` the input is the clip already: all the frames of the file or array, or
        clips (num_clips, T, H, W, 3)."""
        if isinstance(video, (str, os.PathLike)):
            info = probe_video(video)
            indices = self.clip_indices(info.video_frames) if sample else np.arange(info.video_frames)[None]
            size = self.decode_size(info.height, info.width)
            frames = decode_frames(video, indices.reshape(-1), size=None if self.frame_size is None else size)
            return torch.from_numpy(frames.reshape(*indices.shape, *frames.shape[1:]))
        frames = torch.as_tensor(video)
        clip_input = not sample and frames.ndim == 5
        if frames.ndim != 4 + clip_input or frames.shape[-1] != 3 or frames.dtype != torch.uint8:
            raise ValueError(
                f"frames must be uint8 (T, H, W, 3) (or clips (N, T, H, W, 3) with do_sample_frames=False), "
                f"got {frames.dtype} {tuple(frames.shape)}"
            )
        if clip_input:
            clips = frames
        elif sample:
            clips = frames[torch.from_numpy(self.clip_indices(frames.shape[0]))]
        else:
            clips = frames[None]
        size = self.decode_size(*clips.shape[2:4])
        if tuple(clips.shape[2:4]) != size:  # antialiased, close to the decoder's area resize
            resized = F.interpolate(
                clips.flatten(0, 1).permute(0, 3, 1, 2).float(), size=size, mode="bilinear", antialias=True
            )
            resized = resized.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)
            clips = resized.reshape(*clips.shape[:2], *resized.shape[1:])
        return clips

    def preprocess_clips(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 (N, T, H, W, C) -> normalised float (N * crops_per_clip, C, T, h, w), the crops of a
        clip adjacent: the centre crop, or with `ten_crop` the centre and corners then their mirrors."""
        height, width = clips.shape[-3:-1]
        crop_h, crop_w = self.crop_size
        corners = _TEN_CROP_CORNERS if self.ten_crop else _TEN_CROP_CORNERS[:1]
        crops = [clips[:, :, top : top + crop_h, left : left + crop_w] for top, left in
                 (_corner(c, height, width, crop_h, crop_w) for c in corners)]  # fmt: skip
        if self.ten_crop:
            crops += [c.flip(-2) for c in crops]  # mirror: W of (N, T, H, W, C)
        crops = torch.stack(crops, dim=1).flatten(0, 1)  # crop in uint8, then convert
        out = to_float_clips(crops.flip(-1) if self.channel_order == "bgr" else crops)
        if not self.do_rescale:
            out = out.mul_(255.0)
        return normalize(out, self.image_mean, self.image_std) if self.do_normalize else out

    def __call__(
        self,
        videos: VideoInput | Sequence[VideoInput],
        return_tensors: str | None = "pt",
        num_frames: int | None = None,
        do_sample_frames: bool = True,
    ) -> BatchFeature:
        """One video or a list -> BatchFeature {"pixel_values": (num_clips, C, T, h, w), or for a list
        (B, num_clips, C, T, h, w)}, with transformers' video-processor arguments:

        return_tensors: "pt" stacks a list's videos (they must give the same clip count, always true
            for "uniform" sampling); None keeps a list of per-video tensors (any clip counts).
        num_frames: the clip length for this call instead of `self.num_frames`.
        do_sample_frames: False when the input already is the clip(s) (see `_decoded_clips`): no
            temporal sampling, only resize, crop and normalisation.
        """
        if return_tensors not in ("pt", None):
            raise ValueError(f"return_tensors must be 'pt' or None, got {return_tensors!r}")
        if num_frames is not None and not do_sample_frames:
            raise ValueError("num_frames sets the sampled clip length: it needs do_sample_frames=True")
        processor = self if num_frames is None else replace(self, num_frames=num_frames)
        single = isinstance(videos, (str, os.PathLike, np.ndarray, torch.Tensor))
        batch = [videos] if single else list(videos)
        pixel_values = [
            processor.preprocess_clips(processor._decoded_clips(video, sample=do_sample_frames))
            for video in batch
        ]
        if single:
            return BatchFeature({"pixel_values": pixel_values[0]})
        if return_tensors is None:
            return BatchFeature({"pixel_values": pixel_values})
        counts = {len(p) for p in pixel_values}
        if len(counts) > 1:
            raise ValueError(
                f"videos gave different clip counts {sorted(counts)}; pass return_tensors=None for a list "
                "of per-video tensors, or process them one at a time"
            )
        return BatchFeature({"pixel_values": torch.stack(pixel_values)})


_TEN_CROP_CORNERS = ("centre", "top_left", "top_right", "bottom_left", "bottom_right")


def _corner(corner: str, height: int, width: int, crop_h: int, crop_w: int) -> tuple[int, int]:
    """(top, left) of a crop_h x crop_w crop at `corner` of a height x width frame."""
    top = {"centre": (height - crop_h) // 2, "top_left": 0, "top_right": 0}.get(corner, height - crop_h)
    left = {"centre": (width - crop_w) // 2, "top_left": 0, "bottom_left": 0}.get(corner, width - crop_w)
    return top, left


if is_torchvision_available():  # transformers' BaseVideoProcessor cannot be built without torchvision
    from transformers.video_processing_utils import BaseVideoProcessor

    class VsslTorchvisionVideoProcessor(BaseVideoProcessor):
        """`AutoVideoProcessor.from_pretrained(dir)` of an hf_vssl folder: transformers' video-processor
        type around a `VsslVideoProcessor` (`self.processor`), so both give the same clips and write
        the same `video_preprocessor_config.json`."""

        model_input_names: ClassVar[list[str]] = ["pixel_values"]

        def __init__(self, **kwargs: Any) -> None:
            names = {f.name for f in fields(VsslVideoProcessor)}
            self.processor = VsslVideoProcessor(**{k: kwargs.pop(k) for k in list(kwargs) if k in names})
            super().__init__(**kwargs)

        def preprocess(self, videos: VideoInput | Sequence[VideoInput], **kwargs: Any) -> BatchFeature:
            return self.processor(videos, **kwargs)

        def to_dict(self) -> dict[str, Any]:
            return self.processor.to_dict()
