"""Pairs pipeline: train split → sampling plan."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.pairs.nodes import make_pair_plan


def create_pipeline() -> Pipeline:
    return Pipeline(
        [node(make_pair_plan, ["train_set", "params:pairs"], "pair_plan", name="make_pair_plan")]
    )
