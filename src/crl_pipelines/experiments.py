"""Experiments: the named entries of ``experiments:`` in the parameters.

An entry names its loss (with its parameters), may name its sampling (``class_pairs``, the
default; ``augmented_views`` or ``looc_views``, self-supervised) and may override the shared
``model`` and ``training`` settings::

    experiments:
      ntxent_t01:
        loss: ntxent
        loss_params: {temperature: 0.1}
        sampling: augmented_views
        training: {learning_rate: 0.0005}

The name becomes a Kedro namespace and a folder, so it is letters, digits and ``_``.
"""

from __future__ import annotations

import re
from typing import Any

from crl_pipelines.lineage import fingerprint
from crl_pipelines.losses import LOSSES, check_loss_params, loss_class
from crl_pipelines.models import ModelSettings
from crl_pipelines.runs import FLOOR
from crl_pipelines.sampling import SAMPLINGS
from crl_pipelines.training import Experiment, TrainingSettings
from crl_pipelines.training.steps import STEPS
from crl_pipelines.validation import ParameterError, Settings, Text, parse, unknown_value

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class ExperimentSettings(Settings):
    """One entry of ``experiments:``, as written; :func:`resolve_experiment` completes it."""

    loss: Text
    loss_params: dict[str, Any] | None = None
    sampling: Text = "class_pairs"
    model: dict[str, Any] | None = None  # overrides of the shared `model`
    training: dict[str, Any] | None = None  # overrides of the shared `training`


def resolve_experiment(
    name: str, entry: ExperimentSettings, model: ModelSettings, training: TrainingSettings
) -> Experiment:
    """``entry`` with its loss parameters checked and its ``model`` and ``training`` overrides
    merged over the shared settings; errors name ``experiments.<name>.<key>``."""
    where = f"experiments.{name}"
    for key, value, known in (
        ("loss", entry.loss, LOSSES),
        ("sampling", entry.sampling, SAMPLINGS),
    ):
        if value not in known:
            raise unknown_value(f"{where}.{key}", key, value, list(known))
    merged_training = {**training.model_dump(), **(entry.training or {})}
    return Experiment(
        name=name,
        loss=entry.loss,
        loss_params=check_loss_params(entry.loss, entry.loss_params, f"{where}.loss_params"),
        sampling=entry.sampling,
        model=parse(ModelSettings, {**model.model_dump(), **(entry.model or {})}, f"{where}.model"),
        training=parse(TrainingSettings, merged_training, f"{where}.training"),
    )


def check_name(name: str) -> None:
    """Experiment names become Kedro namespaces and folder names."""
    if not _NAME.match(name):
        raise ParameterError(
            f"experiment name {name!r} (under `experiments:`) must start with a letter and use "
            "only letters, digits and _"
        )
    if name == FLOOR:
        raise ParameterError(
            f"experiment name {FLOOR!r} is reserved for the untrained floor encoder; rename it"
        )


def check_compatible(experiment: Experiment, labelled: bool | None, epochs: int) -> None:
    """The loss, the sampling, the data (``labelled``: False when it surely has no labels) and
    the plan's length (``epochs``) go together."""
    where = f"experiments.{experiment.name}"
    loss, step = loss_class(experiment.loss), STEPS[experiment.sampling]
    if loss.views != step.loss_views:
        fitting = " or ".join(name for name, s in STEPS.items() if s.loss_views == loss.views)
        raise ParameterError(
            f"parameter `{where}.sampling`: the {experiment.loss} loss trains on `sampling:` "
            f"{fitting}, not {experiment.sampling}"
        )
    if labelled is False and (loss.needs_labels or SAMPLINGS[experiment.sampling].needs_labels):
        what = "loss" if loss.needs_labels else "sampling"
        raise ParameterError(
            f"parameter `{where}.{what}`: the {getattr(experiment, what)} {what} needs class "
            "labels and the data has none; use a self-supervised loss (ntxent, align_uniform, "
            "...) with `sampling: augmented_views`"
        )
    check_warmup(experiment.training, epochs, f"{where}.training")


def check_warmup(training: TrainingSettings, epochs: int, where: str) -> None:
    """A warm-up longer than the run would never reach the learning rate."""
    if training.warmup_epochs > epochs:
        raise ParameterError(
            f"parameter `{where}.warmup_epochs` is {training.warmup_epochs}, longer than the "
            f"run (pairs.epochs = {epochs}): the learning rate would never be reached"
        )


def settings_fingerprint(experiment: Experiment | None, model: ModelSettings, seed: int) -> str:
    """What an encoder is made from besides its data: the resolved experiment (loss, loss
    parameters, sampling, model and training settings; not the device or the processes, which
    change where it runs, not what) and the seed. For the untrained floor (``experiment`` None):
    the model and the seed."""
    if experiment is None:
        return fingerprint({"model": model.model_dump(mode="json"), "seed": seed})
    return fingerprint(
        {
            "loss": experiment.loss,
            "loss_params": experiment.loss_params,
            "sampling": experiment.sampling,
            "model": experiment.model.model_dump(mode="json"),
            "training": experiment.training.model_dump(
                mode="json", exclude={"device", "distributed"}
            ),
            "seed": seed,
        }
    )
