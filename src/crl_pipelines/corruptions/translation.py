"""Translation (MNIST-C's shift): each image moved by 4 … 20 % of its side along both axes, each
direction drawn per image, whole pixels; what enters is black."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("translation", severities=(0.04, 0.08, 0.12, 0.16, 0.2), unit="of the side")
def translation(x: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    height, width = x.shape[-2:]
    moves = rng.choice((-1, 1), size=(len(x), 2)) * np.round(fraction * np.array([height, width]))
    out = np.zeros_like(x)
    for image, (dy, dx) in enumerate(moves.astype(int)):
        rows = slice(max(dy, 0), height + min(dy, 0)), slice(max(-dy, 0), height - max(dy, 0))
        cols = slice(max(dx, 0), width + min(dx, 0)), slice(max(-dx, 0), width - max(dx, 0))
        out[image, :, rows[0], cols[0]] = x[image, :, rows[1], cols[1]]
    return out
