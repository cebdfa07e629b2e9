"""Evaluate pipeline: scores and figures per run, then the comparison and the report."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import COMPARISON_FIGURES, RUN_FIGURES
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.evaluate.nodes import compare_runs, score_run, write_report
from crl_pipelines.runs import Run


def _bind(function, **arguments):
    return update_wrapper(partial(function, **arguments), function)


def _score(run: Run) -> Pipeline:
    outputs = ["scores", *(names.figure(figure) for figure in RUN_FIGURES)]
    inputs = ["embeddings", names.TEST_SET, "params:evaluate"]
    return Pipeline(
        [node(_bind(score_run, run=run), inputs, outputs, name="score_run")],
        namespace=run.name,
        inputs={names.TEST_SET},
        parameters={"params:evaluate"},
    )


def create_comparison(runs: list[Run]) -> Pipeline:
    """The comparison of every run, the report and metrics.json (reads every run's outputs, so
    its inputs are namespaced names on purpose)."""
    trained = [run for run in runs if run.trained]
    samplings = tuple(sorted({run.sampling for run in trained}))
    scores = [names.of_run(run, "scores") for run in runs]
    figures = [names.of_run(run, names.figure(f)) for run in runs for f in RUN_FIGURES]
    comparison_figures = [names.figure(figure) for figure in COMPARISON_FIGURES]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            _bind(compare_runs, runs=tuple(runs)),
            [*scores, *(names.of_run(run, "history") for run in trained)],
            ["comparison_table", "metrics", *comparison_figures],
            name="compare_runs",
        )
        report = node(
            _bind(write_report, runs=tuple(runs), samplings=samplings),
            [
                "comparison_table",
                names.DATASET_SUMMARY,
                "parameters",
                *(names.plan(sampling) for sampling in samplings),
                *scores,
                *figures,
                *comparison_figures,
            ],
            ["report_html", "report_markdown"],
            name="write_report",
        )
    return Pipeline([compare, report])


def create_pipeline(runs: list[Run]) -> Pipeline:
    return sum((_score(run) for run in runs), create_comparison(runs))
