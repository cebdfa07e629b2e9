"""Ingest pipeline: source → canonical dataset → stratified train/validation/test split."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.ingest.nodes import load_source, split_dataset


def create_pipeline() -> Pipeline:
    return Pipeline(
        [
            node(load_source, "params:ingest", "dataset", name="load_source"),
            node(
                split_dataset,
                ["dataset", "params:ingest"],
                ["train_set", "validation_set", "test_set", "dataset_summary"],
                name="split_dataset",
            ),
        ]
    )
