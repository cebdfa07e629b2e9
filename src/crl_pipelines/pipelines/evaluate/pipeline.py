"""Evaluate pipeline: scores and figures per run, then the comparison and the report."""

import warnings
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.experiments import FLOOR, Run
from crl_pipelines.pipelines.evaluate.nodes import (
    COMPARISON_FIGURES,
    RUN_FIGURES,
    compare_runs,
    score_run,
    write_report,
)
from crl_pipelines.pipelines.pairs.pipeline import PLAN_DATASETS


def _run_pipeline(run: Run) -> Pipeline:
    score = update_wrapper(
        partial(score_run, name=run.name, experiment=run.experiment, seed=run.seed), score_run
    )
    outputs = ["scores", *(f"{figure}_png" for figure in RUN_FIGURES)]
    return Pipeline(
        [node(score, ["embeddings", "test_set", "params:evaluate"], outputs, name="score_run")],
        namespace=run.name,
        inputs={"test_set"},
        parameters={"params:evaluate"},
    )


def create_pipeline(runs: list[Run]) -> Pipeline:
    trained = [run for run in runs if run.experiment != FLOOR]
    samplings = {run.sampling for run in trained}
    floor = next(run.experiment for run in runs if run.experiment == FLOOR)
    with warnings.catch_warnings():
        # The comparison reads every namespace's outputs, so its inputs are dotted names on purpose.
        warnings.filterwarnings("ignore", message="One or more dataset names contain '.'")
        compare = node(
            compare_runs,
            {
                **{f"scores__{run.name}": f"{run.name}.scores" for run in runs},
                **{f"history__{run.name}": f"{run.name}.history" for run in trained},
            },
            ["comparison_table", "metrics", *(f"{figure}_png" for figure in COMPARISON_FIGURES)],
            name="compare_runs",
        )
        report = node(
            update_wrapper(partial(write_report, floor=floor), write_report),
            {
                "comparison_table": "comparison_table",
                "dataset_summary": "dataset_summary",
                **{f"plan__{s}": PLAN_DATASETS[s] for s in sorted(samplings)},
                "parameters": "parameters",
                **{f"scores__{run.name}": f"{run.name}.scores" for run in runs},
                **{
                    f"figure__{run.name}__{figure}": f"{run.name}.{figure}_png"
                    for run in runs
                    for figure in RUN_FIGURES
                },
                **{f"comparison__{figure}": f"{figure}_png" for figure in COMPARISON_FIGURES},
            },
            ["report_html", "report_markdown"],
            name="write_report",
        )
    return sum((_run_pipeline(run) for run in runs), Pipeline([compare, report]))
