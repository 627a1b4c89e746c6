"""Batched augmentations: consistent across the frames of a clip, per-sample parameters, exact geometry."""

from __future__ import annotations

import pytest
import torch

from hf_vssl.data.augment import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ClipAugment,
    StrongWeakViews,
    _hsv_to_rgb,
    _rgb_to_hsv,
    color_jitter,
    frame_difference,
    gaussian_blur,
    normalize,
    random_resized_crop,
    sample_crop_params,
    to_float_clips,
)

B, T, H, W = 4, 5, 24, 32


def static_clips(seed: int = 0) -> torch.Tensor:
    """uint8 (B, T, H, W, 3) whose T frames are identical within each clip (different across clips)."""
    frame = torch.randint(
        0, 256, (B, 1, H, W, 3), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )
    return frame.expand(B, T, H, W, 3).contiguous()


def full_augment(**overrides) -> ClipAugment:
    config = dict(
        scale=(0.3, 1.0),
        color_jitter=(0.5, 0.5, 0.5, 0.2),
        jitter_p=1.0,
        grayscale_p=0.5,
        blur_p=1.0,
        blur_sigma=(0.5, 1.5),
    )
    return ClipAugment(16, **(config | overrides))


def test_all_ops_identical_across_frames_of_a_clip():
    out = full_augment()(static_clips(), generator=torch.Generator().manual_seed(1))
    assert out.shape == (B, 3, T, 16, 16)
    for t in range(1, T):
        torch.testing.assert_close(out[:, :, t], out[:, :, 0], rtol=0, atol=1e-6)
    # ... but parameters differ between clips: the same content gets different results
    same = static_clips()[:1].expand(B, T, H, W, 3)
    varied = full_augment()(same, generator=torch.Generator().manual_seed(2))
    assert (varied[0] - varied[1]).abs().max() > 0.05


def test_per_frame_jitter_varies_within_a_clip():
    out = ClipAugment(16, color_jitter=(0.8, 0.8, 0.8, 0.2), jitter_p=1.0, jitter_per_frame=True)(
        static_clips(), generator=torch.Generator().manual_seed(0)
    )
    assert (out[:, :, 1] - out[:, :, 0]).abs().max() > 0.05


def test_generator_makes_it_reproducible():
    first = full_augment()(static_clips(), generator=torch.Generator().manual_seed(7))
    again = full_augment()(static_clips(), generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(first, again, rtol=0, atol=0)


def test_crop_geometry_is_exact():
    clips = to_float_clips(static_clips())
    full = torch.tensor([[0.0, 0.0, H, W]]).expand(B, 4)
    torch.testing.assert_close(random_resized_crop(clips, (H, W), full), clips)  # identity
    box = torch.tensor([[3.0, 5.0, 10.0, 12.0]]).expand(B, 4)
    torch.testing.assert_close(random_resized_crop(clips, (10, 12), box), clips[..., 3:13, 5:17])
    flip = torch.tensor([True, False, True, False])
    mirrored = random_resized_crop(clips, (H, W), full, flip)
    torch.testing.assert_close(mirrored[0], clips[0].flip(-1))
    torch.testing.assert_close(mirrored[1], clips[1])


def test_crop_params_respect_scale_and_bounds():
    params = sample_crop_params(200, H, W, scale=(0.25, 0.5), generator=torch.Generator().manual_seed(0))
    top, left, height, width = params.unbind(1)
    assert torch.all(top >= 0) and torch.all(left >= 0)
    assert torch.all(top + height <= H) and torch.all(left + width <= W)
    area = height * width / (H * W)
    assert area.min() > 0.2 and area.max() < 0.56  # rounding to whole pixels


def test_paired_flow_shares_crop_and_flip_but_not_colour():
    rgb = static_clips()
    generator_seed = 3
    augment = full_augment(normalize=False, flow_flip_negates_u=False)
    out, paired = augment(rgb, rgb.clone(), generator=torch.Generator().manual_seed(generator_seed))
    geometry_only = ClipAugment(16, scale=(0.3, 1.0), normalize=False)(
        rgb, generator=torch.Generator().manual_seed(generator_seed)
    )
    torch.testing.assert_close(paired, geometry_only)  # same crop and flip, no colour op
    assert (out - paired).abs().max() > 0.05  # the RGB clip did get colour ops


def test_flow_flip_negates_horizontal_component():
    flow = static_clips()
    augment = ClipAugment((H, W), scale=(1.0, 1.0), ratio=(W / H, W / H), flip_p=1.0, normalize=False)
    _, paired = augment(flow, flow, generator=torch.Generator().manual_seed(0))
    expected = to_float_clips(flow).flip(-1)
    torch.testing.assert_close(paired[:, :2], expected[:, :2])
    torch.testing.assert_close(paired[:, 2], 1 - expected[:, 2])  # u -> -u in ViCC's encoding


def test_hsv_round_trip_and_hue_shift():
    clips = torch.rand(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(_hsv_to_rgb(_rgb_to_hsv(clips)), clips, rtol=0, atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1, 1)
    hsv = _rgb_to_hsv(red)
    hsv[:, 0] += 1 / 3
    torch.testing.assert_close(_hsv_to_rgb(hsv).flatten(), torch.tensor([0.0, 1.0, 0.0]))


def test_jitter_probability_zero_is_identity():
    clips = to_float_clips(static_clips())
    out = color_jitter(clips, 0.8, 0.8, 0.8, 0.2, p=0.0, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, clips, rtol=0, atol=1e-6)


def test_blur_keeps_constants_and_smooths():
    constant = torch.full((2, 3, 2, 12, 12), 0.3)
    torch.testing.assert_close(gaussian_blur(constant, (1.0, 2.0), p=1.0), constant)
    noise = torch.rand(2, 3, 2, 12, 12, generator=torch.Generator().manual_seed(0))
    assert gaussian_blur(noise, (1.0, 2.0), p=1.0).std() < 0.6 * noise.std()
    torch.testing.assert_close(gaussian_blur(noise, (1.0, 2.0), p=0.0), noise)


def test_normalize_and_frame_difference():
    clips = torch.rand(1, 3, 4, 2, 2)
    out = normalize(clips)
    torch.testing.assert_close(out[:, 0], (clips[:, 0] - IMAGENET_MEAN[0]) / IMAGENET_STD[0])
    diff = frame_difference(clips)
    assert diff.shape == (1, 3, 3, 2, 2)
    torch.testing.assert_close(diff[:, :, 1], clips[:, :, 2] - clips[:, :, 1])


def _two_colour_clips() -> tuple[torch.Tensor, torch.Tensor]:
    clip0 = torch.full((B, T, H, W, 3), 40, dtype=torch.uint8)
    clip1 = torch.full((B, T, H, W, 3), 200, dtype=torch.uint8)
    return clip0, clip1


def test_strong_weak_one_clip_mode_uses_one_source_and_one_strong_view():
    clip0, clip1 = _two_colour_clips()
    clip1[..., 0] = 0  # colour, so that grey (channel-split) is visible
    policy = StrongWeakViews(
        ClipAugment(8, grayscale_p=1.0, grayscale_mode="luma", normalize=False), one_clip_p=1.0
    )
    view0, view1 = policy(clip0, clip1, generator=torch.Generator().manual_seed(0))
    level0, level1 = view0.mean(dim=(1, 2, 3, 4)), view1.mean(dim=(1, 2, 3, 4))
    grey0 = (view0[:, 0] - view0[:, 1]).abs().amax(dim=(1, 2, 3)) < 1e-6
    grey1 = (view1[:, 0] - view1[:, 1]).abs().amax(dim=(1, 2, 3)) < 1e-6
    from_clip0 = (level0 - 40 / 255).abs() < 1e-3
    assert torch.equal(from_clip0, (level1 - 40 / 255).abs() < 1e-3)  # both views from the same clip
    colour_source = ~from_clip0
    assert colour_source.any() and from_clip0.any()
    assert torch.all((grey0 ^ grey1)[colour_source])  # exactly one strong (grey) view


def test_strong_weak_two_clip_mode_keeps_clips_and_pairs_flow():
    clip0, clip1 = _two_colour_clips()
    policy = StrongWeakViews(ClipAugment(8, normalize=False), one_clip_p=0.0)
    (view0, flow0), (view1, _flow1) = policy(
        clip0, clip1, clip0, clip1, generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(view0, torch.full_like(view0, 40 / 255))
    torch.testing.assert_close(view1, torch.full_like(view1, 200 / 255))
    torch.testing.assert_close(flow0[:, :2], view0[:, :2])


def test_two_view_policy_and_validation():
    views = StrongWeakViews(ClipAugment(16))(*_two_colour_clips(), generator=torch.Generator().manual_seed(0))
    assert views[0].shape == (B, 3, T, 16, 16)
    with pytest.raises(ValueError, match="jitter_p"):
        ClipAugment(16, jitter_p=1.5)
    with pytest.raises(ValueError, match="uint8"):
        to_float_clips(torch.zeros(1, 2, 3, 4, 3))
