"""Training: one encoder, one loss, the shared sampling plan.

The train images and the plan live on the training device; a *step* (one per sampling,
:mod:`crl_pipelines.training.steps`) gathers a batch by index, makes its views there and runs one
forward pass; the *loop* (:mod:`~crl_pipelines.training.loop`) updates, records the history, runs
the per-epoch *monitor* and writes a *checkpoint* after every epoch, so an interrupted run resumes
and, on the CPU, ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import io
import logging
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crl_pipelines.augment import augment, make_generator
from crl_pipelines.data import ImageDataset
from crl_pipelines.devices import resolve_device, use_bf16
from crl_pipelines.lineage import fingerprint
from crl_pipelines.losses import Loss, build_loss, loss_class
from crl_pipelines.models import EncoderConfig, ModelSettings, build_encoder, channel_statistics
from crl_pipelines.progress import epoch_bars
from crl_pipelines.sampling import plan_kind
from crl_pipelines.training import checkpoint, loop
from crl_pipelines.training.collectives import SINGLE, Shard, sync_batchnorm
from crl_pipelines.training.distributed import check_agreement, run_on_ranks
from crl_pipelines.training.experiment import Experiment
from crl_pipelines.training.loop import Progress, Trainable, TrainingError
from crl_pipelines.training.monitor import Monitor, warn_if_collapsed
from crl_pipelines.training.optim import build_optimizer
from crl_pipelines.training.settings import DistributedSettings, TrainingSettings
from crl_pipelines.training.steps import STEPS, DeviceData, Step

log = logging.getLogger(__name__)


def encoder_config(train: ImageDataset, model: ModelSettings, **overrides: Any) -> dict[str, Any]:
    """The encoder config for these train images: channels and input statistics from the data."""
    mean, std = channel_statistics(torch.from_numpy(train.images))
    config = EncoderConfig(
        **model.model_dump(),
        **overrides,
        in_channels=int(train.images.shape[1]),
        input_mean=tuple(mean),
        input_std=tuple(std),
    )
    return config.model_dump()


def initial_encoder(train: ImageDataset, model: ModelSettings, seed: int) -> torch.nn.Module:
    """The encoder every run with ``seed`` starts from (the untrained floor), in eval mode."""
    return build_encoder(encoder_config(train, model), seed=seed).eval()


def _step_class(experiment: Experiment, plan: dict[str, np.ndarray], train: ImageDataset):
    """The step of the plan's sampling, after checking that the loss can train on it."""
    kind, loss = plan_kind(plan), loss_class(experiment.loss)
    step = STEPS[kind]
    if loss.needs_labels and not train.labelled:
        raise ValueError(
            f"experiment {experiment.name!r}: the {experiment.loss} loss needs class labels "
            "and the data has none"
        )
    if loss.views != step.loss_views:
        raise ValueError(
            f"experiment {experiment.name!r}: the {experiment.loss} loss takes {loss.views} "
            f"views, which the {kind} sampling does not make"
        )
    return step


def _build(
    train: ImageDataset, plan: dict, experiment: Experiment, seed: int, step: type[Step]
) -> tuple[torch.nn.Module, Loss]:
    """The encoder at the seed's initial weights and the loss (its own seeded parameters)."""
    channels = train.images.shape[1] - train.protected_channels
    config = encoder_config(train, experiment.model, **step.encoder_overrides(plan, channels))
    encoder = build_encoder(config, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 1)
        loss_fn = build_loss(
            experiment.loss,
            experiment.loss_params,
            embedding_dim=encoder.embedding_dim,
            num_classes=max(int(train.labels.max()) + 1, 1),
        )
    return encoder, loss_fn


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
) -> tuple[torch.nn.Module, Progress]:
    """Train one encoder of ``experiment`` from the initial weights of ``seed`` on the batches
    of ``plan`` (whose indices point into ``train``); returns it (on the CPU, in eval mode, at the
    epoch ``training.keep`` chooses, recorded as ``encoder.training_record``) and the run's
    :class:`~crl_pipelines.training.loop.Progress` (history, step trace, best epoch).

    ``name`` names the run in progress and errors; the ``validation`` images are scored after
    every epoch (:class:`~crl_pipelines.training.monitor.Monitor`; collapse judged against
    ``collapse_threshold``); ``checkpoint_path`` keeps the last epoch, resumed
    from when it was made by the same settings, plan and data.

    With ``training.distributed`` asking for more than one process, the run is shared by them
    (:mod:`crl_pipelines.training.distributed`) and every node returns the same encoder: the node
    of rank 0 gets it from that process, the others read it from its last checkpoint.
    """
    name = name or experiment.name
    settings = experiment.training
    if settings.keep == "best" and validation is None:
        raise ValueError(
            f"experiment {name!r}: training.keep: best chooses by the validation split, which "
            "is empty (ingest.validation_fraction is 0, or no class has three train images to "
            "spare one); set ingest.validation_fraction above 0, add images, or keep: last"
        )
    path = Path(checkpoint_path) if checkpoint_path else None
    job = Job(train, plan, experiment, seed, name, validation, path, collapse_threshold)
    device = resolve_device(settings.device)
    if settings.distributed.world == 1:
        encoder, progress = job.run(SINGLE, device)
    else:
        encoder, progress = _train_distributed(job, device)
    encoder.training_record = _keep(encoder, progress, settings.keep, name)
    return encoder.cpu().eval(), progress


@dataclass(frozen=True)
class Job:
    """A run's inputs, sent as they are to every process of a data-parallel run."""

    train: ImageDataset
    plan: dict[str, np.ndarray]
    experiment: Experiment
    seed: int
    name: str
    validation: ImageDataset | None
    checkpoint: Path | None
    collapse_threshold: float

    def build(self) -> tuple[torch.nn.Module, Loss, type[Step], str]:
        """The encoder at the seed's initial weights, the loss, the step and the fingerprint."""
        step_class = _step_class(self.experiment, self.plan, self.train)
        encoder, loss_fn = _build(self.train, self.plan, self.experiment, self.seed, step_class)
        fingerprint = _fingerprint(
            self.train, self.plan, self.experiment, self.seed, encoder.config
        )
        return encoder, loss_fn, step_class, fingerprint

    def run(self, shard: Shard, device: torch.device) -> tuple[torch.nn.Module, Progress]:
        """Train as process ``shard`` on ``device``: the encoder (on the device) and progress.
        Only rank 0 scores validation images and writes checkpoints."""
        settings, lead = self.experiment.training, shard.rank == 0
        encoder, loss_fn, step_class, fingerprint = self.build()
        if settings.distributed.sync_batchnorm and shard.world > 1:
            encoder = sync_batchnorm(encoder, device)
        encoder.to(device).train()
        loss_fn.to(device).train()
        epochs, steps, batch = self.plan["anchors"].shape
        parameters = list(encoder.parameters()) + list(loss_fn.parameters())
        trainable = Trainable(
            encoder, loss_fn, *build_optimizer(parameters, settings, epochs, steps)
        )
        bf16 = use_bf16(settings.precision, device)
        step = step_class(
            encoder, loss_fn, DeviceData.of(self.train, device, bf16), self.plan, shard
        )
        watched = self.validation is not None and lead
        monitor = Monitor(self.validation, self.train, device, _views(step)) if watched else None
        saver = (
            _saver(trainable, self.checkpoint, fingerprint) if self.checkpoint and lead else None
        )
        # The run's own random stream (losses such as SWD draw from it); the caller's is restored.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(self.seed + 2)
            progress = _resume(trainable, self.checkpoint, device, fingerprint, self.name)
            check_agreement(len(progress.history), "the epochs already trained", shard)
            log.info(
                "%s: training %s loss on %s%s: %d epochs × %d steps of %d (%s)%s",
                self.name, self.experiment.loss, device, " (bf16)" if bf16 else "", epochs, steps,
                batch, plan_kind(self.plan),
                f", over {shard.world} processes" if shard.world > 1 else "",
            )  # fmt: skip
            bars = epoch_bars(self.name, epochs, steps) if lead else nullcontext()
            with bars as on_step:
                progress = loop.train(
                    trainable, step, (epochs, steps), progress, monitor, saver,
                    settings, (self.name, self.experiment.loss), on_step,
                )  # fmt: skip
            if lead:
                warn_if_collapsed(self.name, progress.history, self.collapse_threshold)
        return encoder, progress

    def run_and_send(self, shard: Shard, device: torch.device) -> bytes | None:
        """:meth:`run` in one process of a data-parallel run: rank 0's encoder weights and
        progress, as :func:`torch.save` bytes (read back with ``weights_only``); None elsewhere."""
        encoder, progress = self.run(shard, device)
        if shard.rank != 0:
            return None
        buffer = io.BytesIO()
        torch.save({"encoder": encoder.state_dict(), "progress": progress.state_dict()}, buffer)
        return buffer.getvalue()


def _train_distributed(job: Job, device: torch.device) -> tuple[torch.nn.Module, Progress]:
    """``job`` over the processes of ``training.distributed``; the encoder (rebuilt here, with
    plain batch norm) and progress of rank 0, from that process or from its last checkpoint."""
    settings = job.experiment.training.distributed
    _step_class(job.experiment, job.plan, job.train)  # its errors here, before any process starts
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


def _views(step: Step):
    """Two fixed augmented views of a batch, as the step makes them (for unlabelled validation
    images), or None for a step without augmentations."""
    augmentations = getattr(step, "augmentations", None)
    if augmentations is None:
        return None

    def pair(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        generator = make_generator(images.device, int(step.seed), 0, 0, 1)  # not a training step's
        protected = step.data.protected_channels
        return tuple(augment(images, augmentations, generator, protected) for _ in range(2))

    return pair


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


def _fingerprint(train, plan, experiment: Experiment, seed: int, config: dict) -> str:
    # where it runs may change on resume: the device, the processes
    settings = {**experiment.training.model_dump(exclude={"distributed"}), "device": None}
    return fingerprint(
        config, experiment.loss, experiment.loss_params, settings, seed, plan_kind(plan),
        str(plan.get("augment", "")), plan["anchors"], plan.get("positives", np.zeros(0)),
        train.images, train.labels,
    )  # fmt: skip


def _resume(trainable: Trainable, path, device, fingerprint: str, name: str) -> Progress:
    """The progress so far, with the trainable restored, when a matching checkpoint exists."""
    state = checkpoint.load(path, device, fingerprint)
    if state is None:
        if path is not None and path.is_file():
            log.info("%s: ignoring %s, made with other settings", name, path)
        return Progress()
    trainable.load_state_dict(state)
    torch.set_rng_state(state["rng"].cpu())
    log.info("%s: resuming after epoch %d from %s", name, int(state["epoch"]), path)
    return Progress.of(state["progress"])


def _saver(trainable: Trainable, path: Path, fingerprint: str):
    def save(epoch: int, progress: Progress) -> None:
        state = {"fingerprint": fingerprint, "epoch": epoch, **trainable.state_dict()}
        state["progress"] = progress.state_dict()
        checkpoint.save(path, {**state, "rng": torch.get_rng_state()})

    return save


__all__ = [
    "DistributedSettings",
    "Experiment",
    "Progress",
    "TrainingError",
    "TrainingSettings",
    "encoder_config",
    "initial_encoder",
    "resolve_device",
    "train_encoder",
]
