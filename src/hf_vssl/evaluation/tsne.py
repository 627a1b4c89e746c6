"""t-SNE map of video features coloured by class (ViCC supp. Fig. 2)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def tsne_embedding(features: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2); perplexity shrinks with small sets (t-SNE needs perplexity < N)."""
    from sklearn.manifold import TSNE

    if features.ndim != 2 or len(features) < 3:
        raise ValueError(f"t-SNE needs (N >= 3, D) features, got shape {features.shape}")
    perplexity = float(min(30.0, (len(features) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)


def plot_tsne(
    features: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    path: str | Path,
    *,
    title: str = "t-SNE of test features",
    seed: int = 0,
) -> Path:
    """Write a PNG scatter of the 2-D t-SNE of features: (N, D), one colour per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = tsne_embedding(np.asarray(features, dtype=np.float32), seed=seed)
    labels = np.asarray(labels)
    figure, axes = plt.subplots(figsize=(6, 6), dpi=120)
    colours = plt.get_cmap("tab20" if len(class_names) > 10 else "tab10")
    for index in np.unique(labels):
        mask = labels == index
        axes.scatter(*points[mask].T, s=14, color=colours(index % colours.N), label=class_names[index])
    if len(class_names) <= 20:
        axes.legend(fontsize=7, markerscale=1.5, loc="best")
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
