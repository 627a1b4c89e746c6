"""A synthetic action dataset that needs no download, in UCF-101's folder and split-file layout.

Each video shows one textured object over a textured background. The class is defined by the object's
motion only (direction, rotation sense, zoom, oscillation, none; and, in the two-label presets, orbit sense and
speeding up / slowing down, whose per-frame motion statistics are alike: one flow frame does not tell them
apart, only the order of the motion does); its shape, textures, colours, size, start
position, speed and the background (with a small random camera drift) are drawn per video independently of
the class, so one frame does not tell the class apart: a model has to look at time. Everything is
deterministic from the seed (numpy) and written as real H.264 mp4 files with PyAV.

Two-label presets (`two-label-*`) add a second, static label: each video also belongs to an appearance family
(`APPEARANCES`: background colour and texture, object shape, colour and stripe texture) shared by all videos
of the family, with within-family variation (position, size, colour shade, texture phase and angle, noise).
Appearance is crossed with motion as a full factorial design, so the two labels are exactly independent in
every split; one frame tells the appearance family apart, only time tells the motion class. The folders and
`label` stay the motion class (as UCF-101); the family of each video is listed in
`ucfTrainTestlist/extra_labels.json`, which `load_ucf101` turns into an `appearance_label` column.

Layout (as UCF-101): `<root>/<Class>/v_<Class>_gGG_cCC.mp4` and `<root>/ucfTrainTestlist/` with `classInd.txt`,
`trainlist0{1,2,3}.txt` (`<Class>/<file> <label>`, labels 1-based) and `testlist0{1,2,3}.txt`. As in UCF-101,
videos are grouped; split s tests on its own groups and trains on the others.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from .encoding import write_video
from .loaders import EXTRA_LABELS_FILE

# motion of each class: (kind, parameter); see `_motion`
CLASS_MOTIONS: dict[str, tuple[str, float]] = {
    "MoveLeft": ("translate", 180.0),
    "MoveRight": ("translate", 0.0),
    "MoveUp": ("translate", 270.0),
    "MoveDown": ("translate", 90.0),
    "RotateClockwise": ("rotate", 1.0),
    "RotateCounterclockwise": ("rotate", -1.0),
    "ZoomIn": ("zoom", 1.0),
    "ZoomOut": ("zoom", -1.0),
    "Oscillate": ("oscillate", 0.0),
    "Still": ("still", 0.0),
    # told apart by temporal order only: the same per-frame motion statistics (speeds, directions), so a single
    # flow frame does not spell out the class; only how the motion changes over time does
    "OrbitClockwise": ("orbit", 1.0),
    "OrbitCounterclockwise": ("orbit", -1.0),
    "SpeedUp": ("ramp", 1.0),
    "SlowDown": ("ramp", -1.0),
}
# the classes of the original presets; ORDER_MOTIONS are the classes whose per-frame statistics are alike
ORDER_MOTIONS = ("OrbitClockwise", "OrbitCounterclockwise", "SpeedUp", "SlowDown")
BASIC_MOTIONS = tuple(name for name in CLASS_MOTIONS if name not in ORDER_MOTIONS)

SHAPES = ("disc", "square", "diamond")


@dataclass(frozen=True)
class AppearanceFamily:
    """The look shared by every video of an appearance class (colours RGB in [0, 1], angles in degrees);
    each video varies it by `SyntheticPreset.shade_jitter` and `angle_jitter`."""

    background: tuple[float, float, float]
    background_angle: float  # orientation of the background's two gratings (the second at +60 degrees)
    shape: str
    colour: tuple[float, float, float]
    stripe_angle: float  # orientation of the object's stripes


# well apart in background colour (the bulk of a frame's pixels): a frame's mean colour tells the family
APPEARANCES: dict[str, AppearanceFamily] = {
    "RedDisc": AppearanceFamily((0.75, 0.3, 0.25), 0.0, "disc", (0.25, 0.6, 0.8), 0.0),
    "GreenSquare": AppearanceFamily((0.3, 0.7, 0.3), 45.0, "square", (0.8, 0.3, 0.65), 90.0),
    "BlueDiamond": AppearanceFamily((0.25, 0.3, 0.75), 90.0, "diamond", (0.8, 0.75, 0.25), 45.0),
    "YellowSquare": AppearanceFamily((0.75, 0.7, 0.25), 135.0, "square", (0.3, 0.3, 0.75), 135.0),
    "PurpleDiamond": AppearanceFamily((0.6, 0.3, 0.7), 30.0, "diamond", (0.3, 0.75, 0.35), 0.0),
    "GreyDisc": AppearanceFamily((0.5, 0.5, 0.5), 120.0, "disc", (0.8, 0.4, 0.2), 60.0),
    "CyanSquare": AppearanceFamily((0.25, 0.7, 0.7), 75.0, "square", (0.75, 0.35, 0.3), 30.0),
    "DarkDiamond": AppearanceFamily((0.2, 0.2, 0.25), 160.0, "diamond", (0.7, 0.7, 0.7), 120.0),
}
APPEARANCE_COLUMN = "appearance_label"

SPLIT_DIR = "ucfTrainTestlist"
MARKER = ".hf_vssl_synthetic.json"


@dataclass(frozen=True)
class SyntheticPreset:
    """Size of a synthetic dataset. Per class there are `groups` groups (numbered from 1) of `clips_per_group`
    videos; split s (1, 2, 3) tests on groups (s - 1) * test_groups + 1 ... s * test_groups, trains on the rest."""

    classes: tuple[str, ...]
    height: int
    width: int
    min_frames: int
    max_frames: int
    groups: int
    clips_per_group: int
    test_groups: int
    fps: float = 25.0
    gop_size: int = 12  # short GOPs make clip decoding seek (as in real data) and keep it cheap
    camera_drift: float = 0.25  # max background drift in px/frame, independent of the class
    noise_std: float = 3.0  # std of the per-pixel sensor noise (0-255 scale)
    # appearance families crossed with the motion classes (empty: every look drawn per video, one label)
    appearances: tuple[str, ...] = ()
    shade_jitter: float = 0.08  # within-family colour variation: +- this per channel (0-1 scale)
    angle_jitter: float = 10.0  # within-family texture orientation variation: +- degrees
    # per-video instance cues of the appearance families that colour jitter and grey leave intact (as a real
    # video's own scene and actor): this many dark or bright spots at random places of the background (moving with
    # the camera) and one on the object (moving with it)
    instance_marks: int = 0

    def __post_init__(self):
        unknown = sorted(set(self.classes) - set(CLASS_MOTIONS))
        if unknown:
            raise ValueError(f"unknown synthetic classes {unknown}; choose from {sorted(CLASS_MOTIONS)}")
        unknown = sorted(set(self.appearances) - set(APPEARANCES))
        if unknown:
            raise ValueError(f"unknown appearance families {unknown}; choose from {sorted(APPEARANCES)}")
        if self.appearances and self.clips_per_group % len(self.appearances):
            raise ValueError(
                f"clips_per_group={self.clips_per_group} must be a multiple of the {len(self.appearances)} "
                "appearances, so that every group holds every (appearance, motion) pair"
            )
        if self.instance_marks < 0:
            raise ValueError(f"instance_marks must be >= 0, got {self.instance_marks}")
        if self.test_groups < 1 or 3 * self.test_groups > self.groups:
            raise ValueError(f"groups={self.groups} cannot hold 3 splits of {self.test_groups} test groups")
        if not 2 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 2 <= min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.height % 2 or self.width % 2:
            raise ValueError(f"frame size must be even for H.264, got {self.height}x{self.width}")


PRESETS: dict[str, SyntheticPreset] = {
    # tests: 6 classes x 6 videos (4 train + 2 test per split) of 40-48 frames at 64x80; builds in ~2 s
    "tiny": SyntheticPreset(
        classes=("MoveLeft", "MoveRight", "RotateClockwise", "RotateCounterclockwise", "Oscillate", "Still"),
        height=64,
        width=80,
        min_frames=40,
        max_frames=48,
        groups=3,
        clips_per_group=2,
        test_groups=1,
    ),
    # the README demo: 10 classes x 32 videos (24 train + 8 test per split) of 48-64 frames at 96x128
    "small": SyntheticPreset(
        classes=BASIC_MOTIONS,
        height=96,
        width=128,
        min_frames=48,
        max_frames=64,
        groups=8,
        clips_per_group=4,
        test_groups=2,
    ),
    # two labels (appearance family x motion), tests and smoke runs: 4 motions x 3 families, 36 videos at 64x80
    "two-label-tiny": SyntheticPreset(
        classes=("MoveLeft", "MoveRight", "RotateClockwise", "Still"),
        appearances=("RedDisc", "GreenSquare", "BlueDiamond"),
        height=64,
        width=80,
        min_frames=40,
        max_frames=48,
        groups=3,
        clips_per_group=3,
        test_groups=1,
        instance_marks=3,
    ),
    # two labels on a CPU in minutes (the demo's set): 10 motions x 4 families, 320 videos (240 train + 80 test
    # per split)
    "two-label-small": SyntheticPreset(
        classes=BASIC_MOTIONS,
        appearances=("RedDisc", "GreenSquare", "BlueDiamond", "YellowSquare"),
        height=96,
        width=128,
        min_frames=48,
        max_frames=64,
        groups=8,
        clips_per_group=4,
        test_groups=2,
    ),
    # two labels for a GPU: 10 motions x 8 families, 1920 videos (1440 train + 480 test) of 64-96 frames, 128x160
    "two-label-large": SyntheticPreset(
        classes=BASIC_MOTIONS,
        appearances=tuple(APPEARANCES),
        height=128,
        width=160,
        min_frames=64,
        max_frames=96,
        groups=12,
        clips_per_group=16,
        test_groups=3,
    ),
}
# the two-label sets plus the 4 motions told apart by temporal order only and per-video instance marks (a fairer
# question for flow and instance-contrast methods; the demo benchmark has not measured them yet): 14 motions,
# two-label-order-small 448 videos (336 train + 112 test per split), two-label-order-large 2688 (2016 + 672)
PRESETS |= {
    f"two-label-order-{size}": replace(
        PRESETS[f"two-label-{size}"], classes=tuple(CLASS_MOTIONS), instance_marks=3
    )
    for size in ("small", "large")
}


def _grating(
    rng: np.random.Generator,
    count: int,
    scale: float,
    angles: np.ndarray | None = None,
    cycles: tuple[float, float] = (0.5, 2.5),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` random sinusoidal gratings of `cycles` cycles per `scale` pixels, at random `angles` (rad) unless
    given: wave vectors (count, 2), phases (count,), colours (count, 3)."""
    if angles is None:
        angles = rng.uniform(0, 2 * np.pi, count)
    freqs = rng.uniform(*cycles, count) / scale
    waves = np.stack([np.cos(angles), np.sin(angles)], axis=1) * freqs[:, None] * 2 * np.pi
    phases, colours = rng.uniform(0, 2 * np.pi, count), rng.uniform(-1, 1, (count, 3))
    return waves.astype(np.float32), phases.astype(np.float32), colours.astype(np.float32)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.2, 0.8, 3).astype(np.float32)


def _paint(waves: np.ndarray, base: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """Colour (3, ...) in [0, 1]: a base colour plus grating fields `waves: (K, ...)` mixed by `colours: (K, 3)`."""
    image = (colours.T * 0.25) @ waves.reshape(len(waves), -1) + base[:, None]
    return np.clip(image, 0, 1, out=image).reshape(3, *waves.shape[1:])


def _motion(
    kind: str, param: float, video_frames: int, height: int, width: int, size: float, rng: np.random.Generator
):
    """Per-frame object centre (x, y), rotation angle (rad) and scale of a class's motion, with random speed."""
    t = np.arange(video_frames, dtype=np.float64)
    angle = np.full(video_frames, rng.uniform(0, 2 * np.pi))
    scale = np.full(video_frames, 1.0)
    x0, y0 = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    if kind == "translate":
        horizontal = param in (0.0, 180.0)
        extent = width if horizontal else height
        travel = rng.uniform(0.35, 0.6) * extent  # random speed: 0.35-0.6 of the frame over the video
        along = rng.uniform(0.15 * extent, 0.85 * extent - travel) + travel * t / (video_frames - 1)
        if param in (180.0, 270.0):  # leftward / upward (image y points down)
            along = extent - along
        x, y = (along, np.full(video_frames, y0)) if horizontal else (np.full(video_frames, x0), along)
    elif kind == "rotate":
        x, y = np.full(video_frames, x0), np.full(video_frames, y0)
        angle = angle + param * np.deg2rad(rng.uniform(3.0, 7.0)) * t
    elif kind == "zoom":
        ratio = rng.uniform(1.6, 2.2) ** (t / (video_frames - 1))
        scale = ratio / np.sqrt(ratio[-1]) if param > 0 else np.sqrt(ratio[-1]) / ratio
        x, y = np.full(video_frames, x0), np.full(video_frames, y0)
    elif kind == "orbit":  # a circle at constant speed, clockwise on screen (y points down) for param 1
        radius = rng.uniform(0.12, 0.2) * min(height, width)
        phase = rng.uniform(0, 2 * np.pi) + param * np.deg2rad(rng.uniform(4.0, 8.0)) * t
        x, y = x0 + radius * np.cos(phase), y0 + radius * np.sin(phase)
    elif (
        kind == "ramp"
    ):  # horizontal, either way; speed rising linearly 0.25 -> 1.75 of its mean (param 1) or falling
        direction = rng.choice([-1.0, 1.0])
        travel = rng.uniform(0.35, 0.6) * width
        tau = t / (video_frames - 1)
        progress = 0.25 * tau + 0.75 * tau**2 if param > 0 else 1.75 * tau - 0.75 * tau**2
        along = rng.uniform(0.15 * width, 0.85 * width - travel) + travel * progress
        x, y = (along if direction > 0 else width - along), np.full(video_frames, y0)
    elif kind == "oscillate":
        amplitude = rng.uniform(0.1, 0.18) * width
        period = rng.uniform(10, 20)
        x = x0 + amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        y = np.full(video_frames, y0)
    else:  # still
        x, y = np.full(video_frames, x0), np.full(video_frames, y0)
    return x, y, angle, scale * size


# (background colour, background gratings, shape name, object colour, object stripe gratings)
Look = tuple[np.ndarray, tuple, str, np.ndarray, tuple]


def _random_look(rng: np.random.Generator, height: int, width: int) -> Look:
    """Every appearance factor drawn at random (one-label presets): background colour and 3 gratings, shape,
    object colour and 2 stripe gratings."""
    bg_base, bg_grating = _colour(rng), _grating(rng, 3, scale=min(height, width))
    shape = SHAPES[rng.integers(0, len(SHAPES))]
    return bg_base, bg_grating, shape, _colour(rng), _grating(rng, 2, scale=0.6)


def _family_look(family: AppearanceFamily, preset: SyntheticPreset, rng: np.random.Generator) -> Look:
    """The family's look with this video's variation: colour shades and texture angles jittered, texture
    phases, frequencies and colour mixes drawn per video."""

    def shade(colour: tuple[float, float, float]) -> np.ndarray:
        jitter = rng.uniform(-preset.shade_jitter, preset.shade_jitter, 3)
        return np.clip(np.asarray(colour) + jitter, 0, 1).astype(np.float32)

    def angles(degrees: float, spread: float) -> np.ndarray:
        offsets = np.array([0.0, spread]) + rng.uniform(-preset.angle_jitter, preset.angle_jitter, 2)
        return np.deg2rad(degrees + offsets)

    # 1-2.5 cycles per frame: the background texture barely shifts a frame's mean colour off the family's
    bg_grating = _grating(
        rng,
        2,
        scale=min(preset.height, preset.width),
        angles=angles(family.background_angle, 60.0),
        cycles=(1.0, 2.5),
    )
    obj_grating = _grating(rng, 2, scale=0.6, angles=angles(family.stripe_angle, 90.0))
    return shade(family.background), bg_grating, family.shape, shade(family.colour), obj_grating


def _spot(distance: np.ndarray, radius: float) -> np.ndarray:
    """A disc of `radius` with a 1-unit soft edge: coverage in [0, 1] from distances to its centre."""
    return np.clip(radius + 0.5 - distance, 0, 1)


def _instance_marks(
    preset: SyntheticPreset,
    rng: np.random.Generator,
    background: np.ndarray,
    foreground: np.ndarray,
    drift: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """This video's own marks: `instance_marks` grey spots (dark or bright, 4-8% of the short side) fixed in the
    world behind the drifting camera, one on the object at a fixed place in its own coordinates (u, v: (T, H, W),
    in object radii). background, foreground: (3, T, H, W)."""
    frames, height, width = u.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    shift = drift[:, None] * np.arange(
        frames, dtype=np.float32
    )  # (2, T): the world point of pixel p is p + shift
    for _ in range(preset.instance_marks):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.04, 0.08) * min(height, width)
        distance = np.hypot(
            xs[None] + shift[0, :, None, None] - cx, ys[None] + shift[1, :, None, None] - cy
        )  # (T, H, W)
        cover = _spot(distance, radius)
        background = background + cover * (rng.choice([0.1, 0.9]) - background)
    # on the object: a spot of a third of its radius, in object radii (1 px ~ 1 / pixels-per-radius)
    cu, cv = rng.uniform(-0.45, 0.45, 2)
    cover = np.clip((0.3 - np.hypot(u - cu, v - cv)) * 8.0, 0, 1)
    foreground = foreground + cover * (rng.choice([0.1, 0.9]) - foreground)
    return background.astype(np.float32), foreground.astype(np.float32)


def render_video(
    class_name: str, preset: SyntheticPreset, rng: np.random.Generator, appearance: str | None = None
) -> np.ndarray:
    """One video of motion class `class_name`: uint8 (T, H, W, 3). Its look is drawn from `rng`, entirely at
    random when `appearance` is None, else as a variation of that APPEARANCES family."""
    kind, param = CLASS_MOTIONS[class_name]
    height, width = preset.height, preset.width
    video_frames = int(rng.integers(preset.min_frames, preset.max_frames + 1))
    size = rng.uniform(0.15, 0.25) * min(height, width)  # object radius in px
    cx, cy, angle, radius = _motion(kind, param, video_frames, height, width, size, rng)

    # background: smooth gratings in world coordinates, seen through a slowly drifting camera
    drift = rng.uniform(-preset.camera_drift, preset.camera_drift, 2).astype(np.float32)
    # object: a shape with a sharp-edged oriented texture (so rotation is visible)
    look = (
        _random_look(rng, height, width)
        if appearance is None
        else _family_look(APPEARANCES[appearance], preset, rng)
    )
    bg_base, (bg_k, bg_phase, bg_colours), shape, obj_base, (obj_k, obj_phase, obj_colours) = look

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # sin(k.p + k.drift t + phase) = sin(k.p) cos(k.drift t + phase) + cos(k.p) sin(k.drift t + phase)
    spatial = bg_k[:, 0, None, None] * xs + bg_k[:, 1, None, None] * ys  # (K, H, W)
    temporal = (bg_k @ drift)[:, None] * np.arange(video_frames, dtype=np.float32) + bg_phase[
        :, None
    ]  # (K, T)
    bg_waves = (
        np.sin(spatial)[:, None] * np.cos(temporal)[..., None, None]
        + np.cos(spatial)[:, None] * np.sin(temporal)[..., None, None]
    )
    background = _paint(bg_waves, bg_base, bg_colours)  # (3, T, H, W)

    # object-local coordinates (u, v) in units of the radius, rotated by the object's angle
    inv_radius = (1.0 / radius).astype(np.float32)[:, None, None]
    rel_x = (xs[None] - cx.astype(np.float32)[:, None, None]) * inv_radius
    rel_y = (ys[None] - cy.astype(np.float32)[:, None, None]) * inv_radius
    cos, sin = (
        np.cos(angle).astype(np.float32)[:, None, None],
        np.sin(angle).astype(np.float32)[:, None, None],
    )
    u, v = cos * rel_x + sin * rel_y, -sin * rel_x + cos * rel_y
    if shape == "disc":
        inside = np.sqrt(u**2 + v**2)
    elif shape == "square":
        inside = np.maximum(np.abs(u), np.abs(v)) * 1.15
    else:
        inside = (np.abs(u) + np.abs(v)) * 0.85
    alpha = np.clip((1.0 - inside) / inv_radius + 0.5, 0, 1)  # (T, H, W), 1-px antialiased edge
    stripes = np.sign(
        np.sin(
            obj_k[:, 0, None, None, None] * u
            + obj_k[:, 1, None, None, None] * v
            + obj_phase[:, None, None, None]
        )
    )
    foreground = _paint(stripes, obj_base, obj_colours)  # (3, T, H, W)

    if appearance is not None and preset.instance_marks:
        background, foreground = _instance_marks(preset, rng, background, foreground, drift, u, v)
    video = (alpha * (foreground - background) + background) * 255
    # uniform sensor noise with std noise_std (3x cheaper to draw than Gaussian); + 0.5 rounds on the cast
    video += (rng.random(video.shape, dtype=np.float32) - 0.5) * (preset.noise_std * np.sqrt(12.0)) + 0.5
    np.clip(video, 0, 255, out=video)
    return np.ascontiguousarray(video.transpose(1, 2, 3, 0), dtype=np.uint8)  # (T, H, W, 3)


def _video_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def appearance_of(preset: SyntheticPreset, class_index: int, group: int, clip: int) -> int | None:
    """The appearance family (index into preset.appearances) of a video, None for one-label presets.

    A full factorial design rather than a random draw: each group of each motion class holds every family
    clips_per_group / len(appearances) times, so every split crosses every (appearance, motion) pair equally
    often and the two labels are exactly independent (random draws leave chance correlations in small sets).
    """
    if not preset.appearances:
        return None
    return (clip - 1 + group + class_index) % len(preset.appearances)


def _write_one(args: tuple[str, str, int, int, int, int, SyntheticPreset]) -> None:
    root, class_name, class_index, group, clip, seed, preset = args
    rng = np.random.default_rng([seed, class_index, group, clip])
    appearance = appearance_of(preset, class_index, group, clip)
    frames = render_video(
        class_name, preset, rng, None if appearance is None else preset.appearances[appearance]
    )
    path = Path(root) / class_name / _video_name(class_name, group, clip)
    write_video(path, frames, fps=preset.fps, gop_size=preset.gop_size)


def make_synthetic_ucf(
    root: str | os.PathLike,
    preset: str | SyntheticPreset = "tiny",
    seed: int = 0,
    *,
    num_workers: int = 1,
    overwrite: bool = False,
) -> Path:
    """Write the synthetic dataset `preset` (a PRESETS name: "tiny" for tests, "small" for the demo, "two-label-*"
    with an appearance label too) under `root`; returns root.

    An existing complete build with the same preset and seed is reused (a marker file records them) unless
    `overwrite`; a different one in the same folder is an error. num_workers > 1 renders in processes.
    """
    root = Path(root)
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown synthetic preset {preset!r}; choose one of {sorted(PRESETS)}")
        preset_name, preset = preset, PRESETS[preset]
    else:
        preset_name = "custom"
    config = asdict(preset)
    if (
        not preset.appearances
    ):  # the appearance fields do not change a one-label build: older markers stay valid
        for name in ("appearances", "shade_jitter", "angle_jitter", "instance_marks"):
            del config[name]
    record = {"preset": preset_name, "seed": seed, "config": config}
    marker = root / MARKER
    if marker.is_file() and not overwrite:
        existing = json.loads(marker.read_text())
        if existing == json.loads(json.dumps(record)):
            return root
        raise ValueError(
            f"{root} already holds a synthetic dataset ({existing['preset']}, seed {existing['seed']}); "
            "choose another folder or pass overwrite=True"
        )

    jobs = [
        (str(root), name, c, group, clip, seed, preset)
        for c, name in enumerate(preset.classes)
        for group in range(1, preset.groups + 1)
        for clip in range(1, preset.clips_per_group + 1)
    ]
    if num_workers > 1:
        with ProcessPoolExecutor(num_workers) as pool:
            list(pool.map(_write_one, jobs, chunksize=4))
    else:
        for job in jobs:
            _write_one(job)

    split_dir = root / SPLIT_DIR
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "classInd.txt").write_text(
        "".join(f"{i + 1} {name}\n" for i, name in enumerate(preset.classes))
    )
    for split in (1, 2, 3):
        test_groups = range((split - 1) * preset.test_groups + 1, split * preset.test_groups + 1)
        train, test = [], []
        for _root, name, class_index, group, clip, _seed, _preset in jobs:
            entry = f"{name}/{_video_name(name, group, clip)}"
            if group in test_groups:
                test.append(entry)
            else:
                train.append(f"{entry} {class_index + 1}")  # UCF-101's 1-based class number
        (split_dir / f"trainlist0{split}.txt").write_text("".join(f"{line}\n" for line in train))
        (split_dir / f"testlist0{split}.txt").write_text("".join(f"{line}\n" for line in test))
    if preset.appearances:
        videos = {
            f"{name}/{_video_name(name, group, clip)}": appearance_of(preset, class_index, group, clip)
            for _root, name, class_index, group, clip, _seed, _preset in jobs
        }
        extra = {APPEARANCE_COLUMN: {"names": list(preset.appearances), "videos": videos}}
        (split_dir / EXTRA_LABELS_FILE).write_text(json.dumps(extra, indent=1))
    else:  # an overwritten two-label build must not leave its labels behind
        (split_dir / EXTRA_LABELS_FILE).unlink(missing_ok=True)
    marker.write_text(json.dumps(record, indent=1))
    return root
