"""A Kedro runner that trains the runs of a comparison at once, on a Dask cluster.

Each run's branch (the nodes of its namespace ``<experiment>.seed<k>``: train, embed, evaluate) is
one Dask task; the shared stages before it (ingest, pairs) and the comparison after it run in the
calling process. Only persisted datasets cross from one task to another (a worker is another
process, often another machine), which is checked before anything runs.

``kedro run --runner=crl_pipelines.dask_runner.DaskRunner --runner-params=address=tcp://host:8786``
or, shorter, ``kedro run --dask tcp://host:8786`` (``--dask`` alone starts a local cluster of
``workers`` processes on this machine; ``CRL_DASK_SCHEDULER`` names the scheduler for ``dvc
repro``). Workers that advertise a ``GPU`` resource (``dask worker ... --resources GPU=1``) get one
run each. A run that fails is reported by name while the others finish; a worker lost mid-run has
its run rescheduled by Dask (``distributed.scheduler.allowed-failures``), and training resumes from
the run's last checkpoint. Runs are spread, not fused: a task trains its own run only
(:mod:`crl_pipelines.training.fused` is off in the workers).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from kedro.framework.hooks.manager import _NullPluginManager
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Pipeline
from kedro.pipeline.node import Node
from kedro.runner import AbstractRunner
from kedro.runner.task import Task

from crl_pipelines.errors import UserError
from crl_pipelines.progress import PROGRESS_TOPIC, forward_logs
from crl_pipelines.run_failures import RunsFailedError, failure_message, stand_in
from crl_pipelines.runs import RunFailure

SCHEDULER_ENV = "CRL_DASK_SCHEDULER"
NOT_RUN = "not run"


class InMemoryCrossingError(UserError, ValueError):
    """A dataset would cross between processes without being persisted."""


@dataclass
class Unit:
    """What runs as one piece: a run's branch (on the cluster) or one shared node (here)."""

    name: str
    nodes: list[Node]
    remote: bool
    needs: set[str] = field(default_factory=set)

    def datasets(self) -> set[str]:
        return {name for node in self.nodes for name in node.inputs + node.outputs}

    def outputs(self) -> set[str]:
        return {name for node in self.nodes for name in node.outputs}


def plan_units(pipeline: Pipeline) -> dict[str, Unit]:
    """The pipeline cut into units, in topological order, each knowing the units it needs."""
    units: dict[str, Unit] = {}
    owner: dict[Node, str] = {}
    for node in pipeline.nodes:
        name = node.namespace or node.name
        units.setdefault(name, Unit(name, [], remote=node.namespace is not None))
        units[name].nodes.append(node)
        owner[node] = name
    for node, parents in pipeline.node_dependencies.items():
        units[owner[node]].needs |= {owner[parent] for parent in parents} - {owner[node]}
    return units


def check_persisted(units: dict[str, Unit], catalog: Any) -> None:
    """Every dataset a remote unit shares with another unit is saved somewhere both can read."""
    for unit in units.values():
        if not unit.remote:
            continue
        others = set().union(*(other.datasets() for other in units.values() if other is not unit))
        for name in sorted((unit.datasets() & others) - {"parameters"}):
            if name.startswith("params:"):
                continue  # constants travel with the task
            if isinstance(catalog.get(name), MemoryDataset):
                raise InMemoryCrossingError(
                    f"dataset {name!r} passes between {unit.name!r} and another stage but is "
                    "kept in memory, which a Dask worker cannot see; declare it with a file in "
                    "conf/base/catalog.yml"
                )


def run_branch(
    nodes: list[Node], catalog: DataCatalog, project: str, run_id: str | None, threads: int | None
) -> dict[str, Any]:
    """Run one branch's nodes in order on a worker, in the project's folder (parameters such as
    ``checkpoint_dir`` are relative to it); where and how long, for the driver's log."""
    import torch

    from crl_pipelines.training.fused import FUSE_VARIABLE

    if not Path(project, "conf").is_dir():
        raise UserError(
            f"the Dask worker on {socket.gethostname()} has no project at {project}: workers read "
            "and write the project's data/ there, so it must be on storage shared by every "
            "machine, at the same path"
        )
    if threads:
        torch.set_num_threads(threads)
    # every run is its own task here, spread over the workers: no run trains another's epochs
    os.environ[FUSE_VARIABLE] = "0"
    started = perf_counter()
    with forward_logs(), _inside(project):
        for node in nodes:
            Task(node, catalog, False, _NullPluginManager(), run_id).execute()
    return {"host": socket.gethostname(), "pid": os.getpid(), "seconds": perf_counter() - started}


@contextmanager
def _inside(folder: str) -> Iterator[None]:
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


class DaskRunner(AbstractRunner):
    """Run each run's branch as one task on a Dask cluster, the shared stages here.

    ``address``: the scheduler (``tcp://host:8786``); without it, ``CRL_DASK_SCHEDULER``, else a
    local cluster of ``workers`` processes with one task each. ``threads``: torch threads per
    task (default: this machine's cores shared among the local workers; on a remote cluster,
    torch's own default).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 2,
        threads: int | None = None,
        is_async: bool = False,
    ) -> None:
        super().__init__(is_async=is_async)
        self.address = address or os.environ.get(SCHEDULER_ENV) or None
        self.workers = int(workers)
        self.threads = int(threads) if threads else None

    def _get_executor(self, max_workers: int) -> None:
        return None

    def _run(
        self,
        pipeline: Pipeline,
        catalog: Any,
        hook_manager: Any = None,
        run_id: str | None = None,
    ) -> None:
        units = plan_units(pipeline)
        check_persisted(units, catalog)
        with self._client() as client:
            client.subscribe_topic(PROGRESS_TOPIC, self._relay)
            lost = self._drive(client, units, catalog, hook_manager or _NullPluginManager(), run_id)
        if lost:
            failed = {name: f"{name}: {why}" for name, why in lost.items() if why != NOT_RUN}
            skipped = [name for name, why in lost.items() if why == NOT_RUN]
            raise RunsFailedError(failure_message(failed, skipped))

    def _drive(self, client: Any, units: dict[str, Unit], catalog, hooks, run_id) -> dict[str, str]:
        """Run every unit once its needs are done or lost (a shared unit reads a
        :class:`RunFailure` in place of what a lost unit did not make); the units lost (failed,
        or not run since they need a failed one), why."""
        from distributed import wait

        resources = {"GPU": 1} if _has_gpus(client) else None
        pending, futures = dict(units), {}
        done: set[str] = set()
        lost: dict[str, str] = {}
        unmade: dict[str, RunFailure] = {}
        total, finished = sum(unit.remote for unit in units.values()), 0
        while pending or futures:
            _skip_blocked(pending, lost, unmade, self._logger)
            ready = [unit for unit in pending.values() if unit.needs <= done | lost.keys()]
            for unit in ready:
                del pending[unit.name]
                if unit.remote:
                    futures[self._submit(client, unit, catalog, run_id, resources)] = unit
                else:
                    stand_in(catalog, {n: unmade[n] for n in unit.datasets() if n in unmade})
                    self._run_here(unit, catalog, hooks, run_id)
                    done.add(unit.name)
            if any(not unit.remote for unit in ready):
                continue  # what ran here may have made more units ready
            if not futures:
                break
            for future in wait(list(futures), return_when="FIRST_COMPLETED").done:
                unit, finished = futures.pop(future), finished + 1
                if self._settle(future, unit, f"[{finished}/{total}]", lost):
                    done.add(unit.name)
                else:
                    failure = RunFailure(f"{unit.name}: {lost[unit.name]}")
                    unmade.update(dict.fromkeys(unit.outputs(), failure))
        return lost

    def _settle(self, future: Any, unit: Unit, count: str, lost: dict[str, str]) -> bool:
        """Whether the ended ``future``'s unit is done (logged either way; why in ``lost``)."""
        if future.status == "lost":  # it finished, then its worker left with the result
            future.cancel()  # its outputs are written: Dask must not run it again
            self._logger.info("%s %s finished (on a worker since lost)", count, unit.name)
            return True
        if future.status == "finished":
            where = future.result()
            self._logger.info(
                "%s %s finished on %s (pid %d) in %.1f s",
                count, unit.name, where["host"], where["pid"], where["seconds"],
            )  # fmt: skip
            return True
        ended = future.status
        lost[unit.name] = _describe(future.exception()) if ended == "error" else f"Dask {ended} it"
        self._logger.error("%s %s failed: %s", count, unit.name, lost[unit.name])
        return False

    def _submit(self, client: Any, unit: Unit, catalog: Any, run_id, resources) -> Any:
        branch_catalog = DataCatalog(datasets={name: catalog.get(name) for name in unit.datasets()})
        self._logger.info("%s: sent to the cluster", unit.name)
        return client.submit(
            run_branch, unit.nodes, branch_catalog, str(Path.cwd()), run_id, self._task_threads(),
            key=f"{unit.name}-{run_id or os.getpid()}", resources=resources, pure=False,
        )  # fmt: skip

    def _run_here(self, unit: Unit, catalog: Any, hooks: Any, run_id: str | None) -> None:
        for node in unit.nodes:
            Task(node, catalog, self._is_async, hooks, run_id).execute()
            self._logger.debug("Completed node: %s", node.name)

    def _relay(self, event: tuple[float, dict[str, Any]]) -> None:
        message = event[1]
        self._logger.log(message["level"], "%s", message["msg"])

    def _task_threads(self) -> int | None:
        if self.threads or self.address:
            return self.threads
        return max(1, (os.cpu_count() or 1) // self.workers)

    @contextmanager
    def _client(self) -> Iterator[Any]:
        """A client of the named scheduler, or of a local cluster started (and stopped) here;
        the console has one line of where it is (Dask's own records go to the log file:
        conf/logging.yml)."""
        import dask
        from distributed import Client, LocalCluster

        if self.address:
            try:
                client = Client(self.address, timeout="20s")
            except OSError as error:
                raise UserError(
                    f"no Dask scheduler answers at {self.address} ({error}); start one with "
                    f"`dask scheduler`, or unset {SCHEDULER_ENV} / drop the address to use a local "
                    "cluster"
                ) from error
            with client:
                self._logger.info("using the Dask cluster: %s", _whereabouts(client))
                yield client
            return
        # non-daemonic workers, so a task may start torch.distributed's rank processes; its
        # records at every level reach the log file (silence_logs would quiet the file handler)
        with dask.config.set({"distributed.worker.daemon": False}), LocalCluster(
            n_workers=self.workers, threads_per_worker=1, processes=True,
            dashboard_address=None, silence_logs=False,
        ) as cluster, Client(cluster) as client:  # fmt: skip
            self._logger.info("started a local Dask cluster: %s", _whereabouts(client))
            yield client


def _whereabouts(client: Any) -> str:
    """Where the cluster is: its scheduler, workers and dashboard (one line)."""
    workers = len(client.scheduler_info(n_workers=-1)["workers"])
    try:
        link = client.dashboard_link  # "" or a KeyError where the scheduler serves none
    except KeyError:
        link = None
    dashboard = f"dashboard {link}" if link else "no dashboard"
    return f"scheduler {client.scheduler.address}, {workers} workers, {dashboard}"


def _has_gpus(client: Any) -> bool:
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    return any(worker.get("resources", {}).get("GPU", 0) >= 1 for worker in workers)


def _skip_blocked(
    pending: dict[str, Unit], lost: dict[str, str], unmade: dict[str, RunFailure], logger: Any
) -> None:
    """Drop the runs' units that need a lost one, noting which; what they would have made is
    unmade, for the same reason."""
    changed = True
    while changed:
        changed = False
        for name, unit in list(pending.items()):
            missing = sorted(unit.needs & lost.keys())
            if unit.remote and missing:
                lost[name] = NOT_RUN
                logger.warning("%s: not run, it needs %s", name, missing[0])
                failure = RunFailure(f"{name}: not run, since {missing[0]} failed")
                unmade.update(dict.fromkeys(unit.outputs(), failure))
                del pending[name]
                changed = True


def _describe(error: BaseException | None) -> str:
    """One line for a task's error (a lost worker is Dask's KilledWorker)."""
    text = str(error).strip().splitlines()[0] if error is not None and str(error).strip() else ""
    return f"{type(error).__name__}: {text[:300]}"
