"""Train pipeline: one namespace per run (experiment × seed), the floor included."""

from collections.abc import Mapping

from kedro.pipeline import Pipeline, node

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.train.nodes import init_floor, train_run
from crl_pipelines.runs import Run


def _floor(run: Run, model: ModelSettings) -> Pipeline:
    initialize = bind(init_floor, run=run, model=model)
    return Pipeline(
        [node(initialize, names.TRAIN_SET, "model", name="init_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET},
    )


def _trained(run: Run, train: dict) -> Pipeline:
    plan = names.plan(run.sampling)
    inputs = [names.TRAIN_SET, names.VALIDATION_SET, plan]
    return Pipeline(
        [
            node(
                bind(train_run, run=run, **train),
                inputs,
                ["model", "history", "steps", "placement"],
                name="train_encoder",
            )
        ],
        namespace=run.name,
        inputs={names.TRAIN_SET, names.VALIDATION_SET, plan},
    )


def create_pipeline(
    runs: list[Run],
    experiments: Mapping[str, Experiment],
    model: ModelSettings,
    checkpoint_dir: str,
    collapse_threshold: float,
) -> Pipeline:
    """Each run's train node gets its resolved experiment, and knows the other runs of its plan
    it may train with (``training.fuse``); the floor gets the shared ``model``."""

    def settings(run: Run) -> dict:
        partners = tuple(
            (other, experiments[other.experiment]) for other in runs
            if other.trained and other != run and other.sampling == run.sampling
        )  # fmt: skip
        return {
            "experiment": experiments[run.experiment],
            "partners": partners,
            "checkpoint_dir": checkpoint_dir,
            "collapse_threshold": collapse_threshold,
        }

    return sum(_trained(run, settings(run)) if run.trained else _floor(run, model) for run in runs)
