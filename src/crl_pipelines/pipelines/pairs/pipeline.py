"""Pairs pipeline: train split → one saved plan per sampling."""

from kedro.pipeline import Pipeline, node

from crl_pipelines.augment import AugmentSettings
from crl_pipelines.pipelines import names
from crl_pipelines.pipelines.binding import bind
from crl_pipelines.pipelines.pairs.nodes import make_plan
from crl_pipelines.sampling import SAMPLINGS, PairsSettings


def create_pipeline(pairs: PairsSettings, augment: AugmentSettings | None) -> Pipeline:
    """Every sampling's plan: cheap, and made whatever the experiments use, so the plans depend
    on the data and the ``pairs`` and ``augment`` settings only."""
    return Pipeline(
        [
            node(
                bind(make_plan, sampling=sampling, pairs=pairs, augment=augment),
                names.TRAIN_SET,
                names.plan(sampling),
                name=f"make_{names.plan(sampling)}",
            )
            for sampling in SAMPLINGS
        ]
    )
