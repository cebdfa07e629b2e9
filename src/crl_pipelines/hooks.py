"""Project hooks: stop a run early, with a plain message, when it cannot succeed; tell the
console which node starts, in which run, and that a long node still runs
(:mod:`crl_pipelines.progress`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from time import perf_counter
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines as registered
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node

from crl_pipelines import pipeline_registry, progress
from crl_pipelines.atomic_writes import check_writable_folder
from crl_pipelines.errors import UserError

STAGES = ("ingest", "pairs", "tune", "train", "embed", "evaluate")
STEPPED = "train"  # the stage whose progress is its steps (progress.epoch_bars), not a heartbeat
# the stage a node is shown under: `evaluate` holds the comparison too, so `compare` comes first
SHOWN_STAGES = ("ingest", "pairs", "tune", "train", "embed", "compare", "evaluate")
TRAINS = ".train_encoder"  # a run's train node: its checkpoints go under checkpoint_dir


class MissingInputsError(UserError, RuntimeError):
    """A pipeline was asked to run before the pipelines that make its inputs."""


class EnvironmentMismatchError(UserError, RuntimeError):
    """The run's parameters are not the ones the pipelines were built from."""


class ProjectHooks:
    def __init__(self) -> None:
        self._stages: dict[str, str] = {}
        self._started = perf_counter()
        self._heartbeat: progress.Heartbeat | None = None

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        self._check_parameters(catalog)
        self._check_inputs_exist(pipeline, catalog)
        if any(node.name.endswith(TRAINS) for node in pipeline.nodes):
            folder = catalog.load("parameters")["checkpoint_dir"]
            check_writable_folder(Path(folder), "checkpoint_dir")
        # a run's namespace is <experiment>.<seed>; an experiment's own (its tuning) has no place
        namespaces = [node.namespace for node in pipeline.nodes if node.namespace]
        progress.set_runs(list(dict.fromkeys(name for name in namespaces if "." in name)))
        self._stages = {
            node.name: stage for stage in reversed(SHOWN_STAGES) for node in registered[stage].nodes
        }
        self._started = perf_counter()

    @hook_impl
    def before_node_run(self, node: Node) -> None:
        stage, name = self._stages.get(node.name, "run"), node.name.rpartition(".")[2]
        progress.node_started(stage, name, node.namespace)
        if stage != STEPPED and progress.shown():
            run = f" {progress.label(node.namespace)}" if node.namespace else ""
            self._heartbeat = progress.Heartbeat(f"{stage}{run} {name}")

    @hook_impl
    def after_node_run(self) -> None:
        self._stop_heartbeat()

    @hook_impl
    def on_node_error(self) -> None:
        self._stop_heartbeat()

    def _stop_heartbeat(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None

    @hook_impl
    def after_pipeline_run(self, pipeline: Pipeline) -> None:
        progress.pipeline_finished(len(pipeline.nodes), perf_counter() - self._started)

    @staticmethod
    def _check_parameters(catalog: Any) -> None:
        """The run's parameters are the ones the pipelines were built from (their settings are
        bound to the nodes when the pipelines are registered)."""
        built_from = pipeline_registry.built_from
        given = catalog.load("parameters")
        if built_from is None or given == built_from:
            return
        raise EnvironmentMismatchError(
            f"the run's parameters differ from those its pipelines were built from (at "
            f"`{first_difference(given, built_from)}`): the pipelines are built from the "
            "parameters of the environment KEDRO_ENV names, with `kedro run`'s --params and "
            "--conf-source over them; use `kedro run --env <env> --params ...`, or, for a "
            "session made in code, set KEDRO_ENV to its env and "
            f"{pipeline_registry.RUNTIME_PARAMS_ENV} to its runtime_params (JSON)"
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
        shared = [name for name in missing if "." not in name]
        runs = sorted({name.rpartition(".")[0] for name in missing if "." in name})
        needs = shared + ([f"the outputs of {some(runs)}"] if runs else [])
        raise MissingInputsError(
            f"this run needs {', '.join(needs)}, which no earlier run has written yet. "
            f"Run `kedro run --pipelines={','.join(makers)}` first, "
            "or plain `kedro run` for the whole flow."
        )


def some(names: Iterable[str], shown: int = 4) -> str:
    """The first ``shown`` of ``names`` (sorted), and how many more: a message stays one line."""
    names = sorted(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def first_difference(first: Any, second: Any, path: str = "") -> str:
    """The dotted path of the first key at which two parameter trees differ."""
    if isinstance(first, dict) and isinstance(second, dict):
        for key in [*first, *(key for key in second if key not in first)]:
            if first.get(key, Ellipsis) != second.get(key, Ellipsis):
                return first_difference(
                    first.get(key), second.get(key), f"{path}.{key}" if path else str(key)
                )
    return path or "(the whole tree)"
