"""Data-parallel training: one run over ``nproc_per_node`` processes on each of ``nnodes`` nodes,
started with PyTorch's elastic launcher (c10d rendezvous, spawned processes).

:func:`run_on_ranks` starts this node's processes, joins the rendezvous, sets up the process
group (gloo on the CPU, NCCL on CUDA, one GPU per process) and returns what each process of this
node returned. Every node runs the same command with the same ``rdzv_endpoint``; on a single node
a free local port is used. What each process computes is in
:mod:`crl_pipelines.training.collectives`; :func:`crl_pipelines.training.train_encoder` calls
this module when ``training.distributed`` asks for more than one process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs
from torch.distributed.launcher.api import LaunchConfig, elastic_launch

from crl_pipelines.errors import UserError
from crl_pipelines.training.collectives import Shard
from crl_pipelines.training_settings import DistributedSettings

LOCAL_ENDPOINT = "127.0.0.1:0"  # one node: the rendezvous store takes a free port


class DistributedError(UserError, RuntimeError):
    """A data-parallel run that cannot start or whose processes disagree."""


def run_on_ranks(
    function: Callable[..., Any],
    args: tuple[Any, ...],
    settings: DistributedSettings,
    *,
    device: torch.device,
    run_id: str,
) -> dict[int, Any]:
    """``function(shard, device, *args)`` on this node's processes of ``settings``' world;
    what each returned, by global rank (this node's ranks only). ``run_id`` names the run in
    the rendezvous: every node of a run must pass the same one. A :class:`UserError` raised in
    a process is raised here, as one line."""
    if multiprocessing.current_process().daemon:
        raise DistributedError(
            f"training.distributed asks for {settings.world} processes, and this process is "
            "daemonic (a Dask worker?), which cannot start them: start the Dask workers with "
            "DASK_DISTRIBUTED__WORKER__DAEMON=False, or set "
            "training.distributed.nproc_per_node: 1 and nnodes: 1"
        )
    if device.type == "cuda" and torch.cuda.device_count() < settings.nproc_per_node:
        raise DistributedError(
            f"training.distributed.nproc_per_node is {settings.nproc_per_node}, and this node "
            f"has {torch.cuda.device_count()} GPUs: one process per GPU"
        )
    with tempfile.TemporaryDirectory(prefix="torchelastic_") as launcher_logs:
        outputs = _launch(settings, run_id, function, args, device, launcher_logs)
    errors = [output for _, output in sorted(outputs.items()) if isinstance(output, _Failure)]
    if errors:
        raise DistributedError(errors[0].message)
    return outputs


def _launch(
    settings: DistributedSettings,
    run_id: str,
    function: Callable[..., Any],
    args: tuple[Any, ...],
    device: torch.device,
    launcher_logs: str,
) -> dict[int, Any]:
    """This node's processes through the elastic launcher, its per-rank folders in
    ``launcher_logs`` (removed afterwards, where the launcher would leave one in /tmp per run)."""
    endpoint = settings.rdzv_endpoint or LOCAL_ENDPOINT
    host = endpoint.rpartition(":")[0]
    config = LaunchConfig(
        min_nodes=settings.nnodes,
        max_nodes=settings.nnodes,
        nproc_per_node=settings.nproc_per_node,
        run_id=re.sub(r"[^A-Za-z0-9_.-]", "_", run_id),
        rdzv_endpoint=endpoint,
        rdzv_backend="c10d",
        max_restarts=0,  # a deterministic run fails the same way again
        start_method="spawn",
        local_addr=host if host in ("127.0.0.1", "localhost") else None,
        logs_specs=DefaultLogsSpecs(log_dir=launcher_logs),
    )
    threads = int(os.environ.get("OMP_NUM_THREADS", 0)) or max(
        1, (os.cpu_count() or 1) // settings.nproc_per_node
    )
    level = logging.getLogger("crl_pipelines").getEffectiveLevel()
    return elastic_launch(config, _process)(function, args, device.type, threads, level)


class _Failure:
    """A :class:`UserError` of a process, sent back as its message."""

    def __init__(self, message: str) -> None:
        self.message = message


def _process(
    function: Callable[..., Any], args: tuple[Any, ...], kind: str, threads: int, level: int
) -> Any:
    """One process of the run: the process group, then ``function``; its result or failure."""
    torch.set_num_threads(threads)
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    _log_from(rank, level)
    device = torch.device(kind, local) if kind == "cuda" else torch.device(kind)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        result = function(Shard(rank, dist.get_world_size()), device, *args)
        dist.barrier()  # rank 0's last checkpoint is written before any node reads it
        return result
    except UserError as error:
        return _Failure(str(error))
    finally:
        dist.destroy_process_group()


def _log_from(rank: int, level: int) -> None:
    """Rank 0 logs like the parent process; the others only errors (they train the same run)."""
    logger = logging.getLogger("crl_pipelines")
    if rank == 0:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level)
    else:
        logger.setLevel(logging.ERROR)


def check_agreement(value: int, what: str, shard: Shard) -> None:
    """Stop every process, naming ``what``, unless all of them hold the same ``value``."""
    if shard.world == 1:
        return
    values: list[Any] = [None] * shard.world
    dist.all_gather_object(values, value)
    if len(set(values)) > 1:
        raise DistributedError(
            f"the processes of this run disagree on {what} ({values} by rank): each must see "
            "the same files; put data/ and the checkpoint_dir on storage every node shares"
        )
