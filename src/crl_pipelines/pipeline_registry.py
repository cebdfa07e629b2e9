"""Project pipelines: ingest, pairs, train, embed, evaluate, compare, and ``__default__`` (all).

The parameters are read and checked (:func:`crl_pipelines.spec.build_spec`) here, before any
node runs, because each run becomes its own namespace: ``<experiment>.seed<seed>``. The
configuration environment is taken from ``KEDRO_ENV``, which ``kedro run --env X`` sets before
the pipelines are first built (:func:`crl_pipelines.cli.select_environment`), so an environment
may change which experiments and seeds exist. ``--params`` and ``--conf-source`` reach the run's
parameters but not this list: the project's hook stops a run whose parameters and pipelines
disagree, in one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from kedro.config import OmegaConfigLoader
from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from crl_pipelines.pipelines.compare import pipeline as compare
from crl_pipelines.pipelines.embed import pipeline as embed
from crl_pipelines.pipelines.evaluate import pipeline as evaluate
from crl_pipelines.pipelines.ingest import pipeline as ingest
from crl_pipelines.pipelines.pairs import pipeline as pairs
from crl_pipelines.pipelines.train import pipeline as train
from crl_pipelines.spec import RunSpec, build_spec


def declared_spec() -> RunSpec:
    """The run specification of the active environment's parameters."""
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = OmegaConfigLoader(
        conf_source=str(project / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return build_spec(loader["parameters"])


def register_pipelines() -> dict[str, Pipeline]:
    spec = declared_spec()
    runs = spec.runs()
    comparison = compare.create_pipeline(runs)
    pipelines = {
        "ingest": ingest.create_pipeline(),
        "pairs": pairs.create_pipeline(),
        "train": train.create_pipeline(
            runs, {name: spec.experiment(name) for name in spec.experiments}
        ),
        "embed": embed.create_pipeline(runs),
        # re-scores the embeddings on disk and rewrites the comparison; never trains
        "evaluate": evaluate.create_pipeline(runs) + comparison,
        "compare": comparison,
    }
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines
