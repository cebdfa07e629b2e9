"""Scale-out: N tiny experiments one after another against a local two-worker Dask cluster, and
one experiment on one rank against two ranks (torch.distributed, gloo on the CPU).

Run: ``.venv/bin/python benchmarks/bench_scaleout.py [--experiments 4] [--epochs 3]``. Prints the
machine, then each comparison as a table: wall time of each way, the ratio, and how far the
models of the two ways are apart (largest absolute weight difference), so a speed-up that
changed the result shows. The library is driven directly (no Kedro), so it runs wherever torch
and ``distributed`` are installed; a part whose engine is missing says so and is skipped.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

LOSSES = ["contrastive", "triplet", "ntxent", "cross_entropy", "supcon", "align_uniform"]
LOSS_PARAMS = {"contrastive": {"margin": 1.0}, "triplet": {"margin": 1.0}}


def tiny_inputs(size: int, epochs: int, pairs_per_class: int) -> tuple[Any, Any]:
    """A stratified digits subset and its class-pair plan (the tiny test settings' shape)."""
    from crl_pipelines.data import stratified_subsample
    from crl_pipelines.sampling.class_pairs import class_pair_plan
    from crl_pipelines.sources.digits import load_digits_dataset

    train = stratified_subsample(load_digits_dataset(), size, seed=0)
    plan = class_pair_plan(train.labels, train.class_names, epochs, pairs_per_class, seed=0)
    return train, plan


def experiment(loss: str, world: int = 1) -> Any:
    from crl_pipelines.models import ModelSettings
    from crl_pipelines.training import Experiment, TrainingSettings

    training = TrainingSettings(device="cpu", distributed={"nproc_per_node": world})
    model = ModelSettings(arch="small_cnn", embedding_dim=16)
    return Experiment(loss, loss, LOSS_PARAMS.get(loss, {}), "class_pairs", model, training)


def train_one(train: Any, plan: Any, loss: str, threads: int, world: int = 1) -> np.ndarray:
    """Train one experiment; its weights as one vector (for comparing two ways)."""
    from crl_pipelines.training import train_encoder

    torch.set_num_threads(threads)
    encoder, _ = train_encoder(train, plan, experiment(loss, world), seed=0)
    return torch.cat([value.flatten().float() for value in encoder.state_dict().values()]).numpy()


def warm_up() -> None:
    import crl_pipelines.training  # noqa: F401

    torch.ones(1).sum()


def timed(function: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def experiments_on_a_cluster(train: Any, plan: Any, losses: list[str], cores: int) -> None:
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        print("Dask part skipped: the `distributed` package is not installed\n")
        return
    sequential, alone = timed(lambda: [train_one(train, plan, loss, cores) for loss in losses])
    started = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:  # fmt: skip
        client.run(warm_up)  # imports and torch's start-up, which a long run pays once
        startup = time.perf_counter() - started
        threads = max(1, cores // 2)
        spread, together = timed(lambda: client.gather([
            client.submit(train_one, train, plan, loss, threads, pure=False) for loss in losses
        ]))  # fmt: skip
    apart = max(float(np.abs(a - b).max()) for a, b in zip(alone, together, strict=True))
    print(f"{len(losses)} experiments ({', '.join(losses)}), {plan['anchors'].shape} plan\n")
    print("| way | torch threads a process | wall (s) |")
    print("|---|---:|---:|")
    print(f"| one after another, one process | {cores} | {sequential:.1f} |")
    print(f"| local Dask cluster, 2 workers | {threads} | {spread:.1f} |")
    print(f"\nratio (one after another ÷ cluster): {sequential / spread:.2f}×; cluster start-up "
          f"{startup:.1f} s, not counted; largest weight difference {apart:.1e}\n")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=4, help=f"the first N of {LOSSES}")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=600, help="train images (digits subset)")
    parser.add_argument("--pairs-per-class", type=int, default=4)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"machine: {platform.machine()}, {cores} cores, {platform.platform()}; "
          f"torch {torch.__version__}; CUDA: {gpu}\n")  # fmt: skip
    train, plan = tiny_inputs(args.images, args.epochs, args.pairs_per_class)
    experiments_on_a_cluster(train, plan, LOSSES[: args.experiments], cores)


if __name__ == "__main__":
    main()
