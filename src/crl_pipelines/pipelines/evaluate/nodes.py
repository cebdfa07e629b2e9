"""Evaluate: score each run's embeddings, draw its figures, gather the run's results, and write
its training traces for DVCLive's readers."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from crl_pipelines import lineage
from crl_pipelines.evaluation.battery import score_embeddings
from crl_pipelines.evaluation.context import DEPTHS
from crl_pipelines.evaluation.figures import RUN_FIGURES, run_figures
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.images import ImageDataset
from crl_pipelines.runs import Run
from crl_pipelines.tracking import trace_files

if TYPE_CHECKING:
    from crl_pipelines.models import Encoder

log = logging.getLogger(__name__)


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


def score_run(
    embeddings: dict[str, np.ndarray],
    test_set: dict[str, np.ndarray],
    *,
    run: Run,
    settings: ScoringSettings,
) -> tuple[Any, ...]:
    """One run's scores and figures (distances, correlation, VIF, PCA, t-SNE, retrieval); refuses
    embeddings of another split (their test images may have been training images). The scores'
    lineage is the embeddings' with the scoring settings that made them (``scoring``)."""
    name = run.name
    made_from = lineage.of_arrays(embeddings)
    lineage.require(
        made_from, {"split": lineage.split_of(test_set, "test")}, f"the embeddings file of {name}",
        f"`kedro run --pipelines=train,embed --namespaces={run.experiment}`",
    )  # fmt: skip
    result = score_embeddings(embeddings, settings)
    scores, arrays = result.scores, result.arrays
    log.info(
        "%s: probe %.3f, kNN %.3f, MAP@R %.3f, separation %.2f, battery %.1f s",
        name,
        scores["probe_accuracy"],
        scores["knn_accuracy"],
        scores["map_at_r"],
        scores["class_separation"],
        sum(result.seconds.values()),
    )
    figures = run_figures(result, embeddings, ImageDataset.from_arrays(test_set), name)
    record = {
        "run": name,
        "experiment": run.experiment,
        "seed": run.seed,
        **({"untuned": True} if run.untuned else {}),
        "scores": scores,
        "skipped": result.skipped,
        "seconds": result.seconds,
        lineage.KEY: {**made_from, "scoring": settings.battery_fingerprint()},
        "test_images": len(embeddings["test_embedding"]),
        "replicates": result.replicates,
        "resampling": result.resampling,
        "outcomes": result.outcomes,
        "probe_by_depth": {depth: scores[f"probe_{depth}"] for depth in DEPTHS},
        **{
            key: arrays[key]
            for key in (
                "class_distances",
                "between_class_distances",
                "vif",
                "pca_explained",
                "confusion",
                "corruption_names",
                "corruption_clean",
                "corruption_probe",
                "corruption_knn",
            )
            if key in arrays
        },
    }
    return (_jsonable(record), *(figures[key] for key in RUN_FIGURES))


def collect_results(scores: dict[str, Any], *inputs: Any, run: Run) -> dict[str, Any]:
    """The run's results, the one file the comparison reads of it: its scores record, each of
    :data:`RUN_FIGURES` named by file (beside the results, ``<figure>.png``) and SHA-256 and,
    for a trained run, its training history (every column, as lists), which epoch's weights its
    model holds and why (``training.keep``, as the model file records it) and how many steps it
    took. Where and when it trained (its placement: host, process, times) stays in its own file,
    so that the results, and the DVC stages after them, change only when the run's results do.
    Inputs, in this order: the PNG bytes of each of :data:`RUN_FIGURES`; for a trained run, its
    model, history and per-step log."""
    parts = iter(inputs)
    figures = {
        figure: {"file": f"{figure}.png", "sha256": hashlib.sha256(next(parts)).hexdigest()}
        for figure in RUN_FIGURES
    }
    results = {**scores, "figures": figures}
    if run.trained:
        model: Encoder = next(parts)
        history: pd.DataFrame = next(parts)
        steps: pd.DataFrame = next(parts)
        results["history"] = _jsonable(history.to_dict("list"))
        results["training"] = {**model.training_record, "steps": len(steps)}
    return results


def track_run(history: pd.DataFrame, steps: pd.DataFrame) -> dict[str, bytes]:
    """A trained run's per-epoch history and per-step trace as DVCLive's files (its instability
    flags and kept epoch among them), for ``dvc plots show`` and DVC's VS Code extension."""
    return trace_files(history, steps)
