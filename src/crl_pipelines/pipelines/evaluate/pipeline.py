"""Evaluate pipeline: scores, figures and results per run (the registry adds the comparison after
it). The results are the run's one output that the comparison reads, so kedro-viz draws every
other dataset of the run inside its group."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import RUN_FIGURES
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.evaluate.nodes import collect_results, score_run
from crl_pipelines.runs import Run


def _score(run: Run, settings: ScoringSettings) -> Pipeline:
    figures = [names.figure(figure) for figure in RUN_FIGURES]
    training = ["model", "history", "steps", "placement"] if run.trained else []
    return Pipeline(
        [
            node(
                bind(score_run, run=run, settings=settings),
                [names.EMBEDDINGS, names.TEST_SET],
                ["scores", *figures],
                name="score_run",
            ),
            node(
                bind(collect_results, run=run),
                ["scores", *figures, *training],
                names.RESULTS,
                name="collect_results",
            ),
        ],
        namespace=run.name,
        inputs={names.TEST_SET},
    )


def create_pipeline(runs: list[Run], settings: ScoringSettings) -> Pipeline:
    """Every run's scores, figures and results, one namespace per run."""
    return sum(_score(run, settings) for run in runs)
