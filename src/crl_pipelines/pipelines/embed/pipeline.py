"""Embed pipeline: one namespace per run (every experiment × seed, and the floor)."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.embed.nodes import embed_splits
from crl_pipelines.runs import Run


def _embed(run: Run) -> Pipeline:
    embed = update_wrapper(partial(embed_splits, run=run), embed_splits)
    inputs = ["model", names.TRAIN_SET, names.TEST_SET, "params:embed"]
    return Pipeline(
        [node(embed, inputs, "embeddings", name="embed_splits")],
        namespace=run.name,
        inputs={names.TRAIN_SET, names.TEST_SET},
        parameters={"params:embed"},
    )


def create_pipeline(runs: list[Run]) -> Pipeline:
    return sum(_embed(run) for run in runs)
