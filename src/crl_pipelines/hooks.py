"""Project hooks: stop a run early, with a plain message, when it cannot succeed."""

from __future__ import annotations

from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines as registered
from kedro.pipeline import Pipeline

from crl_pipelines.errors import UserError
from crl_pipelines.spec import build_spec

STAGES = ("ingest", "pairs", "train", "embed", "evaluate")


class MissingInputsError(UserError, RuntimeError):
    """A pipeline was asked to run before the pipelines that make its inputs."""


class EnvironmentMismatchError(UserError, RuntimeError):
    """The parameters declare other runs than the pipelines were built for."""


class ProjectHooks:
    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._check_parameters(catalog)
        self._check_inputs_exist(pipeline, catalog)

    @staticmethod
    def _check_parameters(catalog: Any) -> None:
        """The run's parameters (``--params`` overrides included) make a valid specification
        whose runs are the ones the pipelines were built for."""
        declared = {run.name for run in build_spec(catalog.load("parameters")).runs()}
        built = {node.namespace for node in registered["train"].nodes}
        if declared != built:
            raise EnvironmentMismatchError(
                f"the parameters declare runs {sorted(declared)} but the pipelines were built for "
                f"{sorted(built)}: when another environment changes `experiments` or `seeds`, "
                "select it with KEDRO_ENV=<env> rather than --env"
            )

    @staticmethod
    def _check_inputs_exist(pipeline: Pipeline, catalog: Any) -> None:
        missing = sorted(
            name
            for name in pipeline.inputs()
            if not name.startswith("params:") and name != "parameters" and not catalog.exists(name)
        )
        if not missing:
            return
        makers = sorted(stage for stage in STAGES if set(missing) & registered[stage].all_outputs())
        raise MissingInputsError(
            f"this run needs {', '.join(missing)}, which no earlier run has written yet. "
            f"Run `kedro run --pipelines={','.join(makers)}` first, "
            "or plain `kedro run` for the whole flow."
        )
