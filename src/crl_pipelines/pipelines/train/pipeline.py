"""Train pipeline: one namespace per run (experiment × seed), the floor included."""

from collections.abc import Mapping
from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.train.nodes import init_floor, train_run
from crl_pipelines.runs import Run
from crl_pipelines.training import Experiment


def _floor(run: Run) -> Pipeline:
    initialize = update_wrapper(partial(init_floor, run=run), init_floor)
    return Pipeline(
        [node(initialize, [names.TRAIN_SET, "params:model"], "model", name="init_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET},
        parameters={"params:model"},
    )


def _trained(run: Run, partners: tuple[tuple[Run, Experiment], ...]) -> Pipeline:
    train = update_wrapper(partial(train_run, run=run, partners=partners), train_run)
    plan = names.plan(run.sampling)
    inputs = [
        names.TRAIN_SET, names.VALIDATION_SET, plan, "params:experiment", "params:model",
        "params:training", "params:collapse_threshold", "params:checkpoint_dir",
    ]  # fmt: skip
    return Pipeline(
        [node(train, inputs, ["model", "history", "steps", "placement"], name="train_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET, names.VALIDATION_SET, plan},
        parameters={
            "params:experiment": f"params:experiments.{run.experiment}",
            "params:collapse_threshold": "params:evaluate.collapse_threshold",
            "params:model": "params:model",
            "params:training": "params:training",
            "params:checkpoint_dir": "params:checkpoint_dir",
        },
    )


def create_pipeline(runs: list[Run], experiments: Mapping[str, Experiment]) -> Pipeline:
    """``experiments``: every experiment resolved, so that a run's train node knows the other
    runs of its plan it may train with (``training.fuse``)."""

    def partners(run: Run) -> tuple[tuple[Run, Experiment], ...]:
        return tuple(
            (other, experiments[other.experiment]) for other in runs
            if other.trained and other != run and other.sampling == run.sampling
        )  # fmt: skip

    return sum(_trained(run, partners(run)) if run.trained else _floor(run) for run in runs)
