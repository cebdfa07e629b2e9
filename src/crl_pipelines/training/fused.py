"""Every run of a plan in one step: runs that share a sampling plan, an architecture and optimizer
settings are trained together.

Each step gathers the batch (and draws its views) once, runs one forward pass for all the runs'
encoders, scores each run's own loss on its own slice of the embeddings, and takes one backward
pass and one optimizer step over every run's weights. Adam, AdamW and SGD update each weight
from its own gradient and moments, and the learning-rate schedule is the same for every run, so
one optimizer over all of them, with one parameter group per run (its own learning rate and
weight decay), is every run's own optimizer; gradient norms and clipping are per run. Each run
keeps its own random stream (the losses that draw from it), its history, monitor, instability
checks and checkpoints, written as its own run writes them
(:class:`~crl_pipelines.training.loop.Ledger`), so training it alone afterwards resumes from them.
:class:`EpochwiseTraining` trains such a group one epoch at a time, so that a caller can stop
some of its runs between epochs (the tuner's pruner does).

The forward pass of the group is either *looped* (each encoder in turn, the same arithmetic as
training alone: the CPU's choice, where grouped convolutions measured slower than separate
ones) or *grouped* (:class:`~crl_pipelines.training.stacked.StackedEncoder`: each layer of all
encoders as one grouped layer, one kernel launch instead of G: CUDA's choice). A run whose loss
goes non-finite leaves the group after that epoch (its own train node then fails with the
reason); the others train on together to their last epoch.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call

from crl_pipelines.progress import epoch_bars, trained_together
from crl_pipelines.sampling import plan_kind
from crl_pipelines.training import checkpoint, loop
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
# Settings each run keeps in its own parameter group of the shared optimizer: they may differ.
PER_RUN = {"learning_rate", "weight_decay"}


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
    training = settings.model_dump(exclude=RECORDING | PER_RUN)
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
    with EpochwiseTraining(jobs, device, grouped) as training:
        epochs, steps, batch = jobs[0].shape
        title = f"{jobs[0].name} +{len(jobs) - 1}"
        with epoch_bars(title, epochs, steps, batch) as on_step:
            for epoch in range(training.start, epochs):
                failed = training.train_epoch(epoch, on_step)
                if failed:
                    log.warning(
                        "%s: dropped from the fused training after epoch %d; the other runs go "
                        "on", "; ".join(failed.values()), epoch + 1,
                    )  # fmt: skip
                    training.stop(list(failed))
                if not training.active:
                    break
    trained_together([job.name for job in jobs], title)
    for job, progress in zip(jobs, training.progresses, strict=True):
        warn_if_collapsed(job.name, progress.history, job.collapse_threshold)
    return training.progresses


class EpochwiseTraining:
    """Runs of one plan and fusion key trained in shared steps, one epoch at a time (a run that
    cannot be fused trains alone here, the same way). Between epochs a caller may stop some
    runs (:meth:`stop`); the others go on together. Each run's progress is in
    :attr:`progresses`. A context manager: the caller's random stream is restored at the end."""

    def __init__(self, jobs: Sequence[Job], device: torch.device, grouped: bool | None = None):
        self.jobs, self.device = list(jobs), device
        self.grouped = device.type == "cuda" if grouped is None else grouped
        self._random = torch.random.fork_rng(devices=[device] if device.type == "cuda" else [])

    def __enter__(self) -> EpochwiseTraining:
        self._random.__enter__()
        data = self.jobs[0].data(self.device)
        self.setups = [job.setup(SINGLE, self.device, data) for job in self.jobs]
        self.progresses, self.streams = [], []
        for job, setup in zip(self.jobs, self.setups, strict=True):
            self.progresses.append(job.resume(setup, self.device))
            self.streams.append(RandomStream.current(self.device))
        if len({len(progress.history) for progress in self.progresses}) != 1:
            raise ValueError("runs trained together must have trained the same epochs")
        self.ledgers = [
            job.ledger(setup, progress)
            for job, setup, progress in zip(self.jobs, self.setups, self.progresses, strict=True)
        ]
        self.active = list(range(len(self.jobs)))
        self._regroup()
        epochs, steps, batch = self.jobs[0].shape
        log.info(
            "training %d run(s) in one step (%s forward) on %s: %s: %d epochs × %d steps of %d "
            "(%s)", len(self.jobs), "grouped" if self.grouped else "looped", self.device,
            ", ".join(job.name for job in self.jobs), epochs, steps, batch,
            plan_kind(self.jobs[0].plan),
        )  # fmt: skip
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._random.__exit__(*exc_info)

    @property
    def start(self) -> int:
        """The first epoch still to train."""
        return len(self.progresses[0].history)

    def _regroup(self) -> None:
        jobs = [self.jobs[i] for i in self.active]
        setups = [self.setups[i] for i in self.active]
        streams = [self.streams[i] for i in self.active]
        if len(jobs) == 1 and not type(setups[0].step).fusable:
            self.group = Alone(jobs[0], setups[0], streams[0])
        else:
            self.group = Group(jobs, setups, streams, self.grouped) if self.active else None

    def train_epoch(self, epoch: int, on_step: OnStep | None = None) -> dict[int, str]:
        """Train ``epoch`` (0-based) for the runs still active and record it in each run's
        ledger; the runs that failed (their loss went non-finite), by index, with the error."""
        started = time.perf_counter()
        steps = self.jobs[0].shape[1]
        traces = self.group.run_epoch(epoch, steps, on_step)
        ledgers = [self.ledgers[i] for i in self.active]
        failed = self.group.record(ledgers, epoch, traces, started)
        return {self.active[index]: error for index, error in failed.items()}

    def stop(self, indexes: Sequence[int]) -> None:
        """Train no further epoch of the runs ``indexes`` (their progress so far stays)."""
        self.active = [index for index in self.active if index not in set(indexes)]
        self._regroup()


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


class Alone:
    """One run whose step cannot be shared (LOOC's heads), trained by its own step and
    optimizer behind the interface of a :class:`Group` of one."""

    def __init__(self, job: Job, setup: Setup, stream: RandomStream) -> None:
        self.setup, self.stream = setup, stream
        self.clip = job.experiment.training.clip_grad_norm

    def run_epoch(self, epoch: int, steps: int, on_step: OnStep | None) -> list[dict]:
        with self.stream:
            trainable, step = self.setup.trainable, self.setup.step
            return [loop.run_epoch(trainable, step, epoch, steps, self.clip, on_step)]

    def record(self, ledgers: list, epoch: int, traces: list[dict], started: float) -> dict:
        try:
            with self.stream:
                ledgers[0].record(epoch, traces[0], started)
        except TrainingError as error:
            return {0: f"{ledgers[0].names[0]} ({error})"}
        return {}


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
        groups = [
            {
                "params": own,
                "lr": job.experiment.training.learning_rate,
                "weight_decay": job.experiment.training.weight_decay,
            }
            for job, own in zip(jobs, self.parameters, strict=True)
        ]
        self.optimizer, self.schedule = build_optimizer(groups, settings, epochs, steps)
        self.clip = settings.clip_grad_norm
        self._adopt()
        kind = type(setups[0].step)
        self.step = kind(self.forward, self.loss, setups[0].step.data, jobs[0].plan)

    def _adopt(self) -> None:
        """Start from the runs' own optimizer state and schedule (resumed ones included): every
        run is at the same step, each with its own base and current learning rate."""
        for setup in self.setups:
            for parameter, state in setup.trainable.optimizer.state.items():
                self.optimizer.state[parameter] = state
        schedules = [setup.trainable.schedule for setup in self.setups]
        state = schedules[0].state_dict()
        state["base_lrs"] = [schedule.base_lrs[0] for schedule in schedules]
        state["_last_lr"] = [schedule.get_last_lr()[0] for schedule in schedules]
        self.schedule.load_state_dict(state)
        for group, setup in zip(self.optimizer.param_groups, self.setups, strict=True):
            group["lr"] = setup.trainable.optimizer.param_groups[0]["lr"]

    def _hand_over(self, index: int) -> None:
        """Give run ``index``'s own optimizer and schedule the group's state of its weights."""
        own = self.setups[index].trainable
        for parameter in own.parameters():
            if parameter in self.optimizer.state:
                own.optimizer.state[parameter] = self.optimizer.state[parameter]
        lr = self.optimizer.param_groups[index]["lr"]
        own.optimizer.param_groups[0]["lr"] = lr
        state = self.schedule.state_dict()
        state["base_lrs"] = [self.schedule.base_lrs[index]]
        state["_last_lr"] = [lr]
        own.schedule.load_state_dict(state)

    def run_epoch(self, epoch: int, steps: int, on_step: OnStep | None) -> list[dict]:
        """One epoch of shared steps; each run's per-step losses, learning rates and gradient
        norms (before clipping), read back once at the end."""
        device, count = self.step.data.device, len(self.setups)
        losses = torch.empty(count, steps, device=device)
        norms = torch.empty(count, steps, device=device)
        rates = torch.empty(count, steps, dtype=torch.float64)
        for index in range(steps):
            rates[:, index] = torch.tensor(
                [group["lr"] for group in self.optimizer.param_groups], dtype=torch.float64
            )
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
            {"loss": losses[run], "learning_rate": rates[run], "grad_norm": norms[run]}
            for run in range(count)
        ]

    def record(
        self, ledgers: list, epoch: int, traces: list[dict], started: float
    ) -> dict[int, str]:
        """Record the epoch in every run's ledger (each in its own random stream, with its own
        optimizer state in place for its checkpoint); the runs that failed, by their index in
        the group, with the error (their loss went non-finite: the group stops there)."""
        self.forward.hand_back()
        failed = {}
        for index, (ledger, stream, trace) in enumerate(
            zip(ledgers, self.streams, traces, strict=True)
        ):
            self._hand_over(index)
            try:
                with stream:
                    ledger.record(epoch, trace, started)
            except TrainingError as error:
                failed[index] = f"{ledger.names[0]} ({error})"
        return failed
