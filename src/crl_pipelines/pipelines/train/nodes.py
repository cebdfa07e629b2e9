"""Train: one encoder per run (experiment × seed) on its sampling's plan, and the floor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from crl_pipelines.data import ImageDataset
from crl_pipelines.experiments import ExperimentSettings, resolve_experiment
from crl_pipelines.models import Encoder, ModelSettings
from crl_pipelines.runs import Run
from crl_pipelines.sampling import check_plan_matches
from crl_pipelines.training import TrainingSettings, initial_encoder, train_encoder


def train_run(
    train_set: dict[str, np.ndarray],
    test_set: dict[str, np.ndarray],
    plan: dict[str, np.ndarray],
    experiment: ExperimentSettings,
    model: ModelSettings,
    training: TrainingSettings,
    collapse_threshold: float,
    checkpoint_dir: str,
    *,
    run: Run,
) -> tuple[Encoder, pd.DataFrame]:
    """Train ``run``; returns the encoder and its per-epoch history.

    The test split is never trained on: a fixed batch of it is embedded after every epoch to
    track alignment, uniformity and collapse. ``<checkpoint_dir>/<experiment>/seed<seed>/
    checkpoint.pt`` holds the last finished epoch, so an interrupted run picks up where it stopped.
    """
    train = ImageDataset.from_arrays(train_set)
    check_plan_matches(plan, train.labels)
    encoder, history = train_encoder(
        train,
        plan,
        resolve_experiment(run.experiment, experiment, model, training),
        run.seed,
        name=run.name,
        held_out=ImageDataset.from_arrays(test_set),
        checkpoint_path=Path(checkpoint_dir) / run.folder / "checkpoint.pt",
        collapse_threshold=collapse_threshold,
    )
    return encoder, pd.DataFrame(history)


def init_floor(train_set: dict[str, np.ndarray], model: ModelSettings, *, run: Run) -> Encoder:
    """The floor: the shared architecture at the initial weights of every run with this seed."""
    return initial_encoder(ImageDataset.from_arrays(train_set), model, run.seed)
