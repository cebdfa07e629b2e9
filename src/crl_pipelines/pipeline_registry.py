"""Project pipelines: ingest, pairs, tune, train, embed, evaluate, compare, and ``__default__``
(all; the tune nodes only record that nothing is tuned unless ``tune.use`` is true).

The parameters are read here (:func:`run_parameters`: the configuration environment's files with
the run's ``--params`` over them), typed and resolved once (:func:`crl_pipelines.spec.build_spec`,
before any node runs), and each node is built with the typed block it needs bound to it
(:mod:`crl_pipelines.pipelines.binding`): an experiment's resolved settings, the scoring
settings, never the whole tree. Each run becomes its own namespace, ``<experiment>.seed<seed>``.

The environment comes from ``KEDRO_ENV``; ``kedro run`` (:mod:`crl_pipelines.cli`) sets it from
``--env``, and passes ``--params`` and ``--conf-source`` in :data:`RUNTIME_PARAMS_ENV` and
:data:`CONF_SOURCE_ENV`, before the pipelines are first built. The project's hook stops a run
whose parameters are not the ones the pipelines were built from (a session made with other
``runtime_params``), in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kedro.framework.project import settings
from kedro.pipeline import Pipeline
from kedro.utils import find_kedro_project

from crl_pipelines.evaluation.settings import ScoringSettings
from crl_pipelines.pipelines.compare import pipeline as compare
from crl_pipelines.pipelines.compare.nodes import Comparison
from crl_pipelines.pipelines.embed import pipeline as embed
from crl_pipelines.pipelines.evaluate import pipeline as evaluate
from crl_pipelines.pipelines.ingest import pipeline as ingest
from crl_pipelines.pipelines.pairs import pipeline as pairs
from crl_pipelines.pipelines.train import pipeline as train
from crl_pipelines.pipelines.tune import pipeline as tune
from crl_pipelines.runs import Run
from crl_pipelines.spec import RunSpec, build_spec

RUNTIME_PARAMS_ENV = "CRL_PIPELINES_RUNTIME_PARAMS"  # the run's --params, as JSON
CONF_SOURCE_ENV = "CRL_PIPELINES_CONF_SOURCE"  # the run's --conf-source

built_from: dict[str, Any] | None = None
"""The parameters the registered pipelines were built from (None before they are built)."""


def run_parameters() -> dict[str, Any]:
    """The run's parameters, as Kedro's session reads them: the environment's files, with the
    run's ``--params`` over them."""
    project = find_kedro_project(Path.cwd()) or Path.cwd()
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=os.environ.get(CONF_SOURCE_ENV) or str(project / settings.CONF_SOURCE),
        env=os.environ.get("KEDRO_ENV"),
        runtime_params=json.loads(os.environ.get(RUNTIME_PARAMS_ENV) or "{}"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["parameters"]


def described(spec: RunSpec) -> dict[str, Any]:
    """What the report restates of the parameters: every block as typed (defaults filled in),
    of ``ingest`` only the chosen source's block."""
    shown = spec.parameters.model_dump(mode="json")
    ingest_settings = spec.parameters.ingest
    shown["ingest"] = {
        key: value
        for key, value in shown["ingest"].items()
        if key not in ingest_settings.registry or key == ingest_settings.source
    }
    return shown


def create_pipelines(spec: RunSpec) -> dict[str, Pipeline]:
    """Every pipeline of the run specification, each node with its settings bound."""
    parameters, runs = spec.parameters, spec.runs()
    scoring, tune_settings = parameters.evaluate, parameters.tune
    tuned_from = {name: spec.tuning_lineage(name) for name in spec.experiments}
    comparison = Comparison(
        runs=tuple(runs),
        samplings=tuple(sorted({run.sampling for run in runs if run.trained})),
        experiments=tuple(spec.experiments),
        expected={run.name: _expected(spec, run, scoring) for run in runs},
        tuned_from=tuned_from,
        use=tune_settings.use,
        settings=scoring,
    )
    compared = compare.create_pipeline(comparison, described(spec))
    pipelines = {
        "ingest": ingest.create_pipeline(parameters.ingest),
        "pairs": pairs.create_pipeline(parameters.pairs, parameters.augment),
        "tune": tune.create_pipeline(
            spec.spaces, tune_settings, tuned_from, parameters.seeds[0], scoring.collapse_threshold
        ),
        "train": train.create_pipeline(
            runs,
            spec.spaces,
            tuned_from if tune_settings.use else {},  # nothing to check of an untuned record
            tune_settings.use,
            {
                "model": parameters.model,
                "checkpoint_dir": parameters.checkpoint_dir,
                "collapse_threshold": scoring.collapse_threshold,
            },
        ),
        "embed": embed.create_pipeline(runs, parameters.embed),
        # re-scores the embeddings on disk and rewrites the comparison; never trains
        "evaluate": evaluate.create_pipeline(runs, scoring) + compared,
        "compare": compared,
    }
    pipelines["__default__"] = sum(pipelines.values())
    return pipelines


def _expected(spec: RunSpec, run: Run, scoring: ScoringSettings) -> dict[str, str]:
    """What the run's results must have been made from: its settings (a tuned run's, its
    tuning record holds), the corrupted test images its embeddings hold and the scoring
    settings."""
    settings = spec.settings_fingerprint(run)
    return {
        "scoring": scoring.battery_fingerprint(),
        "corruptions": spec.parameters.embed.corruption_fingerprint(),
        **({"settings": settings} if settings else {}),
    }


def register_pipelines() -> dict[str, Pipeline]:
    global built_from
    parameters = run_parameters()
    pipelines = create_pipelines(build_spec(parameters))
    built_from = parameters
    return pipelines
