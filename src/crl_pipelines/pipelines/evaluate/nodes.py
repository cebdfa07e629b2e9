"""Evaluate: score each run's embeddings, draw its figures, compare all runs, write the report."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crl_pipelines import metrics, plots
from crl_pipelines.data import ImageDataset
from crl_pipelines.report import Report, comparison_table, metrics_json, plan_summary
from crl_pipelines.scoring import DEPTHS, ScoringConfig, score_embeddings

log = logging.getLogger(__name__)

RUN_FIGURES = ("class_distances", "correlation", "vif", "pca", "tsne", "retrieval")
COMPARISON_FIGURES = ("between_class_distances", "probe_by_depth", "training_curves")
RETRIEVAL_QUERIES = 8
RETRIEVAL_NEIGHBOURS = 8


def _jsonable(value: Any) -> Any:
    """Arrays to lists, non-finite numbers to None: JSON that any reader accepts."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _retrieval_figure(
    test: ImageDataset, embedding: np.ndarray, labelled: bool, title: str
) -> Figure:
    if not labelled:
        return plots.skipped(f"{title}: retrieval", "no class labels")
    classes = np.unique(test.labels)[:RETRIEVAL_QUERIES]
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
    return plots.retrieval_grid(test.images, test.labels, queries, neighbours, title)


def score_run(
    embeddings: dict[str, np.ndarray],
    test_set: dict[str, np.ndarray],
    params: dict[str, Any],
    name: str,
    experiment: str,
    seed: int,
) -> tuple[Any, ...]:
    """One run's scores and figures (distances, correlation, VIF, PCA, t-SNE, retrieval)."""
    config = ScoringConfig.from_params(params)
    result = score_embeddings(embeddings, config)
    scores, arrays = result["scores"], result["arrays"]
    class_names = [str(c) for c in embeddings["class_names"]]
    test_labels = embeddings.get("test_labels")
    labelled = not np.isnan(scores["probe_accuracy"])
    log.info(
        "%s: probe %.3f, kNN %.3f, MAP@R %.3f, separation %.2f, battery %.1f s",
        name,
        scores["probe_accuracy"],
        scores["knn_accuracy"],
        scores["map_at_r"],
        scores["class_separation"],
        sum(result["seconds"].values()),
    )
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
        "retrieval": _retrieval_figure(
            ImageDataset.from_arrays(test_set), embeddings["test_embedding"], labelled, name
        ),
    }
    record = {
        "run": name,
        "experiment": experiment,
        "seed": seed,
        "scores": scores,
        "skipped": result["skipped"],
        "seconds": result["seconds"],
        "probe_by_depth": {depth: scores[f"probe_{depth}"] for depth in DEPTHS},
        **{
            key: arrays[key]
            for key in ("class_distances", "between_class_distances", "vif", "pca_explained")
            if key in arrays
        },
    }
    return (_jsonable(record), *(figures[key] for key in RUN_FIGURES))


def _split(prefixed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{"scores__ntxent": x, ...}`` → ``{"scores": {"ntxent": x}, ...}``."""
    groups: dict[str, dict[str, Any]] = {}
    for key, value in prefixed.items():
        group, name = key.split("__", 1)
        groups.setdefault(group, {})[name] = value
    return groups


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        key: np.nan if value is None else float(value) for key, value in record["scores"].items()
    }


def compare_runs(**inputs: Any) -> tuple[pd.DataFrame, dict[str, Any], Figure, Figure, Figure]:
    """The comparison table (mean ± std over seeds), ``metrics.json``, and the figures that put
    all experiments side by side (distances and depth probes of each experiment's first seed,
    training curves of every run). Inputs: ``scores__<run>`` and ``history__<run>``."""
    groups = _split(inputs)
    records, histories = groups["scores"], groups.get("history", {})
    table = comparison_table(
        {run: _scalars(record) for run, record in records.items()},
        {run: record["experiment"] for run, record in records.items()},
    )
    first_of = {}
    for run, record in records.items():
        first_of.setdefault(record["experiment"], run)
    between = {
        experiment: np.array(records[run].get("between_class_distances", []), dtype=float)
        for experiment, run in first_of.items()
    }
    depth = {
        experiment: {
            d: np.nan if v is None else v for d, v in records[run]["probe_by_depth"].items()
        }
        for experiment, run in first_of.items()
    }
    return (
        table,
        metrics_json(table),
        plots.between_class_histograms(between),
        plots.probe_by_depth(depth),
        plots.training_curves({run: history.to_dict("list") for run, history in histories.items()}),
    )


def write_report(
    comparison_table: pd.DataFrame,
    dataset_summary: dict[str, Any],
    parameters: dict[str, Any],
    floor: str,
    **inputs: Any,
) -> tuple[str, str]:
    """The report as self-contained HTML (figures embedded) and as Markdown (figures linked).

    Inputs: ``scores__<run>``, ``figure__<run>__<figure>`` and ``comparison__<figure>`` (PNG
    bytes), ``plan__<sampling>`` (the sampling plans the runs trained on).
    """
    groups = _split(inputs)
    runs = {
        run: {key: record[key] for key in ("experiment", "seed", "scores", "skipped", "seconds")}
        for run, record in groups["scores"].items()
    }
    run_figures: dict[str, dict[str, bytes]] = {run: {} for run in runs}
    for key, png in groups.get("figure", {}).items():
        run, figure = key.split("__", 1)
        run_figures[run][figure] = png
    paths = {figure: f"{figure}.png" for figure in groups.get("comparison", {})}
    paths.update(
        {f"{run}/{figure}": f"{run}/{figure}.png" for run in runs for figure in run_figures[run]}
    )
    report = Report(
        table=comparison_table,
        floor=floor,
        runs=runs,
        comparison_figures=groups.get("comparison", {}),
        run_figures=run_figures,
        figure_paths=paths,
        dataset=dataset_summary,
        plans={sampling: plan_summary(plan) for sampling, plan in groups["plan"].items()},
        parameters=parameters,
    )
    for line in report.summary():
        log.info("%s", line)
    return report.html(), report.markdown()
