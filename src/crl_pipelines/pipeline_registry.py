"""Project pipelines: ingest, pairs, train, embed, evaluate, and ``__default__`` (all of them).

The experiments and seeds are read from the parameters here, because each run becomes its own
namespace. The
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

from crl_pipelines.experiments import Run, plan_runs
from crl_pipelines.pipelines.embed import pipeline as embed
from crl_pipelines.pipelines.evaluate import pipeline as evaluate
from crl_pipelines.pipelines.ingest import pipeline as ingest
from crl_pipelines.pipelines.pairs import pipeline as pairs
from crl_pipelines.pipelines.train import pipeline as train


def declared_runs() -> list[Run]:
    """The runs (experiment × seed, and the floor) of the active environment's parameters."""
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = OmegaConfigLoader(
        conf_source=str(project / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    parameters = loader["parameters"]
    return plan_runs(dict(parameters.get("experiments") or {}), list(parameters.get("seeds", [0])))


def register_pipelines() -> dict[str, Pipeline]:
    runs = declared_runs()
    pipelines = {
        "ingest": ingest.create_pipeline(),
        "pairs": pairs.create_pipeline({run.sampling for run in runs if run.sampling}),
        "train": train.create_pipeline(runs),
        "embed": embed.create_pipeline([run.name for run in runs]),
        "evaluate": evaluate.create_pipeline(runs),
    }
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
