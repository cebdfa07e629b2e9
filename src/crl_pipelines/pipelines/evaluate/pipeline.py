"""Evaluate pipeline: scores, figures and results per run (the registry adds the comparison after
it). The results are the run's one output that the comparison reads, so kedro-viz draws every
other dataset of the run inside its group."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import RUN_FIGURES
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.evaluate.nodes import collect_results, score_run
from crl_pipelines.runs import Run


def _score(run: Run) -> Pipeline:
    score = update_wrapper(partial(score_run, run=run), score_run)
    collect = update_wrapper(partial(collect_results, run=run), collect_results)
    figures = [names.figure(figure) for figure in RUN_FIGURES]
    inputs = ["embeddings", names.TEST_SET, "params:evaluate"]
    training = ["history", "steps", "placement"] if run.trained else []
    return Pipeline(
        [
            node(score, inputs, ["scores", *figures], name="score_run"),
            node(collect, ["scores", *figures, *training], names.RESULTS, name="collect_results"),
        ],
        namespace=run.name,
        inputs={names.TEST_SET},
        parameters={"params:evaluate"},
    )


def create_pipeline(runs: list[Run]) -> Pipeline:
    """Every run's scores, figures and results, one namespace per run."""
    return sum(_score(run) for run in runs)
