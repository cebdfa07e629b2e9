"""Pairs pipeline: train split → one saved plan per sampling."""

from functools import partial, update_wrapper

from kedro.pipeline import Pipeline, node

from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.pairs.nodes import make_plan
from crl_pipelines.sampling import SAMPLINGS


def create_pipeline() -> Pipeline:
    """Every sampling's plan: cheap, and made whatever the experiments use, so the plans depend
    on the data and the ``pairs`` and ``augment`` settings only."""
    return Pipeline(
        [
            node(
                update_wrapper(partial(make_plan, sampling=sampling), make_plan),
                [names.TRAIN_SET, "params:pairs", "params:augment"],
                names.plan(sampling),
                name=f"make_{names.plan(sampling)}",
            )
            for sampling in SAMPLINGS
        ]
    )
