"""Rotation (MNIST-C, Mu & Gilmer 2019): each image turned about its centre by 6 … 30 degrees,
clockwise or anticlockwise (drawn per image); corners filled with black, bilinear."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("rotation", severities=(6.0, 12.0, 18.0, 24.0, 30.0), unit="degrees")
def rotation(x: np.ndarray, degrees: float, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import rotate

    signs = rng.choice((-1.0, 1.0), size=len(x))
    return np.stack(
        [rotate(image, sign * degrees, axes=(2, 1), reshape=False, order=1) for image, sign in
         zip(x, signs, strict=True)]
    )  # fmt: skip
