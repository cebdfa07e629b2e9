"""A run as training sees it: its inputs (:class:`Job`), built into what a device trains.

:meth:`Job.setup` builds a run at the seed's initial weights on a device: the encoder, the loss
and their optimizer (:class:`~crl_pipelines.training.loop.Trainable`), the step of its sampling,
the validation monitor and the checkpoint writer. :meth:`Job.run` trains it alone (or as one
process of a data-parallel run); :mod:`~crl_pipelines.training.fused` trains several set-ups in
one step.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from crl_pipelines.augment import augment, make_generator
from crl_pipelines.devices import use_bf16
from crl_pipelines.encoder_settings import EncoderConfig, ModelSettings
from crl_pipelines.experiments import Experiment, check_compatible, divergence_hint
from crl_pipelines.images import ImageDataset
from crl_pipelines.lineage import fingerprint
from crl_pipelines.losses import Loss, build_loss
from crl_pipelines.models import build_encoder, channel_statistics
from crl_pipelines.progress import checkpoint_found, epoch_bars
from crl_pipelines.sampling import SAMPLINGS, plan_kind
from crl_pipelines.training import checkpoint, loop
from crl_pipelines.training.collectives import Shard, sync_batchnorm
from crl_pipelines.training.distributed import check_agreement
from crl_pipelines.training.loop import Progress, Trainable
from crl_pipelines.training.monitor import Monitor, warn_if_collapsed
from crl_pipelines.training.optim import build_optimizer
from crl_pipelines.training.steps.base import DeviceData, Step

log = logging.getLogger(__name__)

Saver = Callable[[int, Progress], None]


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


def step_class(experiment: Experiment, plan: dict[str, np.ndarray], train: ImageDataset):
    """The step of the plan's sampling, after checking that the loss can train on it and the
    data (:func:`crl_pipelines.experiments.check_compatible`)."""
    kind = plan_kind(plan)
    check_compatible(experiment.loss, kind, train.labelled, f"experiments.{experiment.name}")
    return SAMPLINGS[kind].step_class()


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


@dataclass
class Setup:
    """A run built on its device, ready for its first (or next) epoch."""

    trainable: Trainable
    step: Step
    fingerprint: str
    monitor: Monitor | None  # rank 0 with validation images only
    save: Saver | None  # rank 0 with a checkpoint path only


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

    @property
    def shape(self) -> tuple[int, int, int]:
        """Epochs, steps an epoch, and rows a step of the plan."""
        epochs, steps, batch = self.plan["anchors"].shape
        return int(epochs), int(steps), int(batch)

    def build(self) -> tuple[torch.nn.Module, Loss, type[Step], str]:
        """The encoder at the seed's initial weights, the loss, the step and the fingerprint."""
        step = step_class(self.experiment, self.plan, self.train)
        encoder, loss_fn = _build(self.train, self.plan, self.experiment, self.seed, step)
        fingerprint = _fingerprint(
            self.train, self.plan, self.experiment, self.seed, encoder.config
        )
        return encoder, loss_fn, step, fingerprint

    def data(self, device: torch.device) -> DeviceData:
        """The train images on ``device``, with the run's precision."""
        bf16 = use_bf16(self.experiment.training.precision, device)
        return DeviceData.of(self.train, device, bf16)

    def setup(self, shard: Shard, device: torch.device, data: DeviceData) -> Setup:
        """The run at the seed's initial weights on ``device``, as process ``shard``; only rank 0
        scores validation images and writes checkpoints."""
        settings, lead = self.experiment.training, shard.rank == 0
        encoder, loss_fn, kind, fingerprint = self.build()
        if settings.distributed.sync_batchnorm and shard.world > 1:
            encoder = sync_batchnorm(encoder, device)
        encoder.to(device).train()
        loss_fn.to(device).train()
        epochs, steps, _ = self.shape
        parameters = list(encoder.parameters()) + list(loss_fn.parameters())
        trainable = Trainable(
            encoder, loss_fn, *build_optimizer(parameters, settings, epochs, steps)
        )
        step = kind(encoder, loss_fn, data, self.plan, shard)
        watched = self.validation is not None and lead
        monitor = Monitor(self.validation, self.train, device, _views(step)) if watched else None
        save = _saver(trainable, self.checkpoint, fingerprint) if self.checkpoint and lead else None
        return Setup(trainable, step, fingerprint, monitor, save)

    def resume(self, setup: Setup, device: torch.device) -> Progress:
        """The progress so far, with the set-up restored from the run's checkpoint when one made
        by the same inputs exists; the random stream is the checkpoint's, else the seed's."""
        torch.manual_seed(self.seed + 2)
        return _resume(setup.trainable, self.checkpoint, device, setup.fingerprint, self)

    def ledger(self, setup: Setup, progress: Progress) -> loop.Ledger:
        """What records the run's epochs (history, monitor, checkpoints)."""
        settings = self.experiment.training
        names = (self.name, self.experiment.loss)
        return loop.Ledger(
            setup.trainable, progress, setup.monitor, setup.save, settings, names,
            self.shape[0], divergence_hint(self.experiment),
        )  # fmt: skip

    def run(self, shard: Shard, device: torch.device) -> tuple[torch.nn.Module, Progress]:
        """Train as process ``shard`` on ``device``: the encoder (on the device) and progress."""
        settings, lead = self.experiment.training, shard.rank == 0
        data = self.data(device)
        setup = self.setup(shard, device, data)
        epochs, steps, batch = self.shape
        # The run's own random stream (losses such as SWD draw from it); the caller's is restored.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            progress = self.resume(setup, device)
            check_agreement(len(progress.history), "the epochs already trained", shard)
            if len(progress.history) < epochs:
                log.info(
                    "%s: training %s loss on %s%s: %d epochs × %d steps of %d (%s)%s",
                    self.name, self.experiment.loss, device, " (bf16)" if data.bf16 else "",
                    epochs, steps, batch, plan_kind(self.plan),
                    f", over {shard.world} processes" if shard.world > 1 else "",
                )  # fmt: skip
            bars = epoch_bars(self.name, epochs, steps, batch) if lead else nullcontext()
            with bars as on_step:
                progress = loop.train(
                    setup.trainable, setup.step, (epochs, steps), progress, setup.monitor,
                    setup.save, settings, (self.name, self.experiment.loss), on_step,
                    divergence_hint(self.experiment),
                )  # fmt: skip
            if lead:
                warn_if_collapsed(self.name, progress.history, self.collapse_threshold)
        return setup.trainable.encoder, progress

    def run_and_send(self, shard: Shard, device: torch.device) -> bytes | None:
        """:meth:`run` in one process of a data-parallel run: rank 0's encoder weights and
        progress, as :func:`torch.save` bytes (read back with ``weights_only``); None elsewhere."""
        encoder, progress = self.run(shard, device)
        if shard.rank != 0:
            return None
        buffer = io.BytesIO()
        torch.save({"encoder": encoder.state_dict(), "progress": progress.state_dict()}, buffer)
        return buffer.getvalue()


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


def _fingerprint(train, plan, experiment: Experiment, seed: int, config: dict) -> str:
    # where and how it runs may change on resume: the device, the processes, the fusion
    exclude = {"distributed", "fuse"}
    settings = {**experiment.training.model_dump(exclude=exclude), "device": None}
    return fingerprint(
        config, experiment.loss, experiment.loss_params, settings, seed, plan_kind(plan),
        str(plan.get("augment", "")), plan["anchors"], plan.get("positives", np.zeros(0)),
        train.images, train.labels,
    )  # fmt: skip


def _resume(trainable: Trainable, path, device, fingerprint: str, job: Job) -> Progress:
    """The progress so far, with the trainable restored, when a matching checkpoint exists."""
    state = checkpoint.load(path, device, fingerprint)
    if state is None:
        if path is not None and path.is_file():
            log.info("%s: ignoring %s, made with other settings", job.name, path)
        return Progress()
    trainable.load_state_dict(state)
    torch.set_rng_state(state["rng"].cpu())
    checkpoint_found(job.name, int(state["epoch"]), job.shape[0], path)
    return Progress.of(state["progress"])


def _saver(trainable: Trainable, path: Path, fingerprint: str) -> Saver:
    def save(epoch: int, progress: Progress) -> None:
        state = {"fingerprint": fingerprint, "epoch": epoch, **trainable.state_dict()}
        state["progress"] = progress.state_dict()
        checkpoint.save(path, {**state, "rng": torch.get_rng_state()})

    return save
