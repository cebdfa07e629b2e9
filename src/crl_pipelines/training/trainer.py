"""Training one run: :func:`train_encoder` composes the rest of the package (a run's
:class:`~crl_pipelines.training.job.Job`, fused with its partners or alone, on one process or
several) and keeps the epoch ``training.keep`` chooses; :func:`initial_encoder` is the untrained
floor."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crl_pipelines.devices import resolve_device
from crl_pipelines.encoder_settings import ModelSettings
from crl_pipelines.experiments import Experiment
from crl_pipelines.images import ImageDataset
from crl_pipelines.models import build_encoder
from crl_pipelines.training import checkpoint
from crl_pipelines.training.collectives import SINGLE
from crl_pipelines.training.distributed import run_on_ranks
from crl_pipelines.training.fused import fusion_allowed, train_with_partners
from crl_pipelines.training.job import Job, encoder_config, step_class
from crl_pipelines.training.loop import Progress, TrainingError
from crl_pipelines.training_settings import check_keep

log = logging.getLogger(__name__)

Partner = tuple[Experiment, int, str, "str | Path"]
"""Another run of a plan: its experiment, seed, name and checkpoint path."""


def initial_encoder(train: ImageDataset, model: ModelSettings, seed: int) -> torch.nn.Module:
    """The encoder every run with ``seed`` starts from (the untrained floor), in eval mode."""
    return build_encoder(encoder_config(train, model), seed=seed).eval()


def train_encoder(
    train: ImageDataset,
    plan: dict[str, np.ndarray],
    experiment: Experiment,
    seed: int,
    *,
    name: str | None = None,
    validation: ImageDataset | None = None,
    checkpoint_path: str | Path | None = None,
    collapse_threshold: float = 0.1,
    partners: Sequence[Partner] = (),
) -> tuple[torch.nn.Module, Progress]:
    """Train one encoder of ``experiment`` from the initial weights of ``seed`` on the batches
    of ``plan`` (whose indices point into ``train``); returns it (on the CPU, in eval mode, at the
    epoch ``training.keep`` chooses, recorded as ``encoder.training_record``) and the run's
    :class:`~crl_pipelines.training.loop.Progress` (history, step trace, best epoch).

    ``name`` names the run in progress and errors; the ``validation`` images are scored after
    every epoch (:class:`~crl_pipelines.training.monitor.Monitor`; collapse judged against
    ``collapse_threshold``); ``checkpoint_path`` keeps the last epoch, resumed
    from when it was made by the same settings, plan and data.

    ``partners`` are other runs of the same plan: those that can share this run's steps (same
    model and optimizer settings, ``training.fuse`` on, checkpoints at the same epoch) are
    trained with it in one step each (:mod:`~crl_pipelines.training.fused`), their checkpoints
    written, so that training them afterwards resumes from their last epoch.

    With ``training.distributed`` asking for more than one process, the run is shared by them
    (:mod:`crl_pipelines.training.distributed`) and every node returns the same encoder: the node
    of rank 0 gets it from that process, the others read it from its last checkpoint.
    """
    name = name or experiment.name
    settings = experiment.training
    check_keep(settings.keep, validation is not None, f"experiments.{experiment.name}.training")
    path = Path(checkpoint_path) if checkpoint_path else None
    job = Job(train, plan, experiment, seed, name, validation, path, collapse_threshold)
    device = resolve_device(settings.device)
    if partners and path and fusion_allowed():
        others = [
            Job(train, plan, other, other_seed, other_name, validation, Path(other_path),
                collapse_threshold)
            for other, other_seed, other_name, other_path in partners
        ]  # fmt: skip
        train_with_partners(job, others, device)
    if settings.distributed.world == 1:
        encoder, progress = job.run(SINGLE, device)
    else:
        encoder, progress = _train_distributed(job, device)
    encoder.training_record = _keep(encoder, progress, settings.keep, name)
    return encoder.cpu().eval(), progress


def _train_distributed(job: Job, device: torch.device) -> tuple[torch.nn.Module, Progress]:
    """``job`` over the processes of ``training.distributed``; the encoder (rebuilt here, with
    plain batch norm) and progress of rank 0, from that process or from its last checkpoint."""
    settings = job.experiment.training.distributed
    step_class(job.experiment, job.plan, job.train)  # its errors here, before any process starts
    epochs, _, batch = job.plan["anchors"].shape
    if batch < settings.world:
        raise TrainingError(
            f"experiment {job.name!r}: batches of {batch} cannot be shared by "
            f"{settings.world} processes (training.distributed); use fewer or larger batches"
        )
    sent = run_on_ranks(job.run_and_send, (), settings, device=device, run_id=job.name).get(0)
    encoder, _, _, fingerprint = job.build()
    if sent is not None:
        state = torch.load(io.BytesIO(sent), map_location="cpu", weights_only=True)
    else:  # rank 0 is on another node: its last checkpoint holds the result
        state = checkpoint.load(job.checkpoint, torch.device("cpu"), fingerprint)
        if state is None or state["epoch"] != epochs:
            raise TrainingError(
                f"experiment {job.name!r}: rank 0 trained on another node, and its last "
                f"checkpoint is not at {job.checkpoint}: put checkpoint_dir on storage every "
                "node shares"
            )
    encoder.load_state_dict(state["encoder"])
    return encoder, Progress.of(state["progress"])


def _keep(encoder: torch.nn.Module, progress: Progress, keep: str, name: str) -> dict[str, Any]:
    """Put the kept epoch's weights in place; what was kept, for the model file and the report."""
    epochs = len(progress.history)
    kept = progress.best_epoch if keep == "best" and progress.best_weights else epochs
    if kept != epochs:
        encoder.load_state_dict(progress.best_weights)
        log.info("%s: keeping epoch %d of %d (training.keep: best)", name, kept, epochs)
    for row in progress.history:
        row["kept"] = int(row["epoch"] == kept)
    return {"keep": keep, "kept_epoch": kept, "epochs": epochs, "best_epoch": progress.best_epoch}
