"""Embed pipeline: one namespace per encoder (every experiment and the floor)."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.embed.nodes import embed_splits


def create_pipeline(encoders: list[str]) -> Pipeline:
    template = Pipeline(
        [
            node(
                embed_splits,
                ["model", "train_set", "test_set", "params:embed"],
                "embeddings",
                name="embed_splits",
            )
        ]
    )
    return sum(
        Pipeline(
            template, namespace=name, inputs={"train_set", "test_set"}, parameters={"params:embed"}
        )
        for name in encoders
    )
