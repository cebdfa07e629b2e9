"""A batch of trials trained by the project's own trainer: together in one step when they share a
plan and a model (each with its own loss, learning rate and weight decay: one parameter group
each), one epoch at a time, each epoch's validation score reported to its trial so that the
pruner can stop it there. A trial whose loss goes non-finite is stopped and counted as pruned
(its parameters diverge: a result, not an error).

The objective is the score ``training.keep: best`` chooses by (the validation kNN accuracy; the
label-free score on unlabelled data, :func:`crl_pipelines.training.monitor.selection_score`):
the best epoch's with ``keep: best``, the last epoch's otherwise. The test split is not here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.trial import TrialState

from crl_pipelines.devices import resolve_device
from crl_pipelines.images import ImageDataset
from crl_pipelines.training.fused import EpochwiseTraining, fusion_key
from crl_pipelines.training.job import Job
from crl_pipelines.training.loop import Progress
from crl_pipelines.training.monitor import selection_score
from crl_pipelines.tuning.space import SearchSpace

Told = Callable[[optuna.Trial, TrialState, float | None], None]
"""Told of each trial as it ends: the trial, its state, its value (None: no score)."""


@dataclass(frozen=True)
class TrialInputs:
    """What every trial of one study shares: the train and validation images, the plan cut to
    the trials' epochs, the space, and the seed of the initial weights."""

    train: ImageDataset
    validation: ImageDataset
    plan: dict[str, np.ndarray]
    space: SearchSpace
    seed: int
    collapse_threshold: float

    @property
    def epochs(self) -> int:
        return int(self.plan["anchors"].shape[0])


def first_epochs(plan: dict[str, np.ndarray], epochs: int) -> dict[str, np.ndarray]:
    """The plan's first ``epochs`` epochs (every array with an epoch axis is cut)."""
    total = plan["anchors"].shape[0]
    return {
        key: value[:epochs] if value.ndim >= 3 and value.shape[0] == total else value
        for key, value in plan.items()
    }


def objective(progress: Progress, keep: str) -> float | None:
    """The trial's value so far (module docstring); None before any scored epoch."""
    scores = [selection_score(row)[0] for row in progress.history]
    scores = [score for score in scores if math.isfinite(score)]
    if not scores:
        return None
    return max(scores) if keep == "best" else scores[-1]


def run_batch(
    study: optuna.Study, trials: Sequence[optuna.Trial], inputs: TrialInputs, told: Told
) -> None:
    """Train ``trials`` (claimed from ``study``) and tell the study how each ended."""
    jobs = []
    for trial in trials:
        experiment = inputs.space.apply(inputs.space.suggest(trial))
        name = f"{experiment.name}.trial{trial.number}"
        jobs.append(
            Job(inputs.train, inputs.plan, dataclasses.replace(experiment, name=name), inputs.seed,
                name, inputs.validation, None, inputs.collapse_threshold)
        )  # fmt: skip
    groups: dict[str | None, list[int]] = {}
    for index, job in enumerate(jobs):
        key = fusion_key(job)
        groups.setdefault(key if key is not None else f"alone {index}", []).append(index)
    for members in groups.values():
        _train_group(study, [trials[i] for i in members], [jobs[i] for i in members], told)


def _train_group(
    study: optuna.Study, trials: Sequence[optuna.Trial], jobs: Sequence[Job], told: Told
) -> None:
    device = resolve_device(jobs[0].experiment.training.device)
    keep = [job.experiment.training.keep for job in jobs]
    live = dict(enumerate(trials))
    try:
        with EpochwiseTraining(jobs, device) as training:
            epochs = jobs[0].shape[0]
            for epoch in range(epochs):
                failed = training.train_epoch(epoch)
                stopped = []
                for index, trial in list(live.items()):
                    value = objective(training.progresses[index], keep[index])
                    if index in failed:
                        trial.set_user_attr("diverged", failed[index])
                    elif value is not None:
                        trial.report(value, epoch)
                        if epoch + 1 == epochs or not trial.should_prune():
                            continue
                    study.tell(trial, state=TrialState.PRUNED)
                    told(trial, TrialState.PRUNED, value)
                    stopped.append(index)
                    del live[index]
                if not live:
                    return
                training.stop(stopped)
        for index, trial in list(live.items()):
            value = objective(training.progresses[index], keep[index])
            state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
            study.tell(trial, value, state=state)
            told(trial, state, value)
            del live[index]
    finally:  # an unexpected error: the trials still running count as failed, not finished
        for trial in live.values():
            study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
