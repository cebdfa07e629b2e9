"""One run's failure never stops the others: what the runners share to go on without it.

A node in a run's or an experiment's namespace (tune, train, embed, evaluate) that fails takes
down only what depends on it: the later nodes of that namespace are not run, and each artifact
they would have made that a shared node (the comparison) reads is replaced, for this run of the
pipeline, by a :class:`~crl_pipelines.runs.RunFailure` saying which step failed and why. The
comparison names those runs and scores the others; the command then ends with
:class:`RunsFailedError`, one line naming every failed run, and exit status 1. A shared node
(ingest, pairs, the comparison) that fails still stops the run: everything depends on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kedro.io import MemoryDataset
from kedro.pipeline.node import Node

from crl_pipelines.errors import UserError, user_error
from crl_pipelines.runs import RunFailure

log = logging.getLogger(__name__)
# a child of the command line's logger, which conf/logging.yml sends to the log file only
tracebacks = logging.getLogger("crl_pipelines.cli.failures")


class RunsFailedError(UserError, RuntimeError):
    """Some runs failed; the others finished. The message names each failed run and why."""


def describe(node_name: str, error: BaseException) -> str:
    """One line for a failed node: a user's mistake by its message, a bug by its type (its
    traceback is in the log file)."""
    mistake = user_error(error)
    if mistake is not None:
        return f"{node_name}: {' '.join(str(mistake).split())}"
    text = " ".join(str(error).split())[:300]
    return f"{node_name}: {type(error).__name__}: {text} (a bug: the traceback is in the log file)"


def stand_in(catalog: Any, unmade: Mapping[str, RunFailure]) -> None:
    """Replace each dataset of ``unmade`` in ``catalog`` by its failure, for this run only
    (without the warning Kedro's catalog logs of every replaced dataset: this one is meant)."""
    catalog_log = getattr(catalog, "_logger", None) or logging.getLogger("kedro.io")
    level = catalog_log.level
    catalog_log.setLevel(logging.ERROR)
    try:
        for name, failure in unmade.items():
            catalog[name] = MemoryDataset(failure, copy_mode="assign")
    finally:
        catalog_log.setLevel(level)


def failure_message(failed: dict[str, str], not_run: Iterable[str]) -> str:
    """The command's last line when runs failed: each failure, what was not run for it, and
    what to do."""
    skipped = sorted(set(not_run))
    after = f"; not run, since they need it: {', '.join(skipped)}" if skipped else ""
    count = f"{len(failed)} step{'s' if len(failed) > 1 else ''} failed"
    return (
        f"{count}: {'; '.join(failed.values())}{after}. The runs that did not fail are kept, "
        "and the comparison and report name the failed ones: fix the cause and run the same "
        "command again (finished runs resume from their checkpoints)"
    )


class Failures:
    """The failed nodes of a pipeline run, and the datasets they leave unmade."""

    def __init__(self) -> None:
        self.failed: dict[str, str] = {}  # node → why
        self.not_run: list[str] = []
        self.unmade: dict[str, RunFailure] = {}  # dataset → the failure that left it unmade

    def __bool__(self) -> bool:
        return bool(self.failed)

    def lost_inputs(self, node: Node) -> list[str]:
        return [name for name in node.inputs if name in self.unmade]

    def fail(self, node: Node, error: BaseException) -> None:
        """``node`` raised ``error``: logged with its traceback (the log file), its outputs
        unmade."""
        why = describe(node.name, error)
        log.error("%s; the other runs go on", why)
        tracebacks.error("%s failed", node.name, exc_info=error)
        self.failed[node.name] = why
        self.unmade.update({name: RunFailure(why) for name in node.outputs})

    def skip(self, node: Node, lost: list[str]) -> None:
        """``node`` is not run: it needs ``lost``, which a failed node did not make (named in
        the last line when it is not in a failed node's namespace: the rest of a failed run is
        not news)."""
        failure = self.unmade[lost[0]]
        log.info("%s: not run, it needs %s", node.name, lost[0])
        failed_namespaces = {name.rpartition(".")[0] for name in self.failed}
        if node.namespace not in failed_namespaces:
            self.not_run.append(node.name)
        self.unmade.update({name: failure for name in node.outputs})

    def error(self) -> RunsFailedError:
        return RunsFailedError(failure_message(self.failed, self.not_run))
