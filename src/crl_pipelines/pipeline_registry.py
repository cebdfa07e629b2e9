"""Project pipelines: ingest, pairs, train, embed, evaluate, and ``__default__`` (all of them).

The experiments are read from the parameters here, because each becomes its own namespace. The
configuration environment is taken from ``KEDRO_ENV`` (``kedro run --env`` sets the parameters;
to change which experiments exist in another environment, set ``KEDRO_ENV`` too; the project's
hook stops a run whose parameters and pipelines disagree).
"""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from crl_pipelines.experiments import FLOOR, check_names
from crl_pipelines.pipelines.embed import pipeline as embed
from crl_pipelines.pipelines.evaluate import pipeline as evaluate
from crl_pipelines.pipelines.ingest import pipeline as ingest
from crl_pipelines.pipelines.pairs import pipeline as pairs
from crl_pipelines.pipelines.train import pipeline as train


def declared_experiments() -> list[str]:
    """Names under ``experiments:`` in the parameters of the active environment."""
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = OmegaConfigLoader(
        conf_source=str(project / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return check_names(list(loader["parameters"].get("experiments") or {}))


def register_pipelines() -> dict[str, Pipeline]:
    experiments = declared_experiments()
    encoders = [*experiments, FLOOR]
    pipelines = {
        "ingest": ingest.create_pipeline(),
        "pairs": pairs.create_pipeline(),
        "train": train.create_pipeline(experiments),
        "embed": embed.create_pipeline(encoders),
        "evaluate": evaluate.create_pipeline(encoders),
    }
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
