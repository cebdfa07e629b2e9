"""Experiments: the named entries of ``experiments:`` in the parameters, and each one resolved.

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
:func:`resolve_experiment` turns an entry into an :class:`Experiment`, once, when the run is
specified (:mod:`crl_pipelines.spec`): every setting typed, the shared blocks with the entry's
own keys applied (:func:`crl_pipelines.parameters.override`), the loss and sampling checked to go
together (:func:`check_compatible`, the one place that rule lives).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.lineage import fingerprint
from crl_pipelines.losses import LOSSES, check_loss_params, loss_settings
from crl_pipelines.parameters import ParameterError, Settings, Text, override
from crl_pipelines.runs import FLOOR
from crl_pipelines.sampling import SAMPLINGS
from crl_pipelines.training_settings import TrainingSettings

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
EXTREME = 100.0  # a setting this many times above or below its default is suspect
DATA_HINT = "check the data (non-finite or constant images, a class with one image)"


class ExperimentSettings(Settings):
    """One entry of ``experiments:``, as written; :func:`resolve_experiment` completes it."""

    loss: Text
    loss_params: dict[str, Any] | None = None
    sampling: Text = "class_pairs"
    model: dict[str, Any] | None = None  # overrides of the shared `model`
    training: dict[str, Any] | None = None  # overrides of the shared `training`
    search: dict[str, Any] | None = None  # changes of its default search space (tuning/space.py)


@dataclass(frozen=True)
class Experiment:
    """An experiment as training sees it: its loss (with its validated parameters, defaults
    filled in), sampling, and the shared model and training settings with its own applied."""

    name: str
    loss: str
    loss_params: dict[str, Any]
    sampling: str
    model: ModelSettings
    training: TrainingSettings


def resolve_experiment(
    name: str, entry: ExperimentSettings, model: ModelSettings, training: TrainingSettings
) -> Experiment:
    """``entry`` with its loss parameters checked and its ``model`` and ``training`` keys applied
    over the shared settings; errors name ``experiments.<name>.<key>``."""
    where = f"experiments.{name}"
    LOSSES.lookup(entry.loss, f"{where}.loss")
    SAMPLINGS.lookup(entry.sampling, f"{where}.sampling")
    return Experiment(
        name=name,
        loss=entry.loss,
        loss_params=check_loss_params(entry.loss, entry.loss_params, f"{where}.loss_params"),
        sampling=entry.sampling,
        model=override(model, entry.model, f"{where}.model"),
        training=override(training, entry.training, f"{where}.training"),
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


def check_compatible(loss: str, sampling: str, labelled: bool | None, where: str) -> None:
    """The loss, the sampling and the data (``labelled``: False when it surely has no labels) go
    together; errors name the experiment's entry ``where``. The one place this rule lives: the
    run specification checks it before anything runs, training again on the plan it is given."""
    loss_class, chosen = LOSSES[loss], SAMPLINGS[sampling]
    if loss_class.views != chosen.loss_views:
        fitting = " or ".join(n for n, s in SAMPLINGS.items() if s.loss_views == loss_class.views)
        raise ParameterError(
            f"parameter `{where}.sampling`: the {loss} loss trains on `sampling:` {fitting}, "
            f"not {sampling}"
        )
    if labelled is False and (loss_class.needs_labels or chosen.needs_labels):
        what, value = ("loss", loss) if loss_class.needs_labels else ("sampling", sampling)
        raise ParameterError(
            f"parameter `{where}.{what}`: the {value} {what} needs class labels and the data "
            "has none; use a self-supervised loss (ntxent, align_uniform, ...) with "
            "`sampling: augmented_views`"
        )


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


def divergence_hint(experiment: Experiment) -> str:
    """What to change when ``experiment``'s loss goes non-finite: the loss parameters and the
    learning rate set more than :data:`EXTREME` times away from their defaults, by how far;
    with none, the data (every setting is near the values that train)."""
    fields = loss_settings(LOSSES[experiment.loss]).model_fields
    where = f"experiments.{experiment.name}.loss_params"
    pairs = {
        f"{where}.{key}": (value, fields[key].default if key in fields else None)
        for key, value in experiment.loss_params.items()
    }
    rate = experiment.training.learning_rate
    pairs["training.learning_rate"] = (rate, TrainingSettings().learning_rate)
    suspects = [
        f"`{key}` is {value:g} (default {default:g})"
        for key, (value, default) in pairs.items()
        if _far(value, default)
    ]
    if not suspects:
        return f"every setting is near its default: {DATA_HINT}"
    return f"{' and '.join(suspects)}: bring it closer to its default"


def _far(value: Any, default: Any) -> bool:
    """Whether positive numbers ``value`` and ``default`` are more than EXTREME× apart."""
    numbers = (value, default)
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in numbers):
        return False
    if value <= 0 or default <= 0:
        return False
    return abs(math.log(value / default)) > math.log(EXTREME)
