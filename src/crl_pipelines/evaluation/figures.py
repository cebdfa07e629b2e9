"""Every figure of the scores, as matplotlib ``Figure`` objects (no pyplot state, no display
needed): the drawings, and which of them a run (:data:`RUN_FIGURES`) and the comparison
(:data:`COMPARISON_FIGURES`) show, in the order the report shows them.

Every name drawn (class, run, experiment, stage) and every title holding one goes through
:func:`plain`, and legends get their labels explicitly: a name is drawn as it is typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from crl_pipelines.evaluation import metrics
from crl_pipelines.evaluation.battery import BatteryResult
from crl_pipelines.images import ImageDataset

if TYPE_CHECKING:  # matplotlib is imported on the first drawing (see _figure)
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

RUN_FIGURES = ("class_distances", "confusion", "correlation", "vif", "pca", "tsne", "retrieval")
COMPARISON_FIGURES = (
    "between_class_distances",
    "probe_by_depth",
    "corruption_curves",
    "training_curves",
)
# What each figure shows, in words: the report's caption of the figure of that name.
CAPTIONS = {
    "class_distances": "Mean distance between classes, as a share of the largest (dark diagonal: "
    "classes kept apart); one colour scale, 0 to 1, for every run",
    "confusion": "What the linear probe predicts for each true class (share of the class's test "
    "images); one colour scale, 0 to 1, for every run",
    "correlation": "Correlation between embedding features (white: uncorrelated); one colour "
    "scale, −1 to 1, for every run",
    "vif": "How much each feature is predicted by the others (variance inflation factor, as a "
    "share of the largest; red: exactly collinear)",
    "pca": "Test embeddings on their first two principal components, by class",
    "tsne": "A t-SNE map of a sample of the test embeddings, by class",
    "retrieval": "Nearest test neighbours of one image per class (green: same class, red: not)",
    "between_class_distances": "How far apart the classes are: distances between class pairs, "
    "as a share of each experiment's largest (further right: better apart)",
    "probe_by_depth": "Linear probe accuracy on the features after each stage of the encoder",
    "corruption_curves": "Linear probe accuracy as each corruption of the test images gets "
    "stronger (severity 0: clean)",
    "training_curves": "Training loss and validation score per epoch, one panel per run (kept "
    "epoch dashed, loss spikes ×)",
    "cka": "How alike the runs' representations are (debiased linear CKA, 1: the same up to a "
    "rotation), at each depth",
}
SMALLEST_TEXT_PT = 9  # no text of a figure is drawn smaller (the report's narrowest width keeps it)
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
        "class_distances": class_distance_heatmap(arrays["class_distances"], class_names, name)
        if labelled
        else skipped(f"{name}: class distances", "no class labels"),
        "confusion": confusion_heatmap(arrays["confusion"], class_names, name)
        if labelled
        else skipped(f"{name}: confusion", "no class labels"),
        "correlation": correlation_heatmap(arrays["correlation"], name),
        "vif": vif_bars(metrics.normalized_vif(arrays["vif"]), name),
        "pca": class_scatter(
            arrays["pca_projection"],
            test_labels if labelled else None,
            class_names,
            f"{name}: PCA ({scores['pca2_variance']:.0%} of variance)",
            "PC",
        ),
        "tsne": class_scatter(
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
    robustness: Mapping[str, Mapping[str, Any]],
) -> dict[str, Figure]:
    """The figures that put the experiments side by side (:data:`COMPARISON_FIGURES`)."""
    return {
        "between_class_distances": between_class_histograms(between),
        "probe_by_depth": probe_by_depth(by_depth),
        "corruption_curves": corruption_curves(robustness),
        "training_curves": training_curves(histories),
    }


def corruption_curves(robustness: Mapping[str, Mapping[str, Any]]) -> Figure:
    """A panel per corruption: each experiment's probe accuracy on the corrupted sample of test
    images, clean (severity 0) to severity 5 (``robustness``: experiment → ``names``, ``probe``
    as corruptions × severities, ``clean``)."""
    if not robustness:
        return skipped("accuracy under corruption", "no corrupted test embeddings")
    names = list(next(iter(robustness.values()))["names"])
    columns = min(4, len(names))
    rows = -(-len(names) // columns)
    fig = _figure(3.0 * columns, 2.6 * rows + 0.6)
    axes = np.atleast_1d(fig.subplots(rows, columns, sharey=True)).ravel()
    palette = _palette(len(robustness))
    colours = [palette(i) for i in range(len(robustness))]
    for index, (ax, name) in enumerate(zip(axes, names, strict=False)):
        for colour, (experiment, found) in zip(colours, robustness.items(), strict=True):
            accuracy = [found["clean"], *np.asarray(found["probe"], dtype=float)[index]]
            label = plain(experiment) if index == 0 else None
            ax.plot(range(len(accuracy)), accuracy, marker="o", color=colour, label=label)
        ax.set_title(plain(name.replace("_", " ")))
        ax.set_xlabel("severity (0: clean)")
        ax.set_ylim(0.0, 1.02)
    axes[0].set_ylabel("linear probe accuracy")
    for ax in axes[len(names) :]:
        ax.axis("off")
    fig.legend(loc="outside lower center", ncols=min(5, len(robustness)))
    return fig


def retrieval_figure(
    test: ImageDataset, embedding: np.ndarray, labelled: bool, title: str
) -> Figure:
    """The nearest test neighbours of one test image per class: every class, or
    :data:`RETRIEVAL_QUERIES` spread evenly over them when there are more."""
    if not labelled:
        return skipped(f"{title}: retrieval", "no class labels")
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
    return retrieval_grid(
        pictures, test.labels, queries, neighbours, title, [str(c) for c in test.class_names]
    )


# The drawings.


def plain(text: object) -> str:
    """``text`` to be drawn as it is: matplotlib reads a string with an even number of unescaped
    ``$`` as mathtext (``$x^2$`` is drawn as x², ``cost $5 or $6`` cannot be drawn), so every
    ``$`` is escaped (drawn as ``$``; an escaped ``\\$`` in the name stays ``\\$``)."""
    return str(text).replace("$", r"\$")


def _plain_all(texts: Sequence[object]) -> list[str]:
    return [plain(text) for text in texts]


def _figure(width: float, height: float) -> Figure:
    """A new figure of ``width`` × ``height`` inches, laid out to fit its labels. matplotlib
    is imported here, on the first drawing: every Kedro command imports this module through
    its pipelines, and most (training, a DVC stage) draw nothing (0.35 s of each start)."""
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _integer_ticks(ax: Axes) -> None:
    """Whole numbers only on ``ax``'s x axis (epochs, trials)."""
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _palette(count: int) -> Colormap:
    """A qualitative colour map with at least ``count`` colours where one exists."""
    from matplotlib import colormaps

    return colormaps[_colour_map(count)]


def _colour_map(count: int) -> str:
    return "tab10" if count <= 10 else "tab20"


def _legend(ax: Axes, handles: list[Artist], names: list[str]) -> None:
    """A legend of ``names`` as typed (given explicitly: matplotlib leaves out artists whose
    label starts with ``_``)."""
    ax.legend(handles, _plain_all(names))


def skipped(title: str, reason: str) -> Figure:
    """A placeholder saying why a figure could not be drawn (e.g. no class labels)."""
    fig = _figure(4, 1.5)
    ax = fig.subplots()
    ax.axis("off")
    ax.text(0.5, 0.5, plain(f"{title}\nskipped: {reason}"), ha="center", va="center")
    return fig


def class_distance_heatmap(distances: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """Heat map of the class distance matrix as shares of its largest distance (ideal: dark
    diagonal, light off-diagonal): one colour scale, 0 to 1, that every run's map shares, since
    the runs' embeddings differ in scale."""
    fig = _figure(5.2, 4.3)
    ax = fig.subplots()
    largest = np.nanmax(distances) if np.isfinite(distances).any() else 0.0
    shares = distances / largest if largest > 0 else np.full_like(distances, np.nan, dtype=float)
    image = ax.imshow(shares, cmap="viridis", vmin=0.0, vmax=1.0)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, _plain_all(class_names))
    ax.set_yticks(ticks, _plain_all(class_names))
    ax.set_xlabel("class")
    ax.set_ylabel("class")
    ax.set_title(plain(f"{title}: mean distance between classes"))
    fig.colorbar(image, ax=ax, label="share of the largest distance")
    return fig


def confusion_heatmap(confusion: np.ndarray, class_names: Sequence[str], title: str) -> Figure:
    """The linear probe's confusion, each true class's row as shares of its test images (ideal:
    a diagonal of ones), with the counts written in the cells when there are few classes."""
    fig = _figure(5.2, 4.3)
    ax = fig.subplots()
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, confusion / totals, np.nan)
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    if len(confusion) <= 12:
        for (row, column), count in np.ndenumerate(confusion):
            if count:
                dark = shares[row, column] > 0.6
                colour = "white" if dark else "black"
                ax.text(column, row, str(count), ha="center", va="center", color=colour,
                        fontsize=SMALLEST_TEXT_PT)  # fmt: skip
    ticks = np.arange(len(confusion))
    names = _plain_all([class_names[i] if i < len(class_names) else i for i in ticks])
    ax.set_xticks(ticks, names)
    ax.set_yticks(ticks, names)
    ax.set_xlabel("class the linear probe predicts")
    ax.set_ylabel("true class")
    ax.set_title(plain(f"{title}: linear probe confusion (share of each true class)"))
    fig.colorbar(image, ax=ax)
    return fig


def cka_heatmaps(matrices: Mapping[str, np.ndarray], runs: Sequence[str]) -> Figure:
    """One heat map per depth of the runs' CKA (one colour scale, 0 to 1, for all), the values
    written in the cells: which encoders learn the same representation, and where."""
    shown = {depth: m for depth, m in matrices.items() if np.isfinite(m).any()}
    if not shown:
        return skipped("representation similarity (CKA)", "no run has test features")
    columns = min(3, len(shown))
    rows = -(-len(shown) // columns)
    side = 1.4 + 0.5 * len(runs)
    fig = _figure(side * columns + 1.0, side * rows)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    labels, ticks = _plain_all(runs), np.arange(len(runs))
    for ax, (depth, matrix) in zip(axes, shown.items(), strict=False):
        image = ax.imshow(matrix, cmap="magma", vmin=0.0, vmax=1.0)
        for (row, column), value in np.ndenumerate(matrix):
            if np.isfinite(value) and len(runs) <= 8:
                colour = "black" if value > 0.6 else "white"
                ax.text(column, row, f"{value:.2f}", ha="center", va="center", color=colour,
                        fontsize=SMALLEST_TEXT_PT)  # fmt: skip
        ax.set_xticks(ticks, labels, rotation=90, fontsize=SMALLEST_TEXT_PT)
        ax.set_yticks(ticks, labels, fontsize=SMALLEST_TEXT_PT)
        ax.set_title(plain(depth))
    for ax in axes[len(shown) :]:
        ax.axis("off")
    fig.colorbar(image, ax=axes.tolist(), shrink=0.8, label="debiased linear CKA")
    fig.suptitle("Representation similarity between runs (test images)")
    return fig


def between_class_histograms(normalized: Mapping[str, np.ndarray]) -> Figure:
    """Normalized between-class distances of every experiment, overlaid (higher: better apart)."""
    fig = _figure(5.2, 3.6)
    ax = fig.subplots()
    outlines = []
    for values in normalized.values():
        values = np.asarray(values, dtype=float)
        *_, patches = ax.hist(
            values[np.isfinite(values)], bins=20, range=(0, 1), histtype="step", linewidth=2
        )
        outlines.append(patches[0])
    ax.set_xlabel("between-class distance ÷ largest class distance")
    ax.set_ylabel("class pairs")
    ax.set_title("Normalized between-class distances")
    _legend(ax, outlines, list(normalized))
    return fig


def correlation_heatmap(corr: np.ndarray, title: str) -> Figure:
    """Feature correlation matrix, -1 (blue) to 1 (red)."""
    fig = _figure(5.2, 4.3)
    ax = fig.subplots()
    image = ax.imshow(corr, cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xlabel("feature")
    ax.set_ylabel("feature")
    ax.set_title(plain(f"{title}: feature correlation"))
    fig.colorbar(image, ax=ax)
    return fig


def vif_bars(normalized: np.ndarray, title: str) -> Figure:
    """Normalized VIF per feature; infinite ones (collinear or constant) as red bars at 1."""
    fig = _figure(5.2, 3.2)
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
    ax.set_title(plain(f"{title}: normalized VIF"))
    return fig


def class_scatter(
    points: np.ndarray,
    labels: np.ndarray | None,
    class_names: Sequence[str],
    title: str,
    axis_label: str,
) -> Figure:
    """2-D points (PCA or t-SNE) coloured by class (one colour when there are no labels)."""
    fig = _figure(5.2, 4.3)
    ax = fig.subplots()
    if labels is None:
        ax.scatter(points[:, 0], points[:, 1], s=6, color="tab:blue")
    else:
        count = len(class_names)
        dots = ax.scatter(
            points[:, 0],
            points[:, 1],
            c=labels,
            cmap=_colour_map(count),
            s=6,
            vmin=-0.5,
            vmax=count - 0.5,
        )
        colorbar = fig.colorbar(dots, ax=ax, ticks=np.arange(count))
        colorbar.ax.set_yticklabels(_plain_all(class_names))
    ax.set_xlabel(plain(f"{axis_label} 1"))
    ax.set_ylabel(plain(f"{axis_label} 2"))
    ax.set_title(plain(title))
    return fig


def retrieval_grid(
    images: np.ndarray,
    labels: np.ndarray,
    queries: np.ndarray,
    neighbours: np.ndarray,
    title: str,
    class_names: Sequence[str] = (),
) -> Figure:
    """Each row: a query image (labelled with its class), then its nearest test neighbours
    (green: same class, red: not). One mosaic image with the frames drawn over it: a grid of
    small axes took seconds per run to draw and save."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    rows, columns = neighbours.shape[0], neighbours.shape[1] + 1
    shown = np.column_stack([queries, neighbours])
    height, width = images.shape[2:]
    gap = max(1, round(0.15 * max(height, width)))
    mosaic, frames, colours = _mosaic(images[shown.ravel()], columns, gap), [], []
    for row, column in np.ndindex(rows, columns):
        same = labels[shown[row, column]] == labels[shown[row, 0]]
        left, top = column * (width + gap) - 0.5, row * (height + gap) - 0.5
        frames.append(Rectangle((left, top), width, height))
        colours.append("black" if column == 0 else "tab:green" if same else "tab:red")
    fig = _figure(1.1 * columns, 1.15 * rows + 0.4)
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    widths = [0.5 if colour == "black" else 2.5 for colour in colours]
    ax.add_collection(
        PatchCollection(frames, facecolor="none", edgecolor=colours, linewidth=widths)
    )
    names = [
        class_names[label] if 0 <= label < len(class_names) else label for label in labels[queries]
    ]
    ax.set_yticks(np.arange(rows) * (height + gap) + (height - 1) / 2, _plain_all(names))
    ax.tick_params(axis="y", length=0, labelsize=9)
    ax.set_xticks([])
    ax.spines[:].set_visible(False)
    ax.text((width - 1) / 2, -gap, "query", ha="center", va="bottom", fontsize=9)
    fig.suptitle(plain(f"{title}: nearest test neighbours (cosine)"))
    return fig


def _mosaic(images: np.ndarray, columns: int, gap: int) -> np.ndarray:
    """``images`` (uint8 N×C×H×W, row by row) as one RGB picture in [0, 1] on white, ``gap``
    pixels apart; a grey image is stretched to its own range (as ``imshow`` draws one)."""
    count, channels, height, width = images.shape
    rows = -(-count // columns)
    pictures = images[:, :3].astype(float) if channels >= 3 else images[:, :1].astype(float)
    if channels < 3:
        low = pictures.min(axis=(1, 2, 3), keepdims=True)
        spread = pictures.max(axis=(1, 2, 3), keepdims=True) - low
        pictures = np.repeat((pictures - low) / np.where(spread > 0, spread, 1), 3, axis=1)
    else:
        pictures = pictures / 255
    mosaic = np.ones((rows * (height + gap) - gap, columns * (width + gap) - gap, 3))
    for index, picture in enumerate(pictures):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        mosaic[top : top + height, left : left + width] = picture.transpose(1, 2, 0)
    return mosaic


def probe_by_depth(accuracies: Mapping[str, Mapping[str, float]]) -> Figure:
    """Linear-probe accuracy after each encoder stage, one line per experiment."""
    fig = _figure(5.2, 3.6)
    ax = fig.subplots()
    lines = []
    for by_depth in accuracies.values():
        depths = list(by_depth)
        lines += ax.plot(range(len(depths)), [by_depth[d] for d in depths], marker="o")
        ax.set_xticks(range(len(depths)), _plain_all(depths))
    ax.set_xlabel("depth (pooled features after each stage)")
    ax.set_ylabel("linear-probe test accuracy")
    ax.set_title("Linear separability by depth")
    _legend(ax, lines, list(accuracies))
    return fig


def expected_best(curves: Mapping[str, Sequence[float]], objective: str) -> Figure:
    """Each loss's expected best validation score against the number of trials (Dodge et al.
    2019: the expected maximum of n trials drawn from its study), one line per experiment."""
    fig = _figure(5.2, 3.6)
    ax = fig.subplots()
    lines = [
        ax.plot(range(1, len(curve) + 1), curve, marker="o", markersize=3)[0]
        for curve in curves.values()
    ]
    _integer_ticks(ax)
    ax.set_xlabel("trials")
    ax.set_ylabel("expected best validation score")
    ax.set_title(plain(f"What a tuning budget buys, per loss ({objective})"))
    _legend(ax, lines, list(curves))
    return fig


def training_curves(histories: Mapping[str, Mapping[str, Sequence[float]]]) -> Figure:
    """One panel per run, three to a row across the page's width: the training loss per epoch
    (its own scale: losses are not comparable) beside the validation score training chooses by
    (kNN accuracy, or alignment without labels) on a second axis, with the epochs that had loss
    spikes (red ×) and the kept epoch (dashed line); one legend for all panels."""
    count = max(len(histories), 1)
    columns = min(count, 3)
    rows = -(-count // columns)
    fig = _figure(13, 3.3 * rows + 0.5)
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False).ravel())
    legend: dict[str, Artist] = {}
    for ax, (name, history) in zip(axes, histories.items(), strict=False):
        for handle in _training_panel(ax, name, history):
            legend.setdefault(handle.get_label(), handle)
    for ax in axes[len(histories) :]:
        ax.set_visible(False)
    if legend:
        fig.legend(list(legend.values()), list(legend), loc="outside upper center", ncols=4)
    return fig


def _training_panel(ax: Axes, name: str, history: Mapping[str, Sequence[float]]) -> list[Artist]:
    """One run's panel; returns its artists for the shared legend."""
    epochs = np.asarray(history["epoch"])
    loss = np.asarray(history["loss"], dtype=float)
    handles = ax.plot(epochs, loss, marker="o", color="C0", label="training loss")
    spiked = np.asarray(history.get("spikes", np.zeros(len(epochs))), dtype=float) > 0
    if spiked.any():
        handles += ax.plot(
            epochs[spiked], loss[spiked], "x", color="red", markersize=10, label="loss spike"
        )
    kept = np.asarray(history.get("kept", np.zeros(len(epochs))), dtype=float) == 1
    for epoch in epochs[kept]:
        handles.append(
            ax.axvline(epoch, color="grey", linestyle="--", linewidth=1, label="kept epoch")
        )
    _integer_ticks(ax)
    ax.set_title(plain(name))
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss", color="C0")
    key, label = ("val_knn_accuracy", "validation kNN acc.")
    if key not in history:
        key, label = ("val_alignment", "validation alignment")
    if key in history and np.isfinite(np.asarray(history[key], dtype=float)).any():
        other = ax.twinx()
        handles += other.plot(epochs, history[key], marker="s", color="C1", label=label)
        other.set_ylabel(label, color="C1")
    return handles
