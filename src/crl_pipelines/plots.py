"""Figures of the scores, as matplotlib ``Figure`` objects (no pyplot state, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def class_distance_heatmap(distances: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Heat map of the class distance matrix (ideal: dark diagonal, light off-diagonal)."""
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(distances, cmap="viridis")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names)
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("class")
    ax.set_ylabel("class")
    ax.set_title(f"{title}: mean distance between classes")
    fig.colorbar(image, ax=ax)
    return fig


def between_class_histogram(normalized: np.ndarray, title: str) -> Figure:
    """Histogram of between-class distances ÷ the largest (higher is better separated)."""
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.subplots()
    ax.hist(normalized[np.isfinite(normalized)], bins=20, range=(0, 1), color="tab:blue")
    ax.set_xlabel("between-class distance ÷ max")
    ax.set_ylabel("class pairs")
    ax.set_title(f"{title}: normalized between-class distances")
    return fig


def correlation_heatmap(corr: np.ndarray, title: str) -> Figure:
    """Feature correlation matrix, -1 (blue) to 1 (red)."""
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(corr, cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xlabel("feature")
    ax.set_ylabel("feature")
    ax.set_title(f"{title}: feature correlation")
    fig.colorbar(image, ax=ax)
    return fig


def vif_bars(normalized: np.ndarray, title: str) -> Figure:
    """Normalized VIF per feature; infinite ones (collinear or constant) as red bars at 1."""
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    features = np.arange(len(normalized))
    infinite = ~np.isfinite(normalized)
    ax.bar(features[~infinite], normalized[~infinite], color="tab:blue")
    if infinite.any():
        ax.bar(features[infinite], np.ones(infinite.sum()), color="tab:red", label="infinite")
        ax.legend()
    ax.set_xlabel("feature")
    ax.set_ylabel("VIF ÷ max")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"{title}: normalized VIF")
    return fig


def pca_scatter(
    projection: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    explained: float,
    title: str,
) -> Figure:
    """Test embeddings on the first two (train-fitted) principal components, coloured by class."""
    fig = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = fig.subplots()
    cmap = "tab10" if len(class_names) <= 10 else "tab20"
    points = ax.scatter(
        projection[:, 0],
        projection[:, 1],
        c=labels,
        cmap=cmap,
        s=6,
        vmin=-0.5,
        vmax=len(class_names) - 0.5,
    )
    colorbar = fig.colorbar(points, ax=ax, ticks=np.arange(len(class_names)))
    colorbar.ax.set_yticklabels(class_names)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(f"{title}: PCA ({explained:.0%} of variance)")
    return fig
