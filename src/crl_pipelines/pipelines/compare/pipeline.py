"""Compare pipeline: every run's scores → the comparison, metrics.json and the report."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import COMPARISON_FIGURES, RUN_FIGURES
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.compare.nodes import compare_runs, write_report
from crl_pipelines.runs import Run


def _bind(function, **arguments):
    return update_wrapper(partial(function, **arguments), function)


def create_pipeline(runs: list[Run]) -> Pipeline:
    """Reads every run's outputs, so its inputs are namespaced names on purpose."""
    trained = [run for run in runs if run.trained]
    samplings = tuple(sorted({run.sampling for run in trained}))
    plans = [names.plan(sampling) for sampling in samplings]
    scores = [names.of_run(run, "scores") for run in runs]
    histories = [names.of_run(run, "history") for run in trained]
    figures = [names.of_run(run, names.figure(f)) for run in runs for f in RUN_FIGURES]
    comparison_figures = [names.figure(figure) for figure in COMPARISON_FIGURES]
    bound = {"runs": tuple(runs), "samplings": samplings}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            _bind(compare_runs, **bound),
            [
                names.DATASET_SUMMARY,
                "parameters",
                *plans,
                *scores,
                *histories,
            ],
            ["comparison_table", "metrics", *comparison_figures],
            name="compare_runs",
        )
        report = node(
            _bind(write_report, **bound),
            [
                "comparison_table",
                names.DATASET_SUMMARY,
                "parameters",
                *plans,
                *scores,
                *figures,
                *comparison_figures,
                *histories,
            ],
            ["report_html", "report_markdown"],
            name="write_report",
        )
    return Pipeline([compare, report])
