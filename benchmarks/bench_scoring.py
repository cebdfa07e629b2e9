"""How long the scores take on large embeddings, against the straightforward way to compute them.

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--n 10000] [--dim 512]``. Prints the machine
and one row per score: the project's implementation, the reference it replaces, and the speed-up.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np


def timed(function: Callable[[], object], repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="test embeddings")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument(
        "--vif-reference-features",
        type=int,
        default=32,
        help="features for the statsmodels VIF reference (it is O(D) regressions)",
    )
    args = parser.parse_args()

    import sklearn
    import statsmodels.api as sm
    import torch
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    from crl_pipelines import metrics

    rng = np.random.default_rng(0)
    labels = rng.integers(0, args.classes, args.n)
    centers = rng.normal(size=(args.classes, args.dim)) * 2
    test = (centers[labels] + rng.normal(size=(args.n, args.dim))).astype(np.float32)
    train = (centers[labels] + rng.normal(size=(args.n, args.dim))).astype(np.float32)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}, torch {torch.__version__}"
    )
    print(f"embeddings: {args.n} × {args.dim}, {args.classes} classes\n")
    rows = []

    def naive_distances() -> None:  # the full N×N matrix at once, then a mean per class pair
        full = np.sqrt(((test[:2000, None, :] - test[None, :2000, :]) ** 2).sum(-1))
        for i in range(args.classes):
            for j in range(args.classes):
                full[np.ix_(labels[:2000] == i, labels[:2000] == j)].mean()

    blocked = timed(lambda: metrics.class_distance_matrix(test, labels, args.classes))
    blocked_2k = timed(
        lambda: metrics.class_distance_matrix(test[:2000], labels[:2000], args.classes)
    )
    rows.append(
        ("class distances (2000 rows)", blocked_2k, "broadcast N×N×D", timed(naive_distances))
    )
    rows.append((f"class distances ({args.n} rows)", blocked, "-", float("nan")))

    k = args.vif_reference_features
    exog = sm.add_constant(test[:, :k].astype(np.float64))
    reference = timed(lambda: [variance_inflation_factor(exog, i) for i in range(1, k + 1)])
    rows.append(
        (
            f"VIF ({k} features)",
            timed(lambda: metrics.variance_inflation_factors(test[:, :k])),
            "statsmodels, one OLS per feature",
            reference,
        )
    )
    rows.append(
        (
            f"VIF ({args.dim} features)",
            timed(lambda: metrics.variance_inflation_factors(test)),
            "-",
            float("nan"),
        )
    )
    rows.append(
        (
            "correlation matrix",
            timed(lambda: metrics.correlation_matrix(test)),
            "np.corrcoef",
            timed(lambda: np.corrcoef(test, rowvar=False)),
        )
    )
    rows.append(("PCA summary", timed(lambda: metrics.pca_summary(train, test)), "-", float("nan")))
    rows.append(
        (
            "linear probe",
            timed(lambda: metrics.linear_probe(train, labels, test, labels)),
            "-",
            float("nan"),
        )
    )
    rows.append(
        (
            "whole battery",
            timed(
                lambda: metrics.score_embeddings(
                    {"embedding": train, "labels": labels},
                    {"embedding": test, "labels": labels},
                    args.classes,
                )
            ),
            "-",
            float("nan"),
        )
    )

    print(f"| {'score':<30} | {'ours (s)':>9} | {'reference':<32} | {'ref (s)':>8} | speed-up |")
    print(f"|{'-' * 32}|{'-' * 11}|{'-' * 34}|{'-' * 10}|----------|")
    for name, ours, ref_name, ref in rows:
        speedup = f"{ref / ours:7.1f}×" if np.isfinite(ref) else "       -"
        ref_text = f"{ref:8.3f}" if np.isfinite(ref) else "       -"
        print(f"| {name:<30} | {ours:9.3f} | {ref_name:<32} | {ref_text} | {speedup} |")


if __name__ == "__main__":
    main()
