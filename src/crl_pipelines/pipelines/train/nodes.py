"""Train: one encoder per run (experiment × seed) on the shared plan, and the untrained floor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crl_pipelines.data import ImageDataset
from crl_pipelines.experiments import parse_experiment
from crl_pipelines.models import Encoder, build_encoder
from crl_pipelines.sampling import check_plan_matches
from crl_pipelines.train import TrainingConfig, encoder_config_for, train_encoder


def _with_seed(training: dict[str, Any], seed: int) -> dict[str, Any]:
    if "seed" in training:
        raise ValueError(
            "training.seed is not a parameter: list the seeds under top-level `seeds:`"
        )
    return {**training, "seed": seed}


def train_experiment(
    train_set: dict[str, np.ndarray],
    test_set: dict[str, np.ndarray],
    plan: dict[str, np.ndarray],
    experiment: dict[str, Any],
    model: dict[str, Any],
    training: dict[str, Any],
    checkpoint_dir: str,
    name: str,
    experiment_name: str,
    seed: int,
) -> tuple[Encoder, pd.DataFrame]:
    """Train run ``name`` of the experiment; returns the encoder and its per-epoch history.

    The test split is never trained on: a fixed batch of it is embedded after every epoch to
    track alignment, uniformity and collapse. ``<checkpoint_dir>/<run>/checkpoint.pt`` holds the
    last finished epoch, so an interrupted run picks up where it stopped.
    """
    spec = parse_experiment(experiment_name, experiment, model, _with_seed(training, seed))
    train = ImageDataset.from_arrays(train_set)
    test = ImageDataset.from_arrays(test_set)
    check_plan_matches(plan, train.labels)
    encoder, history = train_encoder(
        train.images,
        train.labels,
        plan,
        spec.model,
        spec.loss,
        spec.loss_params,
        spec.training,
        name,
        held_out=(test.images, test.labels),
        checkpoint=Path(checkpoint_dir) / name / "checkpoint.pt",
        protected_channels=int(train.provenance.get("randbits_channels", 0)),
    )
    return encoder, pd.DataFrame(history)


def init_random_encoder(
    train_set: dict[str, np.ndarray], model: dict[str, Any], training: dict[str, Any], seed: int
) -> Encoder:
    """The floor: the shared architecture at the initial weights of every run with this seed."""
    config = TrainingConfig.from_params(_with_seed(training, seed))
    train = ImageDataset.from_arrays(train_set)
    return build_encoder(encoder_config_for(train.images, model), seed=config.seed).eval()
