"""Evaluate pipeline: scores, figures and results per run (the registry adds the comparison after
it), and a trained run's traces for DVCLive's readers. The results are the run's one output that
the comparison reads."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.evaluation.figures import RUN_FIGURES
from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.evaluate.nodes import collect_results, score_run, track_run
from crl_pipelines.runs import Run


def _score(run: Run, settings: ScoringSettings) -> Pipeline:
    figures = [names.figure(figure) for figure in RUN_FIGURES]
    training = ["model", "history", "steps"] if run.trained else []
    traces = node(bind(track_run), ["history", "steps"], names.TRACES, name="track_run")
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
            *([traces] if run.trained else []),
        ],
        namespace=run.name,
        inputs={names.TEST_SET},
    )


def create_pipeline(runs: list[Run], settings: ScoringSettings) -> Pipeline:
    """Every run's scores, figures, results and (trained) traces, one namespace per run."""
    return sum(_score(run, settings) for run in runs)
