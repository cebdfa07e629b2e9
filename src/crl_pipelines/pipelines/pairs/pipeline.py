"""Pairs pipeline: train split → one sampling plan per sampling the experiments use."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines.pairs.nodes import make_pair_plan, make_view_plan

PLAN_DATASETS = {
    "class_pairs": "pair_plan",
    "augmented_views": "augmented_views_plan",
    "looc_views": "looc_views_plan",
}


def create_pipeline(samplings: set[str]) -> Pipeline:
    nodes = []
    for sampling in sorted(samplings):
        output = PLAN_DATASETS[sampling]
        if sampling == "class_pairs":
            nodes.append(
                node(make_pair_plan, ["train_set", "params:pairs"], output, name=f"make_{output}")
            )
            continue
        plan = update_wrapper(partial(make_view_plan, kind=sampling), make_view_plan)
        inputs = ["train_set", "params:pairs", "params:augment"]
        nodes.append(node(plan, inputs, output, name=f"make_{output}"))
    return Pipeline(nodes)
