"""Do two encoders learn the same representation? Linear CKA (centered kernel alignment;
Kornblith et al., "Similarity of Neural Network Representations Revisited", ICML 2019) between
every two runs' test features, at the embedding and after every stage.

The estimator is the debiased one (the unbiased HSIC of Song et al., 2012, as Nguyen et al.,
2021 use it): the plain estimator leans towards 1 on few images (two independent noises of D
features score about D / N), the debiased one is near 0 there and equal to it on many images. It
is computed from the features alone (N × D), never from the N × N kernel matrices, so 10 000
test images cost a few D × D products.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np

ESTIMATOR = "debiased linear CKA (Kornblith et al. 2019; unbiased HSIC, Song et al. 2012)"


def _unbiased_hsic_terms(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its squared norm (the kernel's diagonal) and its row sum of the kernel with the
    diagonal removed, Σⱼ≠ᵢ xᵢ·xⱼ."""
    norms = np.einsum("ij,ij->i", x, x)
    return norms, x @ x.sum(axis=0) - norms


def unbiased_hsic(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased HSIC of the linear kernels XXᵀ and YYᵀ (rows: the same images), from the
    features: tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1 / ((n−1)(n−2)) − 2·1ᵀK̃L̃1 / (n−2), over n(n−3), where K̃ is
    the kernel with its diagonal set to zero."""
    n = len(x)
    if n < 4:
        raise ValueError(f"CKA's debiased estimator needs at least 4 images, got {n}")
    x_norms, x_sums = _unbiased_hsic_terms(x)
    y_norms, y_sums = _unbiased_hsic_terms(y)
    trace = float(np.square(x.T @ y).sum() - x_norms @ y_norms)
    total = float(x_sums.sum() * y_sums.sum()) / ((n - 1) * (n - 2))
    return (trace + total - 2.0 * float(x_sums @ y_sums) / (n - 2)) / (n * (n - 3))


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Debiased linear CKA of two feature matrices of the same images (N × D₁, N × D₂): 1 for
    the same representation up to rotation and scale, about 0 for unrelated ones."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    denominator = unbiased_hsic(x, x) * unbiased_hsic(y, y)
    if denominator <= 0:
        return float("nan")  # a constant representation: no similarity to speak of
    return unbiased_hsic(x, y) / float(np.sqrt(denominator))


def cka_matrices(
    features: Mapping[str, Mapping[str, np.ndarray]], depths: Sequence[str]
) -> dict[str, np.ndarray]:
    """For each depth, the runs × runs CKA matrix (``features``: run → depth → its test features,
    runs in the order of the matrices' rows); NaN where a run has no features at that depth, or
    fewer than the 4 images the estimator needs."""
    runs = list(features)
    matrices = {}
    for depth in depths:
        matrix = np.full((len(runs), len(runs)), np.nan)
        for (i, first), (j, second) in itertools.combinations_with_replacement(enumerate(runs), 2):
            a, b = features[first].get(depth), features[second].get(depth)
            if a is not None and b is not None and len(a) >= 4:
                matrix[i, j] = matrix[j, i] = linear_cka(a, b)
        matrices[depth] = matrix
    return matrices


def between_experiments(
    matrix: np.ndarray, experiments: Sequence[str]
) -> dict[tuple[str, str], float]:
    """The mean CKA between the runs of two experiments (``experiments``: each row's), and for
    an experiment with itself, between its different seeds (absent with one seed)."""
    rows = np.asarray(experiments)
    out = {}
    for first, second in itertools.combinations_with_replacement(dict.fromkeys(experiments), 2):
        block = matrix[np.ix_(rows == first, rows == second)]
        if first == second:
            block = block[~np.eye(len(block), dtype=bool)]
        if np.isfinite(block).any():
            out[first, second] = float(np.nanmean(block))
    return out


def similarity_sentences(matrix: np.ndarray, experiments: Sequence[str]) -> list[str]:
    """What the embedding's CKA matrix says in words: the most and the least alike pair of
    experiments, and how well the seeds of each experiment with several agree."""
    pairs = between_experiments(matrix, experiments)
    across = {pair: value for pair, value in pairs.items() if pair[0] != pair[1]}
    lines = []
    if across:
        (a, b), high = max(across.items(), key=lambda item: item[1])
        (c, d), low = min(across.items(), key=lambda item: item[1])
        lines.append(
            f"Representations ({ESTIMATOR} of the test embeddings): the most alike are {a} and "
            f"{b} ({high:.2f}), the least alike {c} and {d} ({low:.2f})."
        )
    seeds = [f"{a} {value:.2f}" for (a, b), value in pairs.items() if a == b]
    if seeds:
        lines.append(f"Seeds of one loss agree (mean CKA between its seeds): {', '.join(seeds)}.")
    return lines
