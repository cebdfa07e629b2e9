"""The figures of one run's scores and of the comparison, as matplotlib ``Figure`` objects.

:data:`RUN_FIGURES` and :data:`COMPARISON_FIGURES` name them, in the order the report shows them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from crl_pipelines.data import ImageDataset
from crl_pipelines.evaluation import metrics, plots
from crl_pipelines.evaluation.battery import BatteryResult

RUN_FIGURES = ("class_distances", "correlation", "vif", "pca", "tsne", "retrieval")
COMPARISON_FIGURES = ("between_class_distances", "probe_by_depth", "training_curves")
RETRIEVAL_QUERIES = 20  # classes shown in the retrieval grid at most (a row each)
RETRIEVAL_NEIGHBOURS = 8


def run_figures(
    result: BatteryResult, embeddings: Mapping[str, np.ndarray], test: ImageDataset, name: str
) -> dict[str, Figure]:
    """The figures of one run (:data:`RUN_FIGURES`): class distances, feature correlation,
    normalized VIF, PCA and t-SNE scatters, and the retrieval grid; a figure that needs class
    labels says it was skipped when there are none."""
    scores, arrays, labelled = result.scores, result.arrays, result.labelled
    class_names = [str(c) for c in embeddings["class_names"]]
    test_labels = embeddings.get("test_labels")
    figures = {
        "class_distances": plots.class_distance_heatmap(
            arrays["class_distances"], class_names, name
        )
        if labelled
        else plots.skipped(f"{name}: class distances", "no class labels"),
        "correlation": plots.correlation_heatmap(arrays["correlation"], name),
        "vif": plots.vif_bars(metrics.normalized_vif(arrays["vif"]), name),
        "pca": plots.class_scatter(
            arrays["pca_projection"],
            test_labels if labelled else None,
            class_names,
            f"{name}: PCA ({scores['pca2_variance']:.0%} of variance)",
            "PC",
        ),
        "tsne": plots.class_scatter(
            arrays["tsne_projection"],
            test_labels[arrays["tsne_rows"]] if labelled else None,
            class_names,
            f"{name}: t-SNE of {len(arrays['tsne_rows'])} test points",
            "t-SNE",
        ),
        "retrieval": retrieval_figure(test, embeddings["test_embedding"], labelled, name),
    }
    return figures


def comparison_figures(
    between: Mapping[str, np.ndarray],
    by_depth: Mapping[str, Mapping[str, float]],
    histories: Mapping[str, Mapping[str, Sequence[float]]],
) -> dict[str, Figure]:
    """The figures that put the experiments side by side (:data:`COMPARISON_FIGURES`)."""
    return {
        "between_class_distances": plots.between_class_histograms(between),
        "probe_by_depth": plots.probe_by_depth(by_depth),
        "training_curves": plots.training_curves(histories),
    }


def retrieval_figure(
    test: ImageDataset, embedding: np.ndarray, labelled: bool, title: str
) -> Figure:
    """The nearest test neighbours of one test image per class: every class, or
    :data:`RETRIEVAL_QUERIES` spread evenly over them when there are more."""
    if not labelled:
        return plots.skipped(f"{title}: retrieval", "no class labels")
    classes = np.unique(test.labels)
    if len(classes) > RETRIEVAL_QUERIES:
        classes = classes[np.linspace(0, len(classes) - 1, RETRIEVAL_QUERIES).round().astype(int)]
        title = f"{title} ({RETRIEVAL_QUERIES} of {len(np.unique(test.labels))} classes)"
    queries = np.array([np.flatnonzero(test.labels == k)[0] for k in classes])
    found = metrics.cosine_neighbours(
        embedding[queries],
        embedding,
        RETRIEVAL_NEIGHBOURS + 1,
        block_size=len(queries),
        exclude_self=False,
    )
    neighbours = np.array(
        [row[row != q][:RETRIEVAL_NEIGHBOURS] for row, q in zip(found, queries, strict=True)]
    )
    pictures = test.images[:, : test.images.shape[1] - test.protected_channels]  # no RandBits
    return plots.retrieval_grid(
        pictures, test.labels, queries, neighbours, title, [str(c) for c in test.class_names]
    )
