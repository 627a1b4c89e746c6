"""Clip samplers: which frames of a video each view of one training or test sample reads.

A sampler is a small function of (video_frames, rng) -> frame indices, run in the CPU data workers
before any decoding, so the data layer decodes each needed frame once (the union of all views). The
primitives return int64 index arrays; the `ClipSampler` classes bundle them into the views of one method.

Short videos: every primitive follows `short_policy`: "loop" (default) reads the video again from its first
frame (index modulo the frame count), "clamp" repeats the last frame, "error" raises a ValueError that says
how long the video is and how long the clip needs it to be. No primitive ever returns an out-of-range index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal, Protocol

import numpy as np

ShortPolicy = Literal["loop", "clamp", "error"]
EndPolicy = Literal["wrap", "loop", "clamp"]
SHORT_POLICIES = ("loop", "clamp", "error")
END_POLICIES = ("wrap", "loop", "clamp")


@dataclass
class SampledClips:
    """views: name -> int64 frame indices (1-D (T,) per clip, or 2-D (num_clips, T) for multi-clip views);
    names starting with "flow" are read from the row's optical-flow video. targets: per-sample pretext labels."""

    views: dict[str, np.ndarray]
    targets: dict[str, int | float] = field(default_factory=dict)


class ClipSampler(Protocol):
    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips: ...


def _check_video_frames(video_frames: int) -> None:
    if video_frames < 1:
        raise ValueError(f"the video has {video_frames} frames; a clip needs at least one")


def _fit(indices: np.ndarray, video_frames: int, policy: ShortPolicy, span: int) -> np.ndarray:
    """Map indices past the end of a video shorter than the clip's `span` by `policy`."""
    if policy not in SHORT_POLICIES:
        raise ValueError(f"short_policy must be one of {SHORT_POLICIES}, got {policy!r}")
    if span <= video_frames:
        return indices
    if policy == "error":
        raise ValueError(
            f"the video has {video_frames} frames but the clip spans {span}; use short_policy='loop' or 'clamp'"
        )
    return indices % video_frames if policy == "loop" else np.minimum(indices, video_frames - 1)


def clip_span(num_frames: int, stride: int = 1) -> int:
    """Frames covered by a clip of `num_frames` frames taken every `stride` frames."""
    return (num_frames - 1) * stride + 1


def _random_start(video_frames: int, span: int, rng: np.random.Generator) -> int:
    return int(rng.integers(0, video_frames - span + 1)) if span <= video_frames else 0


def random_clip(
    video_frames: int,
    rng: np.random.Generator,
    num_frames: int,
    stride: int = 1,
    *,
    short_policy: ShortPolicy = "loop",
) -> np.ndarray:
    """One clip of `num_frames` frames every `stride` frames from a uniformly random start: (num_frames,)."""
    _check_video_frames(video_frames)
    span = clip_span(num_frames, stride)
    indices = _random_start(video_frames, span, rng) + np.arange(num_frames, dtype=np.int64) * stride
    return _fit(indices, video_frames, short_policy, span)


def window_clips(
    video_frames: int,
    rng: np.random.Generator,
    num_frames: int = 16,
    max_stride: int = 3,
    *,
    continuous_stride: bool = True,
    short_policy: ShortPolicy = "loop",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MFO/SDC views of one window of 2 * num_frames frames taken at a random stride in
    [1, min(max_stride, video_frames / (2 * num_frames))] (MFO supp.: 32 frames, stride up to 3):
    clip0 = its first num_frames frames, clip1 = its last num_frames, overview = every second frame of it.

    continuous_stride: the stride is a real number and frame i of the window is round(start + i * stride), as
    the released MFO/SDC `dataloader.py` (`sample_frame`: sr ~ U(1, max_sr)); False: an integer stride."""
    _check_video_frames(video_frames)
    window_len = 2 * num_frames
    if continuous_stride and video_frames >= window_len:
        stride = rng.uniform(1, min(max_stride, video_frames / window_len))
        start = int(rng.integers(0, int(video_frames - stride * window_len) + 1))
        window = np.minimum(np.round(start + stride * np.arange(window_len)), video_frames - 1).astype(
            np.int64
        )
    else:  # integer stride (a video shorter than the window is read at stride 1 by `short_policy`)
        stride = int(rng.integers(1, max(1, min(max_stride, video_frames // window_len)) + 1))
        window = random_clip(video_frames, rng, window_len, stride, short_policy=short_policy)
    return window[:num_frames], window[num_frames:], window[::2]


def pace_clip(
    video_frames: int,
    rng: np.random.Generator,
    num_frames: int,
    pace: float | Fraction,
    *,
    backward: bool = False,
    end_policy: EndPolicy = "wrap",
    start_anywhere: bool = False,
) -> np.ndarray:
    """A clip played at `pace` (Pace Prediction supp.): frame i is start + floor(i * pace), so pace 2 reads
    start, start+2, ... and pace 1/2 repeats each frame twice; a negative pace (or backward=True) plays the
    clip in reverse.

    The start is drawn so the clip fits in the video when it can (start_anywhere=True draws it over the
    whole video, as the original code did). Frames past the end follow `end_policy`: "wrap" (the original
    code) jumps back to frame 0 and continues at the same pace, "loop" continues modulo the frame count,
    "clamp" repeats the last frame.
    """
    _check_video_frames(video_frames)
    if end_policy not in END_POLICIES:
        raise ValueError(f"end_policy must be one of {END_POLICIES}, got {end_policy!r}")
    pace = Fraction(pace).limit_denominator(64)
    if pace == 0:
        raise ValueError("pace must be non-zero")
    if pace < 0 and backward:
        raise ValueError("give a negative pace or backward=True, not both")
    backward = backward or pace < 0
    offsets = np.array([(i * abs(pace)).__floor__() for i in range(num_frames)], dtype=np.int64)
    span = int(offsets[-1]) + 1
    start = int(rng.integers(0, video_frames)) if start_anywhere else _random_start(video_frames, span, rng)
    indices = start + offsets
    if end_policy == "clamp":
        indices = np.minimum(indices, video_frames - 1)
    elif end_policy == "loop":
        indices = indices % video_frames
    else:  # wrap: restart from frame 0 whenever the next frame would pass the end
        base = start
        for i, offset in enumerate(offsets):
            if base + offset >= video_frames:
                base = -int(offset)
            indices[i] = base + offset
    return indices[::-1].copy() if backward else indices


def static_clip(clip_indices: np.ndarray, rng: np.random.Generator, offset: int | None = None) -> np.ndarray:
    """SDC's static view (Qian et al., ECCV 2022): one frame of the clip (at `offset`, random when None)
    repeated for the clip's length."""
    clip_indices = np.asarray(clip_indices, dtype=np.int64)
    offset = int(rng.integers(0, len(clip_indices))) if offset is None else offset
    return np.full_like(clip_indices, clip_indices[offset])


def difference_clip(clip_indices: np.ndarray, video_frames: int) -> np.ndarray:
    """The clip plus one more frame at the same step (the last frame repeated at the end of the video), so that
    `augment.frame_difference` of it has exactly one difference per frame of the clip (SDC's d view)."""
    clip_indices = np.asarray(clip_indices, dtype=np.int64)
    step = int(clip_indices[-1] - clip_indices[-2]) if len(clip_indices) > 1 else 1
    return np.append(clip_indices, min(int(clip_indices[-1]) + step, video_frames - 1))


def uniform_clips(
    video_frames: int,
    num_frames: int,
    num_clips: int = 10,
    stride: int = 1,
    *,
    short_policy: ShortPolicy = "loop",
) -> np.ndarray:
    """`num_clips` clips with starts spread evenly from the first to the last possible start (the 10-clip test
    protocol of all four papers): (num_clips, num_frames). Deterministic."""
    _check_video_frames(video_frames)
    span = clip_span(num_frames, stride)
    starts = np.round(np.linspace(0, max(video_frames - span, 0), num_clips)).astype(np.int64)
    indices = starts[:, None] + np.arange(num_frames, dtype=np.int64) * stride
    return _fit(indices, video_frames, short_policy, span)


def dense_clips(
    video_frames: int,
    num_frames: int,
    window_stride: int,
    stride: int = 1,
    *,
    short_policy: ShortPolicy = "loop",
) -> np.ndarray:
    """Clips starting every `window_stride` frames while they fit (ViCC's dense test): (n, num_frames), n >= 1."""
    _check_video_frames(video_frames)
    if window_stride < 1:
        raise ValueError(f"window_stride must be >= 1, got {window_stride}")
    span = clip_span(num_frames, stride)
    starts = np.arange(0, max(video_frames - span, 0) + 1, window_stride, dtype=np.int64)
    indices = starts[:, None] + np.arange(num_frames, dtype=np.int64) * stride
    return _fit(indices, video_frames, short_policy, span)


# ----- samplers: the views of one sample for each method -----


@dataclass(frozen=True)
class SingleClipSampler:
    """One random clip: view "clip" (supervised finetuning, linear-probe training)."""

    num_frames: int = 16
    stride: int = 1
    short_policy: ShortPolicy = "loop"

    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips:
        return SampledClips(
            {
                "clip": random_clip(
                    video_frames, rng, self.num_frames, self.stride, short_policy=self.short_policy
                )
            }
        )


@dataclass(frozen=True)
class TwoClipSampler:
    """Two independent random clips, views "clip0", "clip1" (ViCC/CoCLR)."""

    num_frames: int = 32  # ViCC supp.: 32 frames for S3D
    stride: int = 1
    short_policy: ShortPolicy = "loop"

    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips:
        return SampledClips(
            {
                f"clip{i}": random_clip(
                    video_frames, rng, self.num_frames, self.stride, short_policy=self.short_policy
                )
                for i in range(2)
            }
        )


@dataclass(frozen=True)
class WindowSampler:
    """MFO/SDC: "clip0", "clip1" = two consecutive clips of one window, "overview" = every second frame of it
    (MFO's timestamp retrieval); static=True adds SDC's "static0", "static1" (one frame of each clip repeated,
    at the same offset in both clips with `shared_static_offset`), difference=True adds "diff0", "diff1"
    (each clip plus one frame, for frame differences)."""

    num_frames: int = 16  # MFO and SDC supp.: two 16-frame clips
    max_stride: int = 3  # MFO supp.: stride in [1, min(3, N / 32)]
    static: bool = False
    difference: bool = False
    short_policy: ShortPolicy = "loop"
    # released MFO/SDC dataloader.py: sr = np.random.uniform(1, min(3, N / 32)), frames round(start + i sr)
    continuous_stride: bool = True
    # released SDC dataloader.py: one back_idx for both clips (images[back_idx], images[back_idx + seq])
    shared_static_offset: bool = True

    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips:
        clip0, clip1, overview = window_clips(
            video_frames,
            rng,
            self.num_frames,
            self.max_stride,
            continuous_stride=self.continuous_stride,
            short_policy=self.short_policy,
        )
        views = {"clip0": clip0, "clip1": clip1, "overview": overview}
        if self.static:
            offset = int(rng.integers(0, self.num_frames)) if self.shared_static_offset else None
            views |= {"static0": static_clip(clip0, rng, offset), "static1": static_clip(clip1, rng, offset)}
        if self.difference:
            views |= {
                "diff0": difference_clip(clip0, video_frames),
                "diff1": difference_clip(clip1, video_frames),
            }
        return SampledClips(views)


@dataclass(frozen=True)
class PaceSampler:
    """Pace prediction (Wang et al., ECCV 2020): `num_clips` clips ("clip0", ...) of one video at paces drawn
    from `paces`; targets "pace0", ... are the indices of the drawn paces in `paces`.

    backward: "none", "random" (each clip reversed with probability 1/2, the label ignores direction) or
    "signed" (the label set is paces followed by their negatives: 2 * len(paces) classes).
    distinct_paces: the clips of one sample get different paces (Pace Prediction supp. Algorithm 1, same
    context).
    """

    num_frames: int = 16
    paces: tuple[float | Fraction, ...] = (1, 2, 3, 4)  # Pace Prediction supp. Table 1: the 4-class baseline
    backward: Literal["none", "random", "signed"] = "none"
    end_policy: EndPolicy = "wrap"  # the original code wraps to the first frame
    start_anywhere: bool = False
    num_clips: int = 1
    distinct_paces: bool = True

    def __post_init__(self):
        if self.backward not in ("none", "random", "signed"):
            raise ValueError(f"backward must be 'none', 'random' or 'signed', got {self.backward!r}")
        if any(Fraction(p) <= 0 for p in self.paces):
            raise ValueError(f"paces must be positive (direction is set by `backward`), got {self.paces}")
        if self.distinct_paces and self.num_clips > self.num_classes:
            raise ValueError(f"{self.num_clips} clips cannot get distinct paces out of {self.num_classes}")

    @property
    def num_classes(self) -> int:
        return len(self.paces) * (2 if self.backward == "signed" else 1)

    def __call__(self, video_frames: int, rng: np.random.Generator) -> SampledClips:
        labels = rng.choice(self.num_classes, size=self.num_clips, replace=not self.distinct_paces)
        views, targets = {}, {}
        for i, label in enumerate(labels.tolist()):
            pace = Fraction(self.paces[label % len(self.paces)])
            backward = (
                label >= len(self.paces)
                if self.backward == "signed"
                else (self.backward == "random" and bool(rng.integers(0, 2)))
            )
            views[f"clip{i}"] = pace_clip(
                video_frames,
                rng,
                self.num_frames,
                pace,
                backward=backward,
                end_policy=self.end_policy,
                start_anywhere=self.start_anywhere,
            )
            targets[f"pace{i}"] = label
        return SampledClips(views, targets)


__all__ = [
    "ClipSampler",
    "PaceSampler",
    "SampledClips",
    "SingleClipSampler",
    "TwoClipSampler",
    "WindowSampler",
    "clip_span",
    "dense_clips",
    "difference_clip",
    "pace_clip",
    "random_clip",
    "static_clip",
    "uniform_clips",
    "window_clips",
]
