"""Tuning throughput: one study's trials trained in fused batches (ask/tell) against one trial at
a time, on the default data, with the same budget and sampler, in one run.

Run: ``.venv/bin/python benchmarks/bench_tuning.py [--experiment ntxent] [--trials 8]
[--epochs 1] [--batch 4] [--model resnet18|small_cnn] [--rounds 2]``. Prints the machine, then
one row per round (the two ways alternated: batched, one at a time, batched, ...): the wall time
of the study, trials per minute and the peak memory of the round, then the median of each way
and their ratio.

Both ways run the project's own tuner (``crl_pipelines.tuning.tuner.tune``) on a fresh SQLite
study with the same seeded TPE sampler, no pruner (so both train every epoch of every trial and
the work is the same), on ``conf/base/parameters.yml``'s data (scikit-learn's digits, the train
and validation splits as ingest makes them) and the experiment's default search space. Batched:
``tune.batch`` trials asked at once and trained in one step (one batch, one forward pass per
encoder, one optimizer with a parameter group per trial). Peak memory: the process's resident
high-water mark within the round (Linux ``clear_refs``), and its rise above the round's start.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

os.environ.setdefault("CRL_PIPELINES_PROGRESS", "0")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_training import peak_mib, reset_peak  # noqa: E402


def inputs(experiment: str, model: str | None, epochs: int):
    """The study's inputs as the tune node builds them from the default parameters."""
    from crl_pipelines.images import hold_out_validation, split_train_test
    from crl_pipelines.sampling import SAMPLINGS
    from crl_pipelines.sources import build_dataset
    from crl_pipelines.spec import build_spec
    from crl_pipelines.tuning.trials import TrialInputs, first_epochs

    parameters = yaml.safe_load((ROOT / "conf/base/parameters.yml").read_text())
    if model:
        parameters["model"] = {**parameters["model"], "arch": model}
    spec = build_spec(parameters)
    ingest = spec.parameters.ingest
    train, _ = split_train_test(build_dataset(ingest), ingest.test_fraction, ingest.seed)
    train, validation = hold_out_validation(train, ingest.validation_fraction, ingest.seed)
    space = spec.spaces[experiment]
    sampling = SAMPLINGS[space.experiment.sampling]
    plan = sampling.make_plan(train, spec.parameters.pairs, spec.parameters.augment)
    return spec, TrialInputs(train, validation, first_epochs(plan, epochs), space, 0, 0.1)


def study_round(trial_inputs, settings) -> tuple[float, float, float | None]:
    """One study of the budget: its wall seconds, its peak MiB and the MiB at its start."""
    from crl_pipelines.tuning.tuner import tune

    device = torch.device("cpu")
    with tempfile.TemporaryDirectory() as folder:
        start = reset_peak(device)
        started = time.perf_counter()
        tune(trial_inputs, settings, f"sqlite:///{folder}/study.db", "bench")
        seconds = time.perf_counter() - started
        return seconds, peak_mib(device), start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="ntxent")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4, help="trials a fused step (batched way)")
    parser.add_argument("--model", choices=["resnet18", "small_cnn"], help="default: the base's")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each way, alternated")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import logging

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("crl_pipelines").setLevel(logging.WARNING)
    spec, trial_inputs = inputs(args.experiment, args.model, args.epochs)
    experiment = trial_inputs.space.experiment
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, {args.threads} torch "
        f"thread(s), torch {torch.__version__}, Python {platform.python_version()}\n"
        f"study: {args.experiment} ({experiment.loss} loss, {experiment.model.arch}), "
        f"{args.trials} trials × {args.epochs} epoch(s) of {trial_inputs.plan['anchors'].shape[1]} "
        f"steps, TPE seed 0, no pruner, {len(trial_inputs.train.labels)} train and "
        f"{len(trial_inputs.validation.labels)} validation images\n"
    )
    base = spec.parameters.tune.model_copy(
        update={"use": True, "trials": args.trials, "epochs": args.epochs, "pruner": "none"}
    )
    ways = {f"batched ({args.batch} a step)": args.batch, "one at a time": 1}
    print("| round | way | seconds | trials/min | peak MiB (rise) |")
    print("|---:|---|---:|---:|---:|")
    results: dict[str, list[float]] = {way: [] for way in ways}
    for index in range(args.rounds):
        for way, batch in ways.items():
            settings = base.model_copy(update={"batch": batch})
            seconds, peak, start = study_round(trial_inputs, settings)
            rate = args.trials / seconds * 60
            results[way].append(rate)
            rise = "" if start is None else f" (+{peak - start:.0f})"
            row = f"| {index + 1} | {way} | {seconds:.1f} | {rate:.2f} | {peak:.0f}{rise} |"
            print(row, flush=True)
    print("\n| way | median trials/min |\n|---|---:|")
    medians = {way: statistics.median(rates) for way, rates in results.items()}
    for way, median in medians.items():
        print(f"| {way} | {median:.2f} |")
    batched, alone = medians.values()
    print(f"\nratio (batched ÷ one at a time): {batched / alone:.2f}×")


if __name__ == "__main__":
    main()
