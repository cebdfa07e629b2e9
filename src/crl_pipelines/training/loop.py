"""The training loop: epochs of steps, backward, update; history, monitor, instability, checkpoints.

Nothing here knows how a batch is made (that is the step's job), so one loop serves every
sampling. Per-step losses, learning rates and gradient norms stay on the device until the epoch
ends (one read per epoch); a loss that turns NaN or infinite stops the run naming the epoch and
step, and the last good checkpoint stays in place. After each epoch the step losses are searched
for spikes and the validation scores for a fall (:mod:`~crl_pipelines.training.instability`);
both are logged and written to the history, and the best epoch so far is remembered for
``training.keep: best``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from crl_pipelines.errors import UserError
from crl_pipelines.losses import Loss
from crl_pipelines.models import Encoder
from crl_pipelines.training import instability
from crl_pipelines.training.monitor import selection_score
from crl_pipelines.training.steps.base import Step
from crl_pipelines.training_settings import TrainingSettings

log = logging.getLogger(__name__)


class TrainingError(UserError, RuntimeError):
    """Training that cannot go on; the message names the experiment, epoch and step."""


@dataclass
class Trainable:
    """What a run updates, and what a checkpoint keeps of it."""

    encoder: Encoder
    loss_fn: Loss
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler

    def state_dict(self) -> dict[str, Any]:
        return {
            "encoder": self.encoder.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "schedule": self.schedule.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.encoder.load_state_dict(state["encoder"])
        self.loss_fn.load_state_dict(state["loss"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])

    def parameters(self) -> list[torch.nn.Parameter]:
        return [p for group in self.optimizer.param_groups for p in group["params"]]


@dataclass
class Progress:
    """What a run has recorded so far (checkpointed, so a resumed run goes on from it): the
    per-epoch history, the per-step trace, and the best epoch's weights for ``keep: best``."""

    history: list[dict[str, float]] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0  # 1-based; 0: none yet
    best_weights: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {
            "history": self.history,
            "steps": self.steps,
            "best_epoch": self.best_epoch,
            "best_weights": self.best_weights,
        }

    @classmethod
    def of(cls, state: dict[str, Any]) -> Progress:
        return cls(state["history"], state["steps"], state["best_epoch"], state["best_weights"])

    def best_score(self) -> float | None:
        """The best epoch's validation score so far (None before the first)."""
        return selection_score(self.history[self.best_epoch - 1])[0] if self.best_epoch else None


OnStep = Callable[[int, int], None]
"""Told ``(epoch, step)``, both 1-based, after each step: a progress display (no device reads)."""


def run_epoch(
    trainable: Trainable,
    step: Step,
    epoch: int,
    steps: int,
    clip: float | None,
    on_step: OnStep | None = None,
) -> dict[str, torch.Tensor]:
    """One epoch of updates; per-step losses, learning rates and gradient norms (before
    clipping), read back once at the end; ``on_step`` is told of each step as it ends."""
    device = next(trainable.encoder.parameters()).device
    losses, norms = torch.empty(steps, device=device), torch.empty(steps, device=device)
    rates = torch.empty(steps, dtype=torch.float64)
    parameters = trainable.parameters()
    for index in range(steps):
        rates[index] = trainable.optimizer.param_groups[0]["lr"]
        loss = step(epoch, index)
        trainable.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        step.shard.reduce_gradients(trainable.encoder, trainable.loss_fn)
        norm = torch.nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        if clip is not None:
            torch.nn.utils.clip_grads_with_norm_(parameters, clip, norm)
        trainable.optimizer.step()
        trainable.schedule.step()
        losses[index], norms[index] = loss.detach(), norm
        if on_step is not None:
            on_step(epoch + 1, index + 1)
    return {"loss": losses.cpu(), "learning_rate": rates, "grad_norm": norms.cpu()}


def check_finite(
    losses: torch.Tensor, epoch: int, names: tuple[str, str], kept: bool, hint: str
) -> None:
    """Stop at the first non-finite step loss of ``epoch`` (0-based), naming where it was and,
    in ``hint``, what is extreme (:func:`crl_pipelines.experiments.divergence_hint`)."""
    bad = torch.nonzero(~torch.isfinite(losses)).flatten()
    if len(bad):
        note = f"; the checkpoint of epoch {epoch} is kept" if epoch and kept else ""
        raise TrainingError(
            f"experiment {names[0]!r}: the {names[1]} loss became {losses[bad[0]].item()} at "
            f"epoch {epoch + 1}, step {bad[0].item() + 1}{note}; {hint}"
        )


def _trace(epoch: int, trace: dict[str, torch.Tensor], flags: torch.Tensor) -> list[dict]:
    """The epoch's per-step rows of the run's step trace."""
    columns = {key: values.tolist() for key, values in trace.items()}
    return [
        {"epoch": epoch + 1, "step": index + 1, **{k: v[index] for k, v in columns.items()},
         "spike": bool(flags[index])}
        for index in range(len(flags))
    ]  # fmt: skip


def _epoch_row(
    epoch: int, trace: dict[str, torch.Tensor], spikes: list[instability.Spike]
) -> dict[str, float]:
    """The history row of an epoch before its validation scores: the mean loss, the learning
    rate it started with, the largest gradient norm, and its spikes (the first one's place)."""
    first = spikes[0] if spikes else None
    return {
        "epoch": epoch + 1,
        "loss": float(trace["loss"].mean()),
        "learning_rate": float(trace["learning_rate"][0]),
        "max_grad_norm": float(trace["grad_norm"].max()),
        "spikes": len(spikes),
        "spike_step": first.step if first else math.nan,
        "spike_loss": first.loss if first else math.nan,
        "spike_median": first.median if first else math.nan,
    }


@dataclass
class Ledger:
    """What a run records after each epoch: the epoch's history row and step trace (checked for
    non-finite losses and spikes), the monitor's scores, the best epoch, the log line and the
    checkpoint. ``names`` are the run's and the loss's, for the log and errors."""

    trainable: Trainable
    progress: Progress
    monitor: Callable[[Encoder], dict[str, float]] | None
    save: Callable[[int, Progress], None] | None
    settings: TrainingSettings
    names: tuple[str, str]
    epochs: int
    hint: str = "lower training.learning_rate or check the data"  # what to change when it diverges

    def __post_init__(self) -> None:
        window = self.settings.spike_window
        losses = [row["loss"] for row in self.progress.steps[-window:]]
        self.previous = torch.tensor(losses, dtype=torch.float64)

    def record(self, epoch: int, trace: dict[str, torch.Tensor], started: float) -> None:
        """Record ``epoch`` (0-based), trained since ``started`` (``time.perf_counter``)."""
        name, progress, window = self.names[0], self.progress, self.settings.spike_window
        check_finite(trace["loss"], epoch, self.names, self.save is not None, self.hint)
        first = [row["loss"] for row in progress.steps[:window]] or trace["loss"][:window]
        start = instability.starting_level(torch.as_tensor(first))
        judgement = instability.spike_flags(
            self.previous, trace["loss"], self.settings.spike_factor, window, start
        )
        spikes = instability.spikes_of_epoch(epoch, trace["loss"], judgement)
        row = _epoch_row(epoch, trace, spikes)
        if self.monitor is not None:
            row.update(self.monitor(self.trainable.encoder))
            _judge(row, progress, self.trainable.encoder, self.settings, name)
        row["seconds"] = time.perf_counter() - started
        progress.history.append(row)
        progress.steps += _trace(epoch, trace, judgement.flags)
        self.previous = torch.cat([self.previous, trace["loss"].double()])[-window:]
        _log_epoch(name, self.epochs, row, spikes)
        if self.save is not None:
            self.save(epoch + 1, progress)


def train(
    trainable: Trainable,
    step: Step,
    shape: tuple[int, int],
    progress: Progress,
    monitor: Callable[[Encoder], dict[str, float]] | None,
    save: Callable[[int, Progress], None] | None,
    settings: TrainingSettings,
    names: tuple[str, str],
    on_step: OnStep | None = None,
    hint: str = Ledger.hint,
) -> Progress:
    """Train the epochs after ``len(progress.history)`` of the plan's ``shape`` (epochs, steps);
    ``names`` are the run's and the loss's, for the log and errors, ``hint`` what to change if
    the loss diverges; ``on_step`` follows the steps (:mod:`crl_pipelines.progress` draws them
    as a bar)."""
    epochs, steps = shape
    ledger = Ledger(trainable, progress, monitor, save, settings, names, epochs, hint)
    for epoch in range(len(progress.history), epochs):
        started = time.perf_counter()
        trace = run_epoch(trainable, step, epoch, steps, settings.clip_grad_norm, on_step)
        ledger.record(epoch, trace, started)
    return progress


def _judge(
    row: dict[str, float],
    progress: Progress,
    encoder: Encoder,
    settings: TrainingSettings,
    name: str,
) -> None:
    """Flag the epoch when its validation scores fell from their best; remember it when it is
    the best epoch so far (its weights too, for ``keep: best``)."""
    score, what = selection_score(row)
    best = progress.best_score()
    fall = instability.degraded(score, best, settings.degrade_tolerance, what)
    row["degraded"] = int(fall is not None)
    if fall:
        log.warning("%s: epoch %d got worse on validation: %s", name, row["epoch"], fall)
    if best is None or score > best:
        progress.best_epoch = int(row["epoch"])
        if settings.keep == "best":
            weights = encoder.state_dict()
            progress.best_weights = {key: value.detach().clone() for key, value in weights.items()}


def _log_epoch(
    name: str, epochs: int, row: dict[str, float], spikes: list[instability.Spike]
) -> None:
    log.info(
        "%s: epoch %d/%d  loss %.4f  lr %.2g  val kNN %.3f  val uniformity %.3f  (%.1f s)",
        name, row["epoch"], epochs, row["loss"], row["learning_rate"],
        row.get("val_knn_accuracy", math.nan), row.get("val_uniformity", math.nan),
        row["seconds"],
    )  # fmt: skip
    if spikes:
        more = f" (and {len(spikes) - 1} more steps of the epoch)" if len(spikes) > 1 else ""
        log.warning("%s: loss spike at %s%s", name, spikes[0].describe(), more)
