"""The training loop: epochs of steps, backward, update; history, monitor and checkpoints.

Nothing here knows how a batch is made (that is the step's job), so one loop serves every
sampling. Per-step losses stay on the device until the epoch ends; a loss that turns NaN or
infinite stops the run naming the epoch and step, and the last good checkpoint stays in place.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from crl_pipelines.errors import UserError
from crl_pipelines.losses import Loss
from crl_pipelines.models import Encoder
from crl_pipelines.training.steps import Step

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


def run_epoch(trainable: Trainable, step: Step, epoch: int, steps: int) -> torch.Tensor:
    """One epoch of updates; the per-step losses, read back once at the end."""
    device = next(trainable.encoder.parameters()).device
    losses = torch.empty(steps, device=device)
    for index in range(steps):
        loss = step(epoch, index)
        trainable.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        trainable.optimizer.step()
        trainable.schedule.step()
        losses[index] = loss.detach()
    return losses.cpu()


def check_finite(losses: torch.Tensor, epoch: int, name: str, loss_name: str, kept: bool) -> None:
    """Stop at the first non-finite step loss of ``epoch`` (0-based), naming where it was."""
    bad = torch.nonzero(~torch.isfinite(losses)).flatten()
    if len(bad):
        note = f"; the checkpoint of epoch {epoch} is kept" if epoch and kept else ""
        raise TrainingError(
            f"experiment {name!r}: the {loss_name} loss became {losses[bad[0]].item()} at "
            f"epoch {epoch + 1}, step {bad[0].item() + 1}{note}; lower "
            "training.learning_rate or check the data"
        )


def train(
    trainable: Trainable,
    step: Step,
    shape: tuple[int, int],
    history: list[dict[str, float]],
    monitor: Callable[[Encoder], dict[str, float]] | None,
    save: Callable[[int, list[dict[str, float]]], None] | None,
    name: str,
    loss_name: str,
) -> list[dict[str, float]]:
    """Train the epochs after ``len(history)`` of the plan's ``shape`` (epochs, steps)."""
    epochs, steps = shape
    for epoch in range(len(history), epochs):
        started = time.perf_counter()
        learning_rate = trainable.optimizer.param_groups[0]["lr"]
        losses = run_epoch(trainable, step, epoch, steps)
        check_finite(losses, epoch, name, loss_name, kept=save is not None)
        row = {"epoch": epoch + 1, "loss": float(losses.mean()), "learning_rate": learning_rate}
        if monitor is not None:
            row.update(monitor(trainable.encoder))
        row["seconds"] = time.perf_counter() - started
        history.append(row)
        log.info(
            "%s: epoch %d/%d  loss %.4f  lr %.2g  uniformity %.3f  (%.1f s)",
            name, epoch + 1, epochs, row["loss"], learning_rate,
            row.get("uniformity", math.nan), row["seconds"],
        )  # fmt: skip
        if save is not None:
            save(epoch + 1, history)
    return history
