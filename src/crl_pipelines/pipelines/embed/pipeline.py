"""Embed pipeline: one namespace per run (every experiment × seed, and the floor)."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.embed.nodes import embed_splits
from crl_pipelines.runs import Run


def create_pipeline(runs: list[Run]) -> Pipeline:
    template = Pipeline(
        [
            node(
                embed_splits,
                ["model", names.TRAIN_SET, names.TEST_SET, "params:embed"],
                "embeddings",
                name="embed_splits",
            )
        ]
    )
    shared = {names.TRAIN_SET, names.TEST_SET}
    return sum(
        Pipeline(template, namespace=run.name, inputs=shared, parameters={"params:embed"})
        for run in runs
    )
