"""Compare pipeline: every run's results → the comparison, metrics.json and the report."""

import warnings
from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import COMPARISON_FIGURES
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.compare.nodes import compare_runs, write_report
from crl_pipelines.runs import Run


def create_pipeline(
    runs: list[Run],
    expected: Mapping[str, Mapping[str, str]],
    settings: ScoringSettings,
    parameters: Mapping[str, Any],
) -> Pipeline:
    """Reads every run's results (scores, history, figures: the one dataset of a run that
    anything outside the run reads), so its inputs are namespaced names on purpose.
    ``expected``: each run's lineage fingerprints under the current settings; ``parameters``:
    what the report restates of them."""
    samplings = tuple(sorted({run.sampling for run in runs if run.trained}))
    plans = [names.plan(sampling) for sampling in samplings]
    results = [names.of_run(run, names.RESULTS) for run in runs]
    comparison_figures = [names.figure(figure) for figure in COMPARISON_FIGURES]
    bound = {"runs": tuple(runs), "samplings": samplings, "settings": settings}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            bind(compare_runs, expected=expected, **bound),
            [names.DATASET_SUMMARY, *plans, *results],
            ["comparison_table", "metrics", *comparison_figures],
            name="compare_runs",
        )
        report = node(
            bind(write_report, parameters=parameters, **bound),
            [
                "comparison_table",
                names.DATASET_SUMMARY,
                *plans,
                *results,
                *comparison_figures,
            ],
            ["report_html", "report_markdown"],
            name="write_report",
        )
    return Pipeline([compare, report])
