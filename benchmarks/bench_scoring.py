"""How long the scoring battery takes on large embeddings, against the straightforward way.

Run: ``.venv/bin/python benchmarks/bench_scoring.py [--n 10000] [--dim 512]``. Prints the machine,
the time of each score of the battery on one encoder's embeddings (train and test of N × D each,
validation N/10 × D, 1000 test rows under every corruption; a computation several scores share
is charged to the first that needs it, the bootstrap's 500 resamples together), the
comparison's CKA of five runs, and, for the closed forms and the batched bootstrap, the way they
replace (each resample scored on its own) on a size that way can handle.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import numpy as np


def timed(function: Callable[[], object]) -> float:
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def sklearn_agreement(labels: np.ndarray, clusters: np.ndarray) -> list[float]:
    from sklearn.metrics import (
        adjusted_mutual_info_score,
        adjusted_rand_score,
        normalized_mutual_info_score,
    )

    return [
        score(labels, clusters)
        for score in (adjusted_rand_score, normalized_mutual_info_score, adjusted_mutual_info_score)
    ]


def corrupted(test_x: np.ndarray, images: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stand-ins for the corrupted test embeddings embed writes: a sample of ``images`` test rows
    under every corruption at every severity, each noisier than the last."""
    from crl_pipelines.corruptions import CORRUPTIONS, SEVERITIES

    rows = np.sort(rng.choice(len(test_x), size=min(images, len(test_x)), replace=False))
    arrays: dict[str, np.ndarray] = {"corruption_rows": rows}
    for name in CORRUPTIONS:
        for severity in SEVERITIES:
            noise = rng.normal(scale=0.3 * severity, size=(len(rows), test_x.shape[1]))
            arrays[f"corrupt__{name}__{severity}"] = (test_x[rows] + noise).astype(np.float32)
    return arrays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="train and test embeddings each")
    parser.add_argument("--dim", type=int, default=512, help="embedding dimension")
    parser.add_argument("--classes", type=int, default=10)
    args = parser.parse_args()

    import sklearn
    import statsmodels.api as sm
    import torch
    from statsmodels.stats.outliers_influence import variance_inflation_factor

    from crl_pipelines.embed import EmbedSettings
    from crl_pipelines.evaluation import metrics
    from crl_pipelines.evaluation.battery import score_embeddings
    from crl_pipelines.evaluation.settings import ScoringSettings
    from crl_pipelines.evaluation.similarity import cka_matrices

    rng = np.random.default_rng(0)
    centers = rng.normal(size=(args.classes, args.dim)) * 0.5
    train_y = rng.integers(0, args.classes, args.n)
    test_y = rng.integers(0, args.classes, args.n)
    train_x = (centers[train_y] + rng.normal(size=(args.n, args.dim))).astype(np.float32)
    test_x = (centers[test_y] + rng.normal(size=(args.n, args.dim))).astype(np.float32)
    validation_y = rng.integers(0, args.classes, args.n // 10)  # a tenth, as ingest's default
    noise = rng.normal(size=(len(validation_y), args.dim))
    validation_x = (centers[validation_y] + noise).astype(np.float32)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}, torch {torch.__version__}"
    )
    print(
        f"embeddings: train and test {args.n} × {args.dim} each, validation "
        f"{len(validation_y)} (the swept probe's), {args.classes} classes\n"
    )

    embeddings = {
        "train_embedding": train_x,
        "test_embedding": test_x,
        "train_labels": train_y,
        "test_labels": test_y,
        "validation_embedding": validation_x,
        "validation_labels": validation_y,
        **corrupted(test_x, EmbedSettings().corruption_images, rng),
    }
    started = time.perf_counter()
    result = score_embeddings(embeddings, ScoringSettings())
    total = time.perf_counter() - started
    print("| score of the battery | seconds |")
    print("|---|---:|")
    for name, seconds in sorted(result.seconds.items(), key=lambda item: -item[1]):
        print(f"| {name} | {seconds:.2f} |")
    print(f"| **whole battery** | **{total:.2f}** |")
    print(
        f"\nsampled: silhouette on {int(result.scores['silhouette_sample'])} rows, "
        f"t-SNE on {int(result.scores['tsne_sample'])} rows\n"
    )

    # The comparison's CKA: every two of five runs, at the embedding and four stages of 512.
    depths = ["layer1", "layer2", "layer3", "layer4", "embedding"]
    runs = {
        f"run{i}": {d: test_x + rng.normal(size=test_x.shape) for d in depths} for i in range(5)
    }
    cka_seconds = timed(lambda: cka_matrices(runs, depths))
    print(f"CKA of 5 runs × {len(depths)} depths, {args.n} × {args.dim}: {cka_seconds:.2f} s\n")

    # Closed forms against the references they replace, on sizes the references can handle.
    k = 64
    exog = sm.add_constant(test_x[:, :k].astype(np.float64))
    reference = timed(lambda: [variance_inflation_factor(exog, i) for i in range(1, k + 1)])
    ours = timed(lambda: metrics.variance_inflation_factors(metrics.moments(test_x[:, :k])))
    rows = [(f"VIF, {args.n} × {k}", "statsmodels, one OLS per feature", reference, ours)]
    m = 2000

    def broadcast_distances() -> None:
        full = np.sqrt(((test_x[:m, None, :] - test_x[None, :m, :]) ** 2).sum(-1))
        for i in range(args.classes):
            for j in range(args.classes):
                full[np.ix_(test_y[:m] == i, test_y[:m] == j)].mean()

    rows.append(
        (
            f"class distances, {m} × {args.dim}",
            "broadcast N×N×D, then masks",
            timed(broadcast_distances),
            timed(lambda: metrics.class_distance_matrix(test_x[:m], test_y[:m], args.classes)),
        )
    )
    resamples = 500
    weights = metrics.resample_weights(rng.integers(0, m, size=(resamples, m)), m)
    x, y = test_x[:m], test_y[:m]
    for name, batched in (
        ("uniformity", lambda w: metrics.resampled_uniformity(x, w)),
        ("class distances", lambda w: metrics.resampled_class_distances(x, y, args.classes, w)),
    ):
        rows.append(
            (
                f"{name} of {resamples} bootstrap resamples, {m} × {args.dim}",
                "pairs formed again for each resample",
                timed(
                    lambda batched=batched: [batched(weights[b : b + 1]) for b in range(resamples)]
                ),
                timed(lambda batched=batched: batched(weights)),
            )
        )
    clusters = np.where(rng.random(args.n) < 0.7, test_y, rng.integers(0, args.classes, args.n))
    drawn = [rng.integers(0, args.n, args.n) for _ in range(resamples)]
    rows.append(
        (
            f"ARI, NMI, AMI of {resamples} resamples, {args.n} rows",
            "scikit-learn's three functions",
            timed(lambda: [sklearn_agreement(test_y[r], clusters[r]) for r in drawn]),
            timed(lambda: [metrics.cluster_agreement(test_y[r], clusters[r]) for r in drawn]),
        )
    )
    print("| closed form | reference | reference (s) | ours (s) | speed-up |")
    print("|---|---|---:|---:|---:|")
    for name, what, ref, mine in rows:
        print(f"| {name} | {what} | {ref:.2f} | {mine:.3f} | {ref / mine:.0f}× |")


if __name__ == "__main__":
    main()
