"""Train pipeline: one namespace per run (experiment × seed), the floor included."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.train.nodes import init_floor, train_run
from crl_pipelines.runs import Run


def _floor(run: Run) -> Pipeline:
    initialize = update_wrapper(partial(init_floor, run=run), init_floor)
    return Pipeline(
        [node(initialize, [names.TRAIN_SET, "params:model"], "model", name="init_encoder")],
        namespace=run.name,
        inputs={names.TRAIN_SET},
        parameters={"params:model"},
    )


def _trained(run: Run) -> Pipeline:
    train = update_wrapper(partial(train_run, run=run), train_run)
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


def create_pipeline(runs: list[Run]) -> Pipeline:
    return sum(_trained(run) if run.trained else _floor(run) for run in runs)
