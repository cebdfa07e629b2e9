"""Experiments and runs: the named entries of ``experiments:`` in the parameters, and one run of
each per seed in ``seeds:``.

An entry names its loss, may name its sampling (``class_pairs``, the default;
``augmented_views`` or ``looc_views``, self-supervised) and may override the shared ``model`` and
``training`` settings::

    experiments:
      ntxent_t01:
        loss: ntxent
        loss_params: {temperature: 0.1}
        sampling: augmented_views
        training: {learning_rate: 0.0005}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from crl_pipelines.losses import LOSSES
from crl_pipelines.sampling import SAMPLINGS
from crl_pipelines.train import TrainingConfig

FLOOR = "random_init"  # the untrained encoder every experiment is scored against
_KEYS = {"loss", "loss_params", "sampling", "model", "training"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Run:
    """One training of one experiment (or of the floor) with one seed; ``name`` is its namespace."""

    name: str
    experiment: str
    seed: int
    sampling: str | None  # the plan it trains on; None for the floor


def sampling_of(name: str, entry: dict[str, Any] | None) -> str:
    """The experiment's sampling (``class_pairs`` unless its entry says otherwise)."""
    sampling = (entry or {}).get("sampling", "class_pairs")
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"experiment {name!r}: unknown sampling {sampling!r}; known: {list(SAMPLINGS)}"
        )
    return sampling


def plan_runs(experiments: dict[str, dict[str, Any]], seeds: list[int]) -> list[Run]:
    """Every experiment, then the floor, once per seed. With a single seed a run is named after
    its experiment; with several, ``<experiment>_seed<seed>``."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"`seeds` must list one or more distinct integers, got {seeds}")
    samplings = {name: sampling_of(name, entry) for name, entry in experiments.items()}
    return [
        Run(
            name if len(seeds) == 1 else f"{name}_seed{seed}",
            name,
            int(seed),
            samplings.get(name),
        )
        for name in [*check_names(list(experiments)), FLOOR]
        for seed in seeds
    ]


@dataclass(frozen=True)
class Experiment:
    name: str
    loss: str
    loss_params: dict[str, Any]
    model: dict[str, Any]
    training: TrainingConfig


def check_names(names: list[str]) -> list[str]:
    """Experiment names become Kedro namespaces and folder names: letters, digits, underscores."""
    if not names:
        raise ValueError("parameters declare no experiments: add at least one under `experiments:`")
    for name in names:
        if not _NAME.match(name):
            raise ValueError(
                f"experiment name {name!r} must start with a letter and use only letters, digits, _"
            )
        if name == FLOOR:
            raise ValueError(
                f"experiment name {FLOOR!r} is reserved for the untrained floor encoder"
            )
    return names


def parse_experiment(
    name: str, entry: dict[str, Any], model: dict[str, Any], training: dict[str, Any]
) -> Experiment:
    """The experiment ``name`` with the shared settings overridden by its own."""
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(
            f"experiment {name!r}: unknown key(s) {sorted(unknown)}; known: {sorted(_KEYS)}"
        )
    loss = entry.get("loss")
    if loss not in LOSSES:
        raise ValueError(
            f"experiment {name!r}: unknown loss {loss!r}; known losses: {sorted(LOSSES)}"
        )
    return Experiment(
        name=name,
        loss=loss,
        loss_params=dict(entry.get("loss_params") or {}),
        model={**model, **(entry.get("model") or {})},
        training=TrainingConfig.from_params({**training, **(entry.get("training") or {})}),
    )
