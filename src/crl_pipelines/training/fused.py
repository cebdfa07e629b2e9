"""Every run of a plan in one step: runs that share a sampling plan, an architecture and optimizer
settings are trained together.

Each step gathers the batch (and draws its views) once, runs one forward pass for all the runs'
encoders, scores each run's own loss on its own slice of the embeddings, and takes one backward
pass and one optimizer step over every run's weights. Adam, AdamW and SGD update each weight
from its own gradient and moments, and the learning-rate schedule is the same for every run, so
one optimizer over all of them is every run's own optimizer; gradient norms and clipping are
per run. Each run keeps its own random stream (the losses that draw from it), its history,
monitor, instability checks and checkpoints, written as its own run writes them
(:class:`~crl_pipelines.training.loop.Ledger`), so training it alone afterwards resumes from them.

The forward pass of the group is either *looped* (each encoder in turn, the same arithmetic as
training alone: the CPU's choice, where grouped convolutions measured slower than separate
ones) or *grouped* (:class:`~crl_pipelines.training.stacked.StackedEncoder`: each layer of all
encoders as one grouped layer, one kernel launch instead of G: CUDA's choice). A run whose loss
goes non-finite stops the group after that epoch; the others' checkpoints are then in place.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

from crl_pipelines.progress import epoch_bars
from crl_pipelines.sampling import plan_kind
from crl_pipelines.training import checkpoint
from crl_pipelines.training.collectives import SINGLE
from crl_pipelines.training.job import Job, Setup, step_class
from crl_pipelines.training.loop import OnStep, Progress, TrainingError
from crl_pipelines.training.monitor import warn_if_collapsed
from crl_pipelines.training.optim import build_optimizer
from crl_pipelines.training.stacked import StackedEncoder, member_view

log = logging.getLogger(__name__)

# Set to 0 by a runner that spreads the runs over workers itself (the Dask runner).
FUSE_VARIABLE = "CRL_PIPELINES_FUSE"
# Settings that only decide what a run records, not how its weights move: they may differ.
RECORDING = {"keep", "spike_factor", "spike_window", "degrade_tolerance"}


def fusion_allowed() -> bool:
    """Whether this process may train runs together (``CRL_PIPELINES_FUSE`` is not 0)."""
    return os.environ.get(FUSE_VARIABLE, "1").strip() != "0"


def fusion_key(job: Job) -> str | None:
    """What runs trained together must share (plan, model, optimizer settings), or None when
    ``job`` trains alone (``training.fuse: false``, several processes, or a step that cannot be
    fused)."""
    settings = job.experiment.training
    kind = step_class(job.experiment, job.plan, job.train)
    if not settings.fuse or settings.distributed.world > 1 or not kind.fusable:
        return None
    training = settings.model_dump(exclude=RECORDING)
    return repr((id(job.plan), id(job.train), job.experiment.model.model_dump(), training))


def epochs_done(job: Job) -> int:
    """How many epochs the run's checkpoint holds (0 without one made by the same inputs)."""
    fingerprint = job.build()[3]
    state = checkpoint.load(job.checkpoint, torch.device("cpu"), fingerprint)
    return int(state["epoch"]) if state is not None else 0


def train_with_partners(lead: Job, partners: Sequence[Job], device: torch.device) -> list[str]:
    """Train ``lead`` together with those of ``partners`` that can share its steps: the same
    fusion key, checkpoints at the same epoch, epochs still to train. Writes their checkpoints
    and returns their names (``lead``'s first); nothing is trained when no partner fits, and
    ``lead`` then trains alone as usual."""
    key = fusion_key(lead)
    epochs = lead.shape[0]
    start = epochs_done(lead) if key else epochs
    if start >= epochs:
        return []
    group = [lead] + [
        job for job in partners
        if fusion_key(job) == key and job.checkpoint and epochs_done(job) == start
    ]  # fmt: skip
    if len(group) < 2:
        return []
    train_together(group, device)
    return [job.name for job in group]


def train_together(
    jobs: Sequence[Job], device: torch.device, grouped: bool | None = None
) -> list[Progress]:
    """Train ``jobs`` (one plan, one fusion key, checkpoints at one epoch) in shared steps until
    every epoch is trained or a run fails; each run's progress. ``grouped``: the forward pass
    (module docstring); None picks grouped on CUDA, looped elsewhere."""
    grouped = device.type == "cuda" if grouped is None else grouped
    data = jobs[0].data(device)
    setups = [job.setup(SINGLE, device, data) for job in jobs]
    streams, progresses = [], []
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):  # the caller's stream is restored at the end
        for job, setup in zip(jobs, setups, strict=True):
            progresses.append(job.resume(setup, device))
            streams.append(RandomStream.current(device))
        if len({len(progress.history) for progress in progresses}) != 1:
            raise ValueError("runs trained together must have trained the same epochs")
        group = Group(jobs, setups, streams, grouped)
        names = ", ".join(job.name for job in jobs)
        epochs, steps, batch = jobs[0].shape
        log.info(
            "training %d runs in one step (%s forward) on %s: %s: %d epochs × %d steps of %d (%s)",
            len(jobs), "grouped" if grouped else "looped", device, names, epochs, steps, batch,
            plan_kind(jobs[0].plan),
        )  # fmt: skip
        ledgers = [
            job.ledger(setup, progress)
            for job, setup, progress in zip(jobs, setups, progresses, strict=True)
        ]
        title = f"{jobs[0].name} +{len(jobs) - 1}"
        with epoch_bars(title, epochs, steps) as on_step:
            for epoch in range(len(progresses[0].history), epochs):
                started = time.perf_counter()
                traces = group.run_epoch(epoch, steps, on_step)
                if not group.record(ledgers, epoch, traces, started):
                    break
    for job, progress in zip(jobs, progresses, strict=True):
        warn_if_collapsed(job.name, progress.history, job.collapse_threshold)
    return progresses


class RandomStream:
    """A run's own random state (the CPU's, and the device's on CUDA), swapped in around what
    draws from it, so each run of a group draws what it would draw trained alone."""

    def __init__(self, cpu: torch.Tensor, device: torch.device, cuda: torch.Tensor | None):
        self.cpu, self.device, self.cuda = cpu, device, cuda

    @classmethod
    def current(cls, device: torch.device) -> RandomStream:
        cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
        return cls(torch.get_rng_state(), device, cuda)

    def __enter__(self) -> RandomStream:
        torch.set_rng_state(self.cpu)
        if self.cuda is not None:
            torch.cuda.set_rng_state(self.cuda, self.device)
        return self

    def __exit__(self, *_: object) -> None:
        now = RandomStream.current(self.device)
        self.cpu, self.cuda = now.cpu, now.cuda


class GroupLoss(nn.Module):
    """Each run's loss on its slice of the group's embeddings (N × (G·D)), in its own random
    stream; the G losses as a vector."""

    def __init__(self, losses: list[nn.Module], streams: list[RandomStream], width: int):
        super().__init__()
        self.losses, self.streams, self.width = nn.ModuleList(losses), streams, width

    def forward(self, first: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        values = []
        for index, (loss_fn, stream) in enumerate(zip(self.losses, self.streams, strict=True)):
            part = slice(index * self.width, (index + 1) * self.width)
            slices = [tensor[..., part] if tensor.dim() > 1 else tensor for tensor in rest]
            with stream:
                values.append(loss_fn(first[..., part], *slices))
        return torch.stack(values)


class LoopedEncoders(nn.Module):
    """The encoders one after another on the same images; their embeddings side by side."""

    def __init__(self, encoders: list[nn.Module]) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoders)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.cat([encoder(images) for encoder in self.encoders], dim=1)

    def hand_back(self) -> None:
        """Nothing to do: the encoders are updated in place."""


class GroupedEncoders(nn.Module):
    """The encoders as one grouped module (:class:`StackedEncoder`) whose weights are the
    encoders' own, stacked afresh every forward pass (so gradients reach them and the optimizer
    updates them in place); its batch-norm statistics are handed back by :meth:`hand_back`."""

    def __init__(self, encoders: list[nn.Module]) -> None:
        super().__init__()
        self.members = encoders  # a plain list: their weights are not this module's
        self.body = StackedEncoder(encoders).requires_grad_(False)
        self.shapes = {name: p.shape for name, p in self.body.named_parameters()}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        weights = [dict(encoder.named_parameters()) for encoder in self.members]
        stacked = {
            name: torch.stack([own[name] for own in weights]).view(shape)
            for name, shape in self.shapes.items()
        }
        return functional_call(self.body, stacked, (images,), strict=False)

    @torch.no_grad()
    def hand_back(self) -> None:
        """Copy the group's batch-norm statistics into each encoder."""
        buffers = dict(self.body.named_buffers())
        for index, encoder in enumerate(self.members):
            for name, own in encoder.named_buffers():
                if name in buffers:
                    own.copy_(member_view(buffers[name], len(self.members), index, own.shape))


class Group:
    """The runs of one fused training: one step, one optimizer over every run's weights."""

    def __init__(
        self, jobs: Sequence[Job], setups: list[Setup], streams: list[RandomStream], grouped: bool
    ) -> None:
        self.setups = setups
        encoders = [setup.trainable.encoder for setup in setups]
        self.forward = GroupedEncoders(encoders) if grouped else LoopedEncoders(encoders)
        losses = [setup.trainable.loss_fn for setup in setups]
        self.loss = GroupLoss(losses, streams, encoders[0].embedding_dim)
        self.streams = streams
        self.parameters = [setup.trainable.parameters() for setup in setups]
        settings = jobs[0].experiment.training
        epochs, steps, _ = jobs[0].shape
        everything = [p for own in self.parameters for p in own]
        self.optimizer, self.schedule = build_optimizer(everything, settings, epochs, steps)
        self.clip = settings.clip_grad_norm
        self._adopt()
        kind = type(setups[0].step)
        self.step = kind(self.forward, self.loss, setups[0].step.data, jobs[0].plan)

    def _adopt(self) -> None:
        """Start from the runs' own optimizer state and schedule (resumed ones included)."""
        for setup in self.setups:
            for parameter, state in setup.trainable.optimizer.state.items():
                self.optimizer.state[parameter] = state
        lead = self.setups[0].trainable
        self.schedule.load_state_dict(lead.schedule.state_dict())
        self.optimizer.param_groups[0]["lr"] = lead.optimizer.param_groups[0]["lr"]

    def _hand_over(self, setup: Setup) -> None:
        """Give a run's own optimizer and schedule the group's state of its weights."""
        own = setup.trainable
        for parameter in own.parameters():
            if parameter in self.optimizer.state:
                own.optimizer.state[parameter] = self.optimizer.state[parameter]
        own.optimizer.param_groups[0]["lr"] = self.optimizer.param_groups[0]["lr"]
        own.schedule.load_state_dict(self.schedule.state_dict())

    def run_epoch(self, epoch: int, steps: int, on_step: OnStep | None) -> list[dict]:
        """One epoch of shared steps; each run's per-step losses, learning rates and gradient
        norms (before clipping), read back once at the end."""
        device, count = self.step.data.device, len(self.setups)
        losses = torch.empty(count, steps, device=device)
        norms = torch.empty(count, steps, device=device)
        rates = torch.empty(steps, dtype=torch.float64)
        for index in range(steps):
            rates[index] = self.optimizer.param_groups[0]["lr"]
            loss = self.step(epoch, index)
            self.optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            for run, parameters in enumerate(self.parameters):
                grads = [p.grad for p in parameters if p.grad is not None]
                norm = torch.nn.utils.get_total_norm(grads)
                if self.clip is not None:
                    torch.nn.utils.clip_grads_with_norm_(parameters, self.clip, norm)
                norms[run, index] = norm
            self.optimizer.step()
            self.schedule.step()
            losses[:, index] = loss.detach()
            if on_step is not None:
                on_step(epoch + 1, index + 1)
        losses, norms = losses.cpu(), norms.cpu()
        return [
            {"loss": losses[run], "learning_rate": rates, "grad_norm": norms[run]}
            for run in range(count)
        ]

    def record(self, ledgers: list, epoch: int, traces: list[dict], started: float) -> bool:
        """Record the epoch in every run's ledger (each in its own random stream, with its own
        optimizer state in place for its checkpoint); False when a run failed, which ends the
        group after this epoch (each run then goes on alone from its checkpoint)."""
        self.forward.hand_back()
        failed = []
        for setup, ledger, stream, trace in zip(
            self.setups, ledgers, self.streams, traces, strict=True
        ):
            self._hand_over(setup)
            try:
                with stream:
                    ledger.record(epoch, trace, started)
            except TrainingError as error:
                failed.append(f"{ledger.names[0]} ({error})")
        if failed:
            log.warning(
                "stopping the fused training after epoch %d: %s; the other runs go on alone "
                "from their checkpoints", epoch + 1, "; ".join(failed),
            )  # fmt: skip
        return not failed
