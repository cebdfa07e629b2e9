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
    from crl_pipelines.images import stratified_subsample
    from crl_pipelines.sampling.class_pairs import class_pair_plan
    from crl_pipelines.sources.digits import load_digits_dataset

    train = stratified_subsample(load_digits_dataset(), size, seed=0)
    plan = class_pair_plan(train.labels, train.class_names, epochs, pairs_per_class, seed=0)
    return train, plan


def experiment(loss: str, arch: str = "small_cnn", world: int = 1) -> Any:
    """Sync batch norm on several ranks, so that both ways train the same model."""
    from crl_pipelines.encoder_settings import ModelSettings
    from crl_pipelines.experiments import Experiment
    from crl_pipelines.training_settings import TrainingSettings

    distributed = {"nproc_per_node": world, "sync_batchnorm": world > 1}
    training = TrainingSettings(device="cpu", distributed=distributed)
    model = ModelSettings(arch=arch, embedding_dim=16)
    return Experiment(loss, loss, LOSS_PARAMS.get(loss, {}), "class_pairs", model, training)


def train_one(
    train: Any, plan: Any, loss: str, threads: int, arch: str = "small_cnn", world: int = 1
) -> tuple[np.ndarray, list[float]]:
    """Train one experiment; its weights as one vector (for comparing two ways) and the
    seconds of each epoch (without the processes' start-up)."""
    from crl_pipelines.training.trainer import train_encoder

    torch.set_num_threads(threads)
    encoder, progress = train_encoder(train, plan, experiment(loss, arch, world), seed=0)
    weights = torch.cat([value.flatten().float() for value in encoder.state_dict().values()])
    return weights.numpy(), [row["seconds"] for row in progress.history]


def largest_difference(one: list, other: list) -> float:
    return max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(one, other, strict=True))


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
    same_threads = [train_one(train, plan, loss, threads) for loss in losses]
    apart, floor = (
        largest_difference(together, same_threads),
        largest_difference(alone, same_threads),
    )
    print(f"{len(losses)} experiments ({', '.join(losses)}), {plan['anchors'].shape} plan\n")
    print("| way | torch threads a process | wall (s) |")
    print("|---|---:|---:|")
    print(f"| one after another, one process | {cores} | {sequential:.1f} |")
    print(f"| local Dask cluster, 2 workers | {threads} | {spread:.1f} |")
    print(
        f"\nratio (one after another ÷ cluster): {sequential / spread:.2f}×; cluster start-up "
        f"{startup:.1f} s, not counted"
    )
    print(f"largest weight difference from the same runs in this process set to {threads} "
          f"threads: the cluster's {apart:.1e}, one after another at {cores} threads {floor:.1e}. "
          "How a process sets up its threads changes the order of sums, which training "
          "amplifies; started alike (OMP_NUM_THREADS=1), the cluster's report is byte-identical "
          "(tests/integration/test_dask_runner.py)\n")  # fmt: skip


def one_experiment_on_ranks(train: Any, plan: Any, arch: str, cores: int) -> None:
    """One run on one process (every core) against two (half the cores each, gloo)."""
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        print("rank part skipped: this torch has no gloo backend\n")
        return
    os.environ["OMP_NUM_THREADS"] = str(max(1, cores // 2))  # what each spawned rank uses
    print(f"one ntxent run, {arch}, {plan['anchors'].shape} plan (epochs, steps, pairs a step)\n")
    print("| ranks | torch threads a rank | wall (s) | seconds an epoch (median) |")
    print("|---:|---:|---:|---:|")
    results = []
    for world, threads in [(1, cores), (2, max(1, cores // 2))]:
        wall, result = timed(
            lambda w=world, t=threads: train_one(train, plan, "ntxent", t, arch, w)
        )
        results.append(result)
        print(f"| {world} | {threads} | {wall:.1f} | {np.median(result[1]):.2f} |")
    epochs = [np.median(result[1]) for result in results]
    floor = largest_difference(results[:1], [train_one(train, plan, "ntxent", 1, arch)])
    print(
        f"\nratio of epoch times (1 rank ÷ 2 ranks): {epochs[0] / epochs[1]:.2f}×; the wall "
        "time of 2 ranks includes starting the processes and the rendezvous"
    )
    print(f"largest weight difference (sync batch norm): "
          f"{largest_difference(results[:1], results[1:]):.1e}; of one rank at {cores} and at "
          f"1 thread (the order of sums alone): {floor:.1e}\n")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=4, help=f"the first N of {LOSSES}")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--images", type=int, default=600, help="train images (digits subset)")
    parser.add_argument("--pairs-per-class", type=int, default=4)
    parser.add_argument("--rank-arch", default="resnet18", help="model of the rank comparison")
    parser.add_argument("--rank-pairs-per-class", type=int, default=12, help="its batch: ×20")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"machine: {platform.machine()}, {cores} cores, {platform.platform()}; "
          f"torch {torch.__version__}; CUDA: {gpu}\n")  # fmt: skip
    train, plan = tiny_inputs(args.images, args.epochs, args.pairs_per_class)
    experiments_on_a_cluster(train, plan, LOSSES[: args.experiments], cores)
    train, plan = tiny_inputs(args.images, 2, args.rank_pairs_per_class)
    one_experiment_on_ranks(train, plan, args.rank_arch, cores)


if __name__ == "__main__":
    main()
