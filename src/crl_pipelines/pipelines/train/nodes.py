"""Train: one encoder per run (experiment × seed) on its sampling's plan, and the floor."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from crl_pipelines import lineage
from crl_pipelines.devices import resolve_device
from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment, settings_fingerprint
from crl_pipelines.images import ImageDataset
from crl_pipelines.models import Encoder
from crl_pipelines.runs import Run
from crl_pipelines.sampling import check_plan_matches
from crl_pipelines.training.trainer import initial_encoder, train_encoder
from crl_pipelines.tuning.record import tuned_experiment, tuning_fingerprint
from crl_pipelines.tuning.space import SearchSpace


def train_run(
    train_set: dict[str, np.ndarray],
    validation_set: dict[str, np.ndarray],
    plan: dict[str, np.ndarray],
    tuning: dict[str, Any],
    *,
    run: Run,
    space: SearchSpace,
    tuned_from: dict[str, str],
    use: bool,
    checkpoint_dir: str,
    collapse_threshold: float,
    partners: tuple[tuple[Run, Experiment], ...] = (),
) -> tuple[Encoder, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train ``run`` at its experiment's parameters: the tuned ones its tuning record holds when
    the experiments are tuned (``use``; the record must have been made from the current split
    and plan and ``tuned_from``: the experiment's settings, space and budget), as written
    otherwise (:func:`crl_pipelines.tuning.record.tuned_experiment`). See :func:`train_untuned`
    for the rest."""
    made_from = {
        "split": lineage.split_of(train_set, "train"),
        "plan": lineage.of_arrays(plan).get("plan", ""),
        **tuned_from,
    }
    experiment = tuned_experiment(tuning, space, made_from, use)
    encoder, *rest = train_untuned(
        train_set, validation_set, plan, run=run, experiment=experiment,
        checkpoint_dir=checkpoint_dir, collapse_threshold=collapse_threshold, partners=partners,
    )  # fmt: skip
    if use:  # which study's parameters it trained at
        record = {**encoder.lineage, "tuning": tuning_fingerprint(tuning)}
        record.pop("encoder")
        encoder.lineage = {**record, "encoder": lineage.fingerprint(record)}
    return (encoder, *rest)


def train_untuned(
    train_set: dict[str, np.ndarray],
    validation_set: dict[str, np.ndarray],
    plan: dict[str, np.ndarray],
    *,
    run: Run,
    experiment: Experiment,
    checkpoint_dir: str,
    collapse_threshold: float,
    partners: tuple[tuple[Run, Experiment], ...] = (),
) -> tuple[Encoder, pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Train ``run`` at ``experiment``'s parameters; returns the encoder (recording its lineage
    and kept epoch), its per-epoch history, its per-step trace, and where and how long this
    call trained (:func:`_placement`).

    The test split is not read here: the validation split is scored after every epoch
    (collapse judged against ``collapse_threshold``), and ``training.keep: best`` chooses by it.
    ``<checkpoint_dir>/<experiment>/seed<seed>/checkpoint.pt`` holds the last finished epoch, so
    an interrupted run picks up where it stopped. The ``partners`` (the other runs of the plan)
    that share this run's settings are trained with it, one step for all (``training.fuse``):
    their checkpoints are then at their last epoch and their own train nodes resume from them.
    """
    split = lineage.split_of(train_set, "train")
    lineage.require(
        lineage.of_arrays(validation_set), {"split": split}, "the validation split",
        "`kedro run --pipelines=ingest`",
    )  # fmt: skip
    lineage.require(
        lineage.of_arrays(plan), {"split": split}, f"the {run.sampling} plan",
        "`kedro run --pipelines=pairs`",
    )  # fmt: skip
    train = ImageDataset.from_arrays(train_set)
    check_plan_matches(plan, train.labels)
    started = time.time()
    others = [(e, o.seed, o.name, _checkpoint(checkpoint_dir, o)) for o, e in partners]
    encoder, progress = train_encoder(
        train, plan, experiment, run.seed, name=run.name, validation=_validation(validation_set),
        checkpoint_path=_checkpoint(checkpoint_dir, run), collapse_threshold=collapse_threshold,
        partners=others,
    )  # fmt: skip
    record = {
        "split": split,
        "plan": lineage.of_arrays(plan)["plan"],
        "settings": settings_fingerprint(experiment, experiment.model, run.seed),
    }
    encoder.lineage = {**record, "encoder": lineage.fingerprint(record)}
    # the history keeps what training computed; its timings go to the log, so that retraining
    # with unchanged inputs writes byte-identical files
    history = pd.DataFrame(progress.history).drop(columns="seconds")
    device = str(resolve_device(experiment.training.device))
    placement = _placement(run, started, device, progress.history)
    return encoder, history, pd.DataFrame(progress.steps), placement


def _checkpoint(checkpoint_dir: str, run: Run) -> Path:
    return Path(checkpoint_dir) / run.folder / "checkpoint.pt"


def _placement(run: Run, started: float, device: str, history: list[dict]) -> dict[str, Any]:
    """Where the run trained (host, process, device, torch threads) and when, kept apart from
    the model and history so that they stay byte-identical from one machine to another."""

    def stamp(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")

    finished = time.time()
    return {
        "run": run.name,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "device": device,
        "torch_threads": torch.get_num_threads(),
        "started": stamp(started),
        "finished": stamp(finished),
        "seconds": round(finished - started, 3),
        "epoch_seconds": [round(row["seconds"], 3) for row in history],
    }


def _validation(arrays: dict[str, np.ndarray]) -> ImageDataset | None:
    """The validation images, or None when ``ingest.validation_fraction`` is 0."""
    return ImageDataset.from_arrays(arrays) if len(arrays["labels"]) else None


def init_floor(train_set: dict[str, np.ndarray], *, run: Run, model: ModelSettings) -> Encoder:
    """The floor: the shared architecture at the initial weights of every run with this seed."""
    encoder = initial_encoder(ImageDataset.from_arrays(train_set), model, run.seed)
    record = {
        "split": lineage.split_of(train_set, "train"),
        "settings": settings_fingerprint(None, model, run.seed),
    }
    encoder.lineage = {**record, "encoder": lineage.fingerprint(record)}
    return encoder
