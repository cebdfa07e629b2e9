"""Evaluate: score each run's embeddings, draw its figures, compare all runs, write the report."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from pydantic import BaseModel

from crl_pipelines.data import ImageDataset
from crl_pipelines.evaluation.battery import ScoringSettings, score_embeddings
from crl_pipelines.evaluation.figures import (
    COMPARISON_FIGURES,
    RUN_FIGURES,
    comparison_figures,
    run_figures,
)
from crl_pipelines.evaluation.report import (
    FigureFile,
    Report,
    comparison_table,
    metrics_json,
    plan_summary,
)
from crl_pipelines.evaluation.scores import DEPTHS
from crl_pipelines.runs import FLOOR, Run

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
    settings: ScoringSettings,
    *,
    run: Run,
) -> tuple[Any, ...]:
    """One run's scores and figures (distances, correlation, VIF, PCA, t-SNE, retrieval)."""
    name = run.name
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
        "scores": scores,
        "skipped": result.skipped,
        "seconds": result.seconds,
        "probe_by_depth": {depth: scores[f"probe_{depth}"] for depth in DEPTHS},
        **{
            key: arrays[key]
            for key in ("class_distances", "between_class_distances", "vif", "pca_explained")
            if key in arrays
        },
    }
    return (_jsonable(record), *(figures[key] for key in RUN_FIGURES))


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        key: np.nan if value is None else float(value) for key, value in record["scores"].items()
    }


def compare_runs(
    *inputs: Any, runs: tuple[Run, ...]
) -> tuple[pd.DataFrame, dict[str, Any], Figure, Figure, Figure]:
    """The comparison table (mean ± std over seeds), ``metrics.json``, and the figures that put
    all experiments side by side (distances and depth probes of each experiment's first seed,
    training curves of every run). Inputs: every run's scores, then every trained run's
    history, in the order of ``runs``."""
    records = dict(zip((run.name for run in runs), inputs[: len(runs)], strict=True))
    trained = [run.name for run in runs if run.trained]
    histories = dict(zip(trained, inputs[len(runs) :], strict=True))
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
    curves = {run: history.to_dict("list") for run, history in histories.items()}
    figures = comparison_figures(between, depth, curves)
    return (table, metrics_json(table), *(figures[name] for name in COMPARISON_FIGURES))


def write_report(
    comparison_table: pd.DataFrame,
    dataset_summary: dict[str, Any],
    parameters: dict[str, Any],
    *inputs: Any,
    runs: tuple[Run, ...],
    samplings: tuple[str, ...],
) -> tuple[str, str]:
    """The report as self-contained HTML (figures embedded) and as Markdown (figures linked).

    Inputs, in this order: the plan of each of ``samplings``; every run's scores; every run's
    :data:`RUN_FIGURES`; the :data:`COMPARISON_FIGURES` (PNG bytes).
    """
    parts = iter(inputs)
    plans = {sampling: plan_summary(next(parts)) for sampling in samplings}
    records = {run.name: next(parts) for run in runs}
    run_figures = {
        run.name: {
            figure: FigureFile(next(parts), f"runs/{run.folder}/{figure}.png")
            for figure in RUN_FIGURES
        }
        for run in runs
    }
    comparison = {figure: FigureFile(next(parts), f"{figure}.png") for figure in COMPARISON_FIGURES}
    report = Report(
        table=comparison_table,
        floor=FLOOR,
        runs={
            run: {
                key: record[key] for key in ("experiment", "seed", "scores", "skipped", "seconds")
            }
            for run, record in records.items()
        },
        comparison_figures=comparison,
        run_figures=run_figures,
        dataset=dataset_summary,
        plans=plans,
        parameters=_plain(parameters),
    )
    for line in report.summary():
        log.info("%s", line)
    return report.html(), report.markdown()


def _plain(value: Any) -> Any:
    """Parameters as plain data: the settings Kedro validated into typed objects dumped back."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
