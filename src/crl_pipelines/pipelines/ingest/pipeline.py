"""Ingest pipeline: source → canonical dataset → stratified train/validation/test split."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.ingest.nodes import load_source, split_dataset
from crl_pipelines.sources import IngestSettings


def create_pipeline(settings: IngestSettings) -> Pipeline:
    return Pipeline(
        [
            node(bind(load_source, settings=settings), None, "dataset", name="load_source"),
            node(
                bind(split_dataset, settings=settings),
                "dataset",
                ["train_set", "validation_set", "test_set", "dataset_summary"],
                name="split_dataset",
            ),
        ]
    )
