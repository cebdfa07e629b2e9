"""Compare: every run's scores side by side, the ranking, metrics.json and the report.

Of each run, it reads only the run's results (``<run>.results``: the scores record, the training
history, the figures by file), so kedro-viz draws the rest of the run inside the run's group.

Before anything is compared, every run's results must chain to the current split, its
sampling's current plan, the settings the parameters give it now and the current scoring
settings; a stale run is named with the command that rebuilds it. What the report says of a run
(its kept epoch and why, how many resamples its intervals rest on) is read from its results.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from crl_pipelines import lineage
from crl_pipelines.evaluation.figures import COMPARISON_FIGURES, RUN_FIGURES, comparison_figures
from crl_pipelines.evaluation.report import (
    FigureFile,
    Report,
    TrainingNote,
    comparison_table,
    metrics_json,
    plan_summary,
)
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.evaluation.uncertainty import assess, with_intervals
from crl_pipelines.runs import FLOOR, Run

log = logging.getLogger(__name__)

# How wide each figure is shown (FigureFile.layout): the training curves take the page's width
# (a panel per run, each on its own scale), the retrieval grid (a row per class) two cells.
LAYOUT = dict.fromkeys((*RUN_FIGURES, *COMPARISON_FIGURES), "cell") | {
    "training_curves": "full",
    "retrieval": "double",
}


def check_lineage(
    records: dict[str, dict[str, Any]],
    dataset_summary: dict[str, Any],
    plans: dict[str, dict[str, np.ndarray]],
    runs: tuple[Run, ...],
    expected: Mapping[str, Mapping[str, str]],
) -> None:
    """Every run's results were made from the current split and plan, and from the settings
    ``expected`` of it (its ``settings`` and ``scoring`` fingerprints, from the run
    specification)."""
    split = dataset_summary.get(lineage.KEY, {}).get("split")
    if not split:
        raise lineage.StaleArtifactError(
            "the dataset summary was made by an older version, without lineage; rebuild it: "
            "`kedro run --pipelines=ingest`"
        )
    for run in runs:
        wanted = {"split": split, **expected[run.name]}
        if run.trained:
            wanted["plan"] = lineage.of_arrays(plans[run.sampling]).get("plan", "")
        lineage.require(
            records[run.name].get(lineage.KEY, {}), wanted, f"the evaluation of {run.name}",
            f"`kedro run --pipelines=train,embed,evaluate --namespaces={run.experiment}`",
        )  # fmt: skip


def _history(record: dict[str, Any]) -> dict[str, list[Any]]:
    """A trained run's history as its columns (the JSON's nulls back to NaN, as read from
    history.csv)."""
    return {
        column: [np.nan if value is None else value for value in values]
        for column, values in record["history"].items()
    }


def _scalars(record: dict[str, Any]) -> dict[str, float]:
    return {
        key: np.nan if value is None else float(value) for key, value in record["scores"].items()
    }


def compare_runs(
    dataset_summary: dict[str, Any],
    *inputs: Any,
    runs: tuple[Run, ...],
    samplings: tuple[str, ...],
    expected: Mapping[str, Mapping[str, str]],
    settings: ScoringSettings,
) -> tuple[pd.DataFrame, dict[str, Any], Figure, Figure, Figure]:
    """The comparison table (mean ± std over seeds), ``metrics.json``, and the figures that put
    all experiments side by side (distances and depth probes of each experiment's first seed,
    training curves of every run), after :func:`check_lineage`. Inputs, in this order: the plan
    of each of ``samplings``, every run's results."""
    parts = iter(inputs)
    plans = {sampling: next(parts) for sampling in samplings}
    records = {run.name: next(parts) for run in runs}
    check_lineage(records, dataset_summary, plans, runs, expected)
    table = comparison_table(
        {run: _scalars(record) for run, record in records.items()},
        {run: record["experiment"] for run, record in records.items()},
    )
    table = with_intervals(table, records, settings.confidence, settings.seed)
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
    curves = {run.name: _history(records[run.name]) for run in runs if run.trained}
    figures = comparison_figures(between, depth, curves)
    return (table, metrics_json(table), *(figures[name] for name in COMPARISON_FIGURES))


def write_report(
    comparison_table: pd.DataFrame,
    dataset_summary: dict[str, Any],
    *inputs: Any,
    runs: tuple[Run, ...],
    samplings: tuple[str, ...],
    settings: ScoringSettings,
    parameters: Mapping[str, Any],
) -> tuple[str, str]:
    """The report as self-contained HTML (figures embedded) and as Markdown (figures linked).

    Inputs, in this order: the plan of each of ``samplings``; every run's results (with its
    :data:`RUN_FIGURES`' PNG bytes); the :data:`COMPARISON_FIGURES` (PNG bytes).
    """
    parts = iter(inputs)
    plans = {sampling: plan_summary(next(parts)) for sampling in samplings}
    records = {run.name: next(parts) for run in runs}
    run_figures = {
        run.name: {
            figure: FigureFile(
                records[run.name]["figures"][figure]["png"],
                f"runs/{run.folder}/{records[run.name]['figures'][figure]['file']}",
                LAYOUT[figure],
            )
            for figure in RUN_FIGURES
        }
        for run in runs
    }
    comparison = {
        figure: FigureFile(next(parts), f"{figure}.png", LAYOUT[figure])
        for figure in COMPARISON_FIGURES
    }
    notes = {
        run.name: TrainingNote.of(
            _history(records[run.name]), records[run.name]["training"]["keep"]
        )
        for run in runs
        if run.trained
    }
    trained = list(dict.fromkeys(run.experiment for run in runs if run.trained))
    significance = assess(comparison_table, records, trained, settings)
    report = Report(
        table=comparison_table,
        significance=significance,
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
        parameters=dict(parameters),
        training=notes,
    )
    for line in report.summary():
        log.info("%s", line)
    return report.html(), report.markdown()
