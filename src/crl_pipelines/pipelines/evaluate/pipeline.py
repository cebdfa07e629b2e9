"""Evaluate pipeline: scores and figures per run (the registry adds the comparison after it)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import RUN_FIGURES
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.evaluate.nodes import score_run
from crl_pipelines.runs import Run


def _score(run: Run) -> Pipeline:
    score = update_wrapper(partial(score_run, run=run), score_run)
    outputs = ["scores", *(names.figure(figure) for figure in RUN_FIGURES)]
    inputs = ["embeddings", names.TEST_SET, "params:evaluate"]
    return Pipeline(
        [node(score, inputs, outputs, name="score_run")],
        namespace=run.name,
        inputs={names.TEST_SET},
        parameters={"params:evaluate"},
    )


def create_pipeline(runs: list[Run]) -> Pipeline:
    """Every run's scores and figures, one namespace per run."""
    return sum(_score(run) for run in runs)
