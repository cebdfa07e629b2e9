"""Embed pipeline: one namespace per run (every experiment × seed, and the floor)."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.embed import EmbedSettings
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.embed.nodes import embed_splits
from crl_pipelines.runs import Run


def _embed(run: Run, settings: EmbedSettings) -> Pipeline:
    embed = bind(embed_splits, run=run, settings=settings)
    inputs = ["model", names.TRAIN_SET, names.VALIDATION_SET, names.TEST_SET]
    return Pipeline(
        [node(embed, inputs, names.EMBEDDINGS, name="embed_splits")],
        namespace=run.name,
        inputs={names.TRAIN_SET, names.VALIDATION_SET, names.TEST_SET},
    )


def create_pipeline(runs: list[Run], settings: EmbedSettings) -> Pipeline:
    return sum(_embed(run, settings) for run in runs)
