"""A small temporal model on the arrays of `hf-vssl extract-features`: per-clip action segmentation.

Each video's features are a (T, C) array (`<id>.npy`) and its class is the folder its id starts with (the
class folders of a UCF-101-like layout). Training sequences join the arrays of a few videos of random
classes end to end, so the action changes inside a sequence, and a two-layer 1D convolution over time
labels every clip; the frame accuracy on fixed held-out sequences is printed before and after training.

    hf-vssl synth data/synthetic
    hf-vssl extract-features runs/pace/model --dataset data/synthetic --out features/synthetic --stride 4
    python examples/temporal_head.py features/synthetic --steps 300
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn


def load_features(folder: Path) -> tuple[list[np.ndarray], list[int], list[str]]:
    """(T, C) arrays, class indices and class names of every `<class>/<video>.npy` under `folder`."""
    paths = sorted(folder.rglob("*.npy"))
    if not paths:
        raise FileNotFoundError(f"no .npy features under {folder}; write them with hf-vssl extract-features")
    classes = sorted({p.relative_to(folder).parts[0] for p in paths})
    if any(len(p.relative_to(folder).parts) < 2 for p in paths):
        raise ValueError(f"{folder}: every array must sit in a class folder (<class>/<video>.npy)")
    labels = [classes.index(p.relative_to(folder).parts[0]) for p in paths]
    return [np.load(p).astype(np.float32) for p in paths], labels, classes


def make_sequence(
    rng: np.random.Generator, arrays: list[np.ndarray], labels: list[int], videos: int
) -> tuple[np.ndarray, np.ndarray]:
    """`videos` random arrays joined in time: features (T, C) and each row's class (T,)."""
    chosen = rng.choice(len(arrays), size=videos)
    features = np.concatenate([arrays[i] for i in chosen])
    return features, np.concatenate([np.full(len(arrays[i]), labels[i]) for i in chosen])


class TemporalHead(nn.Module):
    """(B, C, T) -> (B, K, T) class logits per clip: a temporal 3-tap convolution, then a linear layer."""

    def __init__(self, channels: int, num_classes: int, hidden: int = 64):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv1d(channels, hidden, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv1d(hidden, num_classes, 1),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def frame_accuracy(head: TemporalHead, sequences: list[tuple[np.ndarray, np.ndarray]]) -> float:
    with torch.no_grad():
        hits = [(head(torch.from_numpy(x).T[None]).argmax(1)[0].numpy() == y).sum() for x, y in sequences]
    return float(sum(hits) / sum(len(y) for _, y in sequences))


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("features", type=Path, help="folder of hf-vssl extract-features (--format npy)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--videos-per-sequence", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    arrays, labels, classes = load_features(args.features)
    mean = np.concatenate(arrays).mean(0)
    std = np.concatenate(arrays).std(0) + 1e-6
    arrays = [(a - mean) / std for a in arrays]
    rng = np.random.default_rng(args.seed)
    torch.manual_seed(args.seed)
    held_out = [make_sequence(rng, arrays, labels, args.videos_per_sequence) for _ in range(8)]
    head = TemporalHead(arrays[0].shape[1], len(classes))
    optimizer = torch.optim.Adam(head.parameters(), lr=args.lr)
    before = frame_accuracy(head, held_out)
    losses = []
    for _ in range(args.steps):
        x, y = make_sequence(rng, arrays, labels, args.videos_per_sequence)
        loss = nn.functional.cross_entropy(head(torch.from_numpy(x).T[None]), torch.from_numpy(y)[None])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    window = max(1, args.steps // 10)
    result = {
        "first_loss": float(np.mean(losses[:window])),
        "last_loss": float(np.mean(losses[-window:])),
        "accuracy_before": before,
        "accuracy_after": frame_accuracy(head, held_out),
    }
    print(
        f"{len(arrays)} videos, {len(classes)} classes: loss {result['first_loss']:.3f} -> {result['last_loss']:.3f}, "
        f"held-out frame accuracy {before:.1%} -> {result['accuracy_after']:.1%}"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
