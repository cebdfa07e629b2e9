"""Gaussian noise (CIFAR-10-C, Hendrycks & Dietterich 2019): add N(0, σ²) to every pixel,
σ = 0.04 … 0.10 of the intensity range."""

from __future__ import annotations

import numpy as np

from crl_pipelines.corruptions.base import CORRUPTIONS


@CORRUPTIONS.register("gaussian_noise", severities=(0.04, 0.06, 0.08, 0.09, 0.10), unit="σ")
def gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(scale=sigma, size=x.shape)
