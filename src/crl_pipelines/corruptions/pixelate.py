"""Pixelate (CIFAR-10-C): the image averaged over blocks down to 95 … 65 % of its side, then
shown at its size again (each block's mean copied to its pixels)."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


def _blocks(side: int, kept: float) -> np.ndarray:
    """Each of ``side`` pixels' block, of round(kept × side) blocks."""
    return np.arange(side) * max(1, round(kept * side)) // side


@CORRUPTIONS.register("pixelate", severities=(0.95, 0.9, 0.85, 0.75, 0.65), unit="of the side")
def pixelate(x: np.ndarray, kept: float, rng: np.random.Generator) -> np.ndarray:
    rows, cols = _blocks(x.shape[-2], kept), _blocks(x.shape[-1], kept)
    down_rows = np.eye(rows.max() + 1)[rows]  # pixel → block one-hot, H × h
    down_cols = np.eye(cols.max() + 1)[cols]
    sums = np.einsum("nchw,hi,wj->ncij", x, down_rows, down_cols)
    means = sums / np.outer(down_rows.sum(axis=0), down_cols.sum(axis=0))
    return means[:, :, rows][:, :, :, cols]
