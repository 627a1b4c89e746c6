"""A synthetic action dataset that needs no download, in UCF-101's folder and split-file layout.

Each video shows one textured object over a textured background. The class is defined by the object's
motion only (direction, rotation sense, zoom, oscillation, none); its shape, textures, colours, size, start
position, speed and the background (with a small random camera drift) are drawn per video independently of
the class, so one frame does not tell the class apart: a model has to look at time. Everything is
deterministic from the seed (numpy) and written as real H.264 mp4 files with PyAV.

Layout (as UCF-101): `<root>/<Class>/v_<Class>_gGG_cCC.mp4` and `<root>/ucfTrainTestlist/` with `classInd.txt`,
`trainlist0{1,2,3}.txt` (`<Class>/<file> <label>`, labels 1-based) and `testlist0{1,2,3}.txt`. As in UCF-101,
videos are grouped; split s tests on its own groups and trains on the others.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .encoding import write_video

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
}

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

    def __post_init__(self):
        unknown = sorted(set(self.classes) - set(CLASS_MOTIONS))
        if unknown:
            raise ValueError(f"unknown synthetic classes {unknown}; choose from {sorted(CLASS_MOTIONS)}")
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
        classes=tuple(CLASS_MOTIONS),
        height=96,
        width=128,
        min_frames=48,
        max_frames=64,
        groups=8,
        clips_per_group=4,
        test_groups=2,
    ),
}


def _grating(rng: np.random.Generator, count: int, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`count` random sinusoidal gratings of 0.5-2.5 cycles per `scale` pixels: wave vectors (count, 2),
    phases (count,), colours (count, 3)."""
    angles = rng.uniform(0, 2 * np.pi, count)
    freqs = rng.uniform(0.5, 2.5, count) / scale
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
    kind: str, param: float, num_frames: int, height: int, width: int, size: float, rng: np.random.Generator
):
    """Per-frame object centre (x, y), rotation angle (rad) and scale of a class's motion, with random speed."""
    t = np.arange(num_frames, dtype=np.float64)
    angle = np.full(num_frames, rng.uniform(0, 2 * np.pi))
    scale = np.full(num_frames, 1.0)
    x0, y0 = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    if kind == "translate":
        horizontal = param in (0.0, 180.0)
        extent = width if horizontal else height
        travel = rng.uniform(0.35, 0.6) * extent  # random speed: 0.35-0.6 of the frame over the video
        along = rng.uniform(0.15 * extent, 0.85 * extent - travel) + travel * t / (num_frames - 1)
        if param in (180.0, 270.0):  # leftward / upward (image y points down)
            along = extent - along
        x, y = (along, np.full(num_frames, y0)) if horizontal else (np.full(num_frames, x0), along)
    elif kind == "rotate":
        x, y = np.full(num_frames, x0), np.full(num_frames, y0)
        angle = angle + param * np.deg2rad(rng.uniform(3.0, 7.0)) * t
    elif kind == "zoom":
        ratio = rng.uniform(1.6, 2.2) ** (t / (num_frames - 1))
        scale = ratio / np.sqrt(ratio[-1]) if param > 0 else np.sqrt(ratio[-1]) / ratio
        x, y = np.full(num_frames, x0), np.full(num_frames, y0)
    elif kind == "oscillate":
        amplitude = rng.uniform(0.1, 0.18) * width
        period = rng.uniform(10, 20)
        x = x0 + amplitude * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
        y = np.full(num_frames, y0)
    else:  # still
        x, y = np.full(num_frames, x0), np.full(num_frames, y0)
    return x, y, angle, scale * size


def render_video(class_name: str, preset: SyntheticPreset, rng: np.random.Generator) -> np.ndarray:
    """One video of `class_name`: uint8 (T, H, W, 3), with every appearance factor drawn from `rng`."""
    kind, param = CLASS_MOTIONS[class_name]
    height, width = preset.height, preset.width
    num_frames = int(rng.integers(preset.min_frames, preset.max_frames + 1))
    size = rng.uniform(0.15, 0.25) * min(height, width)  # object radius in px
    cx, cy, angle, radius = _motion(kind, param, num_frames, height, width, size, rng)

    # background: smooth gratings in world coordinates, seen through a slowly drifting camera
    drift = rng.uniform(-preset.camera_drift, preset.camera_drift, 2).astype(np.float32)
    bg_base, (bg_k, bg_phase, bg_colours) = _colour(rng), _grating(rng, 3, scale=min(height, width))
    # object: a shape with a sharp-edged oriented texture (so rotation is visible)
    shape = rng.integers(0, 3)  # 0 disc, 1 square, 2 diamond
    obj_base, (obj_k, obj_phase, obj_colours) = _colour(rng), _grating(rng, 2, scale=0.6)

    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # sin(k.p + k.drift t + phase) = sin(k.p) cos(k.drift t + phase) + cos(k.p) sin(k.drift t + phase)
    spatial = bg_k[:, 0, None, None] * xs + bg_k[:, 1, None, None] * ys  # (K, H, W)
    temporal = (bg_k @ drift)[:, None] * np.arange(num_frames, dtype=np.float32) + bg_phase[:, None]  # (K, T)
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
    if shape == 0:
        inside = np.sqrt(u**2 + v**2)
    elif shape == 1:
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

    video = (alpha * (foreground - background) + background) * 255
    # uniform sensor noise with std noise_std (3x cheaper to draw than Gaussian); + 0.5 rounds on the cast
    video += (rng.random(video.shape, dtype=np.float32) - 0.5) * (preset.noise_std * np.sqrt(12.0)) + 0.5
    np.clip(video, 0, 255, out=video)
    return np.ascontiguousarray(video.transpose(1, 2, 3, 0), dtype=np.uint8)  # (T, H, W, 3)


def _video_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}.mp4"


def _write_one(args: tuple[str, str, int, int, int, int, SyntheticPreset]) -> None:
    root, class_name, class_index, group, clip, seed, preset = args
    rng = np.random.default_rng([seed, class_index, group, clip])
    frames = render_video(class_name, preset, rng)
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
    """Write the synthetic dataset `preset` ("tiny" for tests, "small" for the demo) under `root`; returns root.

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
    record = {"preset": preset_name, "seed": seed, "config": asdict(preset)}
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
    marker.write_text(json.dumps(record, indent=1))
    return root
