"""One experiment as training sees it: resolved, with the shared settings overridden by its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crl_pipelines.models import ModelSettings
from crl_pipelines.training.settings import TrainingSettings


@dataclass(frozen=True)
class Experiment:
    """An experiment's loss (with its validated parameters), sampling, model and training."""

    name: str
    loss: str
    loss_params: dict[str, Any]
    sampling: str
    model: ModelSettings
    training: TrainingSettings
