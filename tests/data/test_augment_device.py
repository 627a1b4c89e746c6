"""The augmentation step on the device: no host copies or syncs, compilable, crop from uint8; and the released
data-pipeline switches of each method (crop sampler, grey per frame, flow colour ops, Pace's BGR 0-255)."""

from __future__ import annotations

import math
import random

import pytest
import torch
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves, tree_map

from hf_vssl.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipAugment,
    random_grayscale,
    random_resized_crop,
    sample_crop_params,
)
from hf_vssl.methods.mfo.configuration_mfo import MFOConfig
from hf_vssl.methods.mfo.views import MFOAugment, build_sampler
from hf_vssl.methods.pace.configuration_pace import PaceConfig
from hf_vssl.methods.pace.views import PaceAugment
from hf_vssl.methods.sdc.configuration_sdc import SDCConfig
from hf_vssl.methods.sdc.views import SDCAugment
from hf_vssl.methods.vicc.configuration_vicc import ViCCConfig
from hf_vssl.methods.vicc.views import ViCCAugment

B, T, H, W = 2, 4, 20, 24
TINY = {"num_frames": T, "crop_size": 16, "frame_size": [H, W]}


def _frames(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _method_cases() -> dict[str, tuple[torch.nn.Module, dict]]:
    clip = (B, T, H, W, 3)
    return {
        "vicc-rgb": (
            ViCCAugment(ViCCConfig(**TINY)),
            {"views": {"clip0": _frames(*clip), "clip1": _frames(*clip)}},
        ),
        "vicc-cross": (
            ViCCAugment(ViCCConfig(cross_stream=True, **TINY)),
            {"views": {name: _frames(*clip) for name in ("clip0", "clip1", "flow0", "flow1")}},
        ),
        "vicc-flow": (
            ViCCAugment(ViCCConfig(stream="flow", **TINY)),
            {"views": {"flow0": _frames(*clip), "flow1": _frames(*clip)}},
        ),
        "mfo": (
            MFOAugment(MFOConfig(**TINY)),
            {"views": {n: _frames(*clip) for n in ("clip0", "clip1", "overview")}},
        ),
        "sdc": (
            SDCAugment(SDCConfig(**TINY)),
            {
                "views": {
                    # the released difference view: the T-frame clip and its roll (difference_wrap)
                    **{f"clip{i}": _frames(*clip) for i in range(2)},
                    **{f"static{i}": _frames(*clip) for i in range(2)},
                }
            },
        ),
        "pace": (
            PaceAugment(PaceConfig(**TINY)),
            {
                "views": {"clip0": _frames(*clip), "clip1": _frames(*clip)},
                "targets": {
                    "pace0": torch.zeros(B, dtype=torch.long),
                    "pace1": torch.ones(B, dtype=torch.long),
                },
            },
        ),
    }


class _HostTensors(TorchDispatchMode):
    """Records every op that reads or makes a CPU tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(
            isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in tree_leaves((args, kwargs, out))
        ):
            self.ops.add(str(func))
        return out


@pytest.mark.parametrize("name", list(_method_cases()))
def test_augment_step_never_touches_the_host(name):
    """Run on the "meta" device (no data, any device's kernels), every op of the step is recorded: a CPU tensor
    anywhere is a host-to-device copy per step (or, read back, a sync); `.item()` on a meta tensor raises. The
    code before the device-side rewrite drew every parameter on the CPU and failed here (`aten._to_copy`...)."""
    augment, batch = _method_cases()[name]
    augment = augment.to("meta")
    batch = tree_map(lambda t: t.to("meta") if isinstance(t, torch.Tensor) else t, batch)
    with _HostTensors() as recorder:
        out = augment(batch)
    assert recorder.ops == set()
    assert all(value.device.type == "meta" for value in out.values())


@pytest.mark.slow
def test_augment_compiles_as_one_graph():
    """`fullgraph=True` fails on any graph break: `.item()`, `.tolist()`, a boolean-mask index or a Python
    branch on a tensor value in the step (the eager backend traces without code generation, ~10 s each)."""
    for name, (augment, batch) in _method_cases().items():
        torch._dynamo.reset()
        out = torch.compile(augment, backend="eager", fullgraph=True)(batch)
        assert all(value.isfinite().all() for value in out.values() if value.is_floating_point()), name


def test_crop_from_uint8_equals_grid_sample_of_float_frames():
    frames = _frames(3, T, H, W, 3, seed=1)
    boxes = torch.tensor([[0.0, 0.0, H, W], [2.0, 3.0, 7.0, 11.0], [5.5, 1.25, 13.0, 17.5]])
    flip = torch.tensor([False, True, True])
    out = random_resized_crop(frames, (16, 12), boxes, flip)
    floats = frames.permute(0, 4, 1, 2, 3).float() / 255  # (B, C, T, H, W)
    torch.testing.assert_close(
        random_resized_crop(floats, (16, 12), boxes, flip), out
    )  # float input, same op
    # reference: one grid_sample per clip (bilinear, border padding, align_corners=False)
    for i, (top, left, height, width) in enumerate(boxes.tolist()):
        u = (torch.arange(12) + 0.5) / 12
        u = 1 - u if flip[i] else u
        x = 2 * (left + u * width) / W - 1
        y = 2 * (top + (torch.arange(16) + 0.5) / 16 * height) / H - 1
        grid = torch.stack(torch.broadcast_tensors(x[None, :], y[:, None]), dim=-1)[None]
        planes = floats[i].reshape(1, 3 * T, H, W)
        expected = F.grid_sample(planes, grid, mode="bilinear", padding_mode="border", align_corners=False)
        torch.testing.assert_close(out[i], expected.view(3, T, 16, 12), rtol=0, atol=2e-6)


def _released_single_draw(height: int, width: int, scale: tuple[float, float]) -> tuple[int, int] | None:
    """The released ViCC/CoCLR utils/augmentation.py RandomSizedCrop(consistent=False, seq_len) draw:
    (h, w) of the crop, or None when it misses (the whole frame is then resized)."""
    target_area = random.uniform(scale[0], 1) * height * width
    aspect_ratio = random.uniform(3.0 / 4, 4.0 / 3)
    w, h = (
        round(math.sqrt(target_area * aspect_ratio)),
        round(math.sqrt(target_area / aspect_ratio)),
    )
    if random.random() < 0.5:
        w, h = h, w
    return (h, w) if w <= width and h <= height else None


def test_single_draw_crop_misses_as_often_as_the_release():
    height, width, count = 128, 171, 4000
    random.seed(0)
    released = [_released_single_draw(height, width, (0.2, 1.0)) for _ in range(count)]
    released_miss = sum(draw is None for draw in released) / count
    boxes = sample_crop_params(
        count, height, width, (0.2, 1.0), generator=torch.Generator().manual_seed(0), sampler="single_draw"
    )
    whole = (boxes == torch.tensor([0.0, 0.0, height, width])).all(dim=1)
    assert released_miss > 0.15 and abs(whole.float().mean().item() - released_miss) < 0.03
    fitted = boxes[~whole]
    released_area = sum(h * w for h, w in filter(None, released)) / sum(d is not None for d in released)
    assert abs((fitted[:, 2] * fitted[:, 3]).mean().item() - released_area) < 0.03 * height * width
    # torchvision's sampler redraws up to 10 times: (almost) never the whole frame at area < 1
    torchvision = sample_crop_params(
        count, height, width, (0.2, 1.0), generator=torch.Generator().manual_seed(0)
    )
    assert (torchvision == torch.tensor([0.0, 0.0, height, width])).all(dim=1).float().mean() < 0.02


def test_ten_draws_falls_back_to_the_centre_square():
    # scale (1, 1) on a 4:3 frame never fits a non-square-ratio crop... and a square one only when w == h
    boxes = sample_crop_params(
        500, 30, 40, (1.0, 1.0), generator=torch.Generator().manual_seed(0), sampler="ten_draws"
    )
    fallback = (boxes[:, 2] == 30) & (boxes[:, 3] == 30)
    assert fallback.any()
    assert torch.all(boxes[fallback, :2] == torch.tensor([0.0, 5.0]))  # centred, short side kept
    assert torch.all((boxes[:, 2] <= 30) & (boxes[:, 3] <= 40))


def _striped_clips() -> torch.Tensor:
    """float (B, 3, T, 1, 1) clips with three distinct channel values."""
    return torch.tensor([0.1, 0.5, 0.9]).view(1, 3, 1, 1, 1).expand(8, 3, 16, 1, 1).clone()


def test_grey_channel_and_decision_per_frame():
    generator = torch.Generator().manual_seed(0)
    per_clip = random_grayscale(_striped_clips(), 1.0, generator, mode="channel")
    assert (per_clip[:, 0] == per_clip[:, 0, :1]).all()  # one channel for all frames of a clip
    per_frame_channel = random_grayscale(
        _striped_clips(), 1.0, generator, mode="channel", channel_per_frame=True
    )
    assert (per_frame_channel[:, 0] != per_frame_channel[:, 0, :1]).any()  # released RandomGray.grayscale
    assert (per_frame_channel[:, 0] == per_frame_channel[:, 1]).all()  # grey: all channels equal
    decisions = random_grayscale(_striped_clips(), 0.5, generator, mode="channel", per_frame=True)
    grey = (decisions[:, 0] == decisions[:, 2]).flatten(1)  # (B, T)
    assert (grey.any(dim=1) & ~grey.all(dim=1)).any()  # some frames of one clip grey, others not


def test_paired_colour_shares_every_parameter():
    clips = _frames(4, T, H, W, 3, seed=2)
    augment = ClipAugment(
        16,
        color_jitter=(0.4, 0.4, 0.4, 0.1),
        jitter_p=1.0,
        grayscale_p=0.5,
        grayscale_mode="channel",
        blur_p=0.5,
        flow_flip_negates_u=False,
        paired_colour=True,
    )
    out, paired = augment(clips, clips.clone(), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(paired, out)  # identical content, identical augmentation


def test_vicc_data_switches_default_to_the_release():
    config = ViCCConfig(**TINY)
    # released ViCC main_single.py / main_cross.py get_transform and utils/augmentation.py
    assert config.crop_sampler == "single_draw" and config.grayscale_channel_per_frame
    assert config.flow_colour_augment
    flow = torch.full((B, T, H, W, 3), 128, dtype=torch.uint8)
    batch = {"views": {"flow0": flow, "flow1": flow}}
    released = ViCCAugment(ViCCConfig(stream="flow", one_clip_p=0.0, strong_p=1.0, **TINY))
    geometry_only = ViCCAugment(
        ViCCConfig(stream="flow", one_clip_p=0.0, strong_p=1.0, flow_colour_augment=False, **TINY)
    )
    torch.manual_seed(0)
    jittered = released(batch)["flow"]
    plain = geometry_only(batch)["flow"]
    constant = (128 / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(plain, constant.view(1, 1, 3, 1, 1, 1).expand_as(plain))  # crop and flip only
    assert (jittered - plain).abs().max() > 0.05  # Flow-1 gets the colour ops as released


def test_mfo_data_switches_default_to_the_release():
    config = MFOConfig()
    # released train.py RandomSizedCrop(consistent=True), RandomGray(consistent=False); dataloader.py stride
    assert config.crop_sampler == "ten_draws"
    assert config.grayscale_per_frame and config.grayscale_channel_per_frame
    assert config.continuous_stride and build_sampler(config).continuous_stride
    assert not build_sampler(MFOConfig(continuous_stride=False)).continuous_stride


def test_pace_input_is_released_bgr_0_255():
    # released datasets/ucf101.py: cv2.imread (BGR), no rescaling, no normalisation
    assert PaceConfig().input_format == "bgr_255"
    red = torch.zeros(B, T, H, W, 3, dtype=torch.uint8)
    red[..., 0] = 255
    batch = {"views": {"clip0": red}, "targets": {"pace0": torch.zeros(B, dtype=torch.long)}}
    still = {"color_jitter_p": 0.0, "contrastive": "none", **TINY}
    clips = PaceAugment(PaceConfig(**still))(batch)["clips"]
    assert torch.all(clips[:, :, 2] == 255) and torch.all(clips[:, :, :2] == 0)  # red is the last channel
    normalised = PaceAugment(PaceConfig(input_format="rgb_imagenet", **still))(batch)["clips"]
    torch.testing.assert_close(normalised[:, :, 0], torch.full_like(normalised[:, :, 0], (1 - 0.485) / 0.229))
    with pytest.raises(ValueError, match="input_format"):
        PaceAugment(PaceConfig(input_format="rgb", **TINY))
