"""Train pipeline: one namespace per experiment, plus the untrained floor encoder."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.experiments import FLOOR
from crl_pipelines.pipelines.train.nodes import init_random_encoder, train_experiment


def _experiment_pipeline(name: str) -> Pipeline:
    train = update_wrapper(partial(train_experiment, name=name), train_experiment)
    return Pipeline(
        [
            node(
                train,
                ["train_set", "pair_plan", "params:experiment", "params:model", "params:training"],
                ["model", "history"],
                name="train_encoder",
            )
        ],
        namespace=name,
        inputs={"train_set", "pair_plan"},
        parameters={
            "params:experiment": f"params:experiments.{name}",
            "params:model": "params:model",
            "params:training": "params:training",
        },
    )


def create_pipeline(experiments: list[str]) -> Pipeline:
    floor = Pipeline(
        [
            node(
                init_random_encoder,
                ["train_set", "params:model", "params:training"],
                "model",
                name="init_encoder",
            )
        ],
        namespace=FLOOR,
        inputs={"train_set"},
        parameters={"params:model", "params:training"},
    )
    return sum((_experiment_pipeline(name) for name in experiments), floor)
