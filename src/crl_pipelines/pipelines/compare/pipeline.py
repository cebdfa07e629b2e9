"""Compare pipeline: every run's results and every experiment's tuning record → the comparison,
DVC's metrics, tuning.csv and the report; every run's test features → their CKA."""

import warnings
from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import COMPARISON_FIGURES
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.compare.nodes import (
    Comparison,
    compare_representations,
    compare_runs,
    write_report,
)

EXPECTED_BEST = "expected_best"  # the figure of each loss's expected best validation score
SIMILARITY, SIMILARITY_FIGURE = "representation_similarity", "cka"  # CKA: the record, its figure


def create_pipeline(comparison: Comparison, parameters: Mapping[str, Any]) -> Pipeline:
    """Reads every run's results (scores, history, figures) and embeddings (the CKA between
    runs: the two datasets of a run that anything outside the run reads) and every experiment's
    tuning record, so its inputs are namespaced names on purpose. ``parameters``: what the report
    restates of them."""
    plans = [names.plan(sampling) for sampling in comparison.samplings]
    tunings = [names.of_experiment(name, names.TUNING) for name in comparison.experiments]
    results = [names.of_run(run, names.RESULTS) for run in comparison.runs]
    figures = [names.figure(figure) for figure in (*COMPARISON_FIGURES, EXPECTED_BEST)]
    read = [*plans, *tunings, *results]
    shown = [run for run in comparison.runs if not run.untuned]
    embeddings = [names.of_run(run, names.EMBEDDINGS) for run in shown]
    similarity = [SIMILARITY, names.figure(SIMILARITY_FIGURE)]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            bind(compare_runs, comparison=comparison),
            [names.DATASET_SUMMARY, names.TRAIN_SET, *read],
            ["comparison_table", "metrics", *figures[:-1], "tuning_table", figures[-1]],
            name="compare_runs",
        )
        representations = node(
            bind(compare_representations, comparison=comparison),
            [names.DATASET_SUMMARY, names.TRAIN_SET, *read, *embeddings],
            similarity,
            name="compare_representations",
        )
        report = node(
            bind(write_report, comparison=comparison, parameters=parameters),
            ["comparison_table", names.DATASET_SUMMARY, *read, *figures, *similarity],
            ["report_html", "report_markdown"],
            name="write_report",
        )
    return Pipeline([compare, representations, report])
