"""The project's default runner: Kedro's sequential runner, but one run's failure never stops
the others (:mod:`crl_pipelines.run_failures`).

``kedro run`` uses it unless ``--runner`` names another (``--dask`` names the
:class:`~crl_pipelines.dask_runner.DaskRunner`, which goes on the same way).
"""

from __future__ import annotations

import logging
from collections import Counter
from itertools import chain
from typing import Any

from kedro.pipeline import Pipeline
from kedro.runner import SequentialRunner
from kedro.runner.task import Task

from crl_pipelines.run_failures import Failures, stand_in


class IsolatingRunner(SequentialRunner):
    """Run the nodes in order; a failing node of a run's or an experiment's namespace is
    logged, the nodes that need what it did not make are not run, and a shared node reads a
    :class:`~crl_pipelines.runs.RunFailure` in place of each such dataset. At the end, when any
    node failed, :class:`~crl_pipelines.run_failures.RunsFailedError` names them."""

    @property
    def _logger(self) -> logging.Logger:
        """Kedro's sequential runner's logger: its records (each node completed, the run's
        end) go where conf/logging.yml sends Kedro's, the log file."""
        return logging.getLogger(SequentialRunner.__module__)

    def __repr__(self) -> str:
        """Named as the sequential runner it is: kedro-viz records a run's workflow (the node
        events it shows) only for a runner whose name says so."""
        return f"<kedro.runner.sequential_runner.SequentialRunner object ({type(self).__name__})>"

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
    ) -> None:
        self._validate_catalog(catalog)
        self._validate_nodes(pipeline.nodes)
        self._set_manager_datasets(catalog)
        load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        failures = Failures()
        for node in pipeline.nodes:
            lost = failures.lost_inputs(node)
            if lost and node.namespace:
                failures.skip(node, lost)
                continue
            stand_in(catalog, {name: failures.unmade[name] for name in lost})
            try:
                Task(node, catalog, self._is_async, hook_manager, run_id).execute()
            except Exception as error:
                if not node.namespace:
                    raise
                failures.fail(node, error)
                continue
            self._logger.info("Completed node: %s", node.name)
            self._release_datasets(node, catalog, load_counts, pipeline)
        if failures:
            raise failures.error()
