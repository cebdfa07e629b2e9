"""Train pipeline: one namespace per run (experiment × seed), the floor included."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.experiments import FLOOR, Run
from crl_pipelines.pipelines.pairs.pipeline import PLAN_DATASETS
from crl_pipelines.pipelines.train.nodes import init_random_encoder, train_experiment

SHARED_PARAMETERS = {"params:model": "params:model", "params:training": "params:training"}


def _bind(function, **arguments):
    return update_wrapper(partial(function, **arguments), function)


def _run_pipeline(run: Run) -> Pipeline:
    if run.experiment == FLOOR:
        initialize = _bind(init_random_encoder, seed=run.seed)
        nodes = [
            node(
                initialize,
                ["train_set", "params:model", "params:training"],
                "model",
                name="init_encoder",
            )
        ]
        return Pipeline(
            nodes, namespace=run.name, inputs={"train_set"}, parameters=SHARED_PARAMETERS
        )
    train = _bind(train_experiment, name=run.name, experiment_name=run.experiment, seed=run.seed)
    plan = PLAN_DATASETS[run.sampling]
    inputs = [
        "train_set",
        "test_set",
        plan,
        "params:experiment",
        "params:model",
        "params:training",
        "params:checkpoint_dir",
    ]
    nodes = [node(train, inputs, ["model", "history"], name="train_encoder")]
    return Pipeline(
        nodes,
        namespace=run.name,
        inputs={"train_set", "test_set", plan},
        parameters={
            "params:experiment": f"params:experiments.{run.experiment}",
            "params:checkpoint_dir": "params:checkpoint_dir",
            **SHARED_PARAMETERS,
        },
    )


def create_pipeline(runs: list[Run]) -> Pipeline:
    return sum(_run_pipeline(run) for run in runs)
