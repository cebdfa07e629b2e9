"""Project hooks: stop a run early, with a plain message, when it cannot succeed."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines as registered
from kedro.pipeline import Pipeline

from crl_pipelines.experiments import plan_runs


class MissingInputsError(RuntimeError):
    """A pipeline was asked to run before the pipelines that make its inputs."""


class ProjectHooks:
    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._check_experiments_match(catalog)
        self._check_inputs_exist(pipeline, catalog)

    @staticmethod
    def _check_experiments_match(catalog: Any) -> None:
        experiments = dict(catalog.load("params:experiments") or {})
        seeds = list(catalog.load("params:seeds")) if "params:seeds" in catalog else [0]
        declared = {run.name for run in plan_runs(experiments, seeds)}
        built = {node.namespace for node in registered["train"].nodes}
        if declared != built:
            raise RuntimeError(
                f"the parameters declare runs {sorted(declared)} but the pipelines were built for "
                f"{sorted(built)}: when another environment changes `experiments` or `seeds`, "
                "select it with KEDRO_ENV=<env> rather than --env"
            )

    @staticmethod
    def _check_inputs_exist(pipeline: Pipeline, catalog: Any) -> None:
        missing = sorted(
            name
            for name in pipeline.inputs()
            if not name.startswith("params:") and not catalog.exists(name)
        )
        if not missing:
            return
        makers = sorted(
            {
                stage
                for stage in ("ingest", "pairs", "train", "embed", "evaluate")
                if set(missing) & registered[stage].all_outputs()
            }
        )
        raise MissingInputsError(
            f"this run needs {', '.join(missing)}, which no earlier run has written yet. "
            f"Run `kedro run --pipelines={','.join(makers)}` first, "
            "or plain `kedro run` for the whole flow."
        )
