"""Instability caught as it happens: loss spikes per step, validation scores that fall per epoch.

The rules (documented in ``conf/base/parameters.yml`` and docs/instability.md):

- **Spike.** A jump that moves the model, told from a hard batch. Step losses are heavy-tailed:
  one batch of hard pairs gives one high loss, and the next steps are back at the level; a jump
  that moves the model (an update too large, a learning rate out of range) leaves the loss up.
  So a step is a spike when its loss lies more than the *rise* above the *level*, and the median
  of the ``AFTER`` losses after it (in its epoch) stays at least halfway up. The level is the
  median of the ``spike_window`` step losses before the step (across epochs, so the first steps
  of an epoch are judged too). The rise is ``spike_factor`` upper deviations: the window's upper
  decile's distance above its median ÷ 1.2816 (the standard deviation, for normal noise; larger
  than the median absolute deviation for the right-skewed noise of losses, and not 0 for a
  hinge whose losses are mostly exactly 0). It is at least ``START_SHARE`` of the untrained
  model's loss (the median of the run's first ``MIN_WINDOW`` steps): a loss that has gone flat
  (at 0, or near it) has no spread, and a rise far below what training removed is no
  instability; so a loss sitting at a median of 0 does not flag its noise. Not judged: the first
  ``MIN_WINDOW`` steps of a run (no level yet) and the last ``AFTER`` steps of each epoch
  (nothing after them yet); a shift that starts there is flagged at the first step of the next
  epoch, whose loss is still up.

  False alarms: on noise independent from step to step, a flag needs the step above the rise and
  at least 3 of the 5 after it above half of it; where one step lies above half the rise with
  probability ``p``, a step flags with probability below ``10 p⁴``: under 10⁻⁵ per step even for
  Cauchy noise (``p`` ≈ 0.027 at 5 upper deviations). On recorded runs: docs/instability.md.
- **Validation fall.** An epoch whose validation score, the one ``training.keep: best`` chooses
  by (:func:`crl_pipelines.training.monitor.selection_score`: kNN accuracy with labels, else
  −(alignment + uniformity) of two views), falls below its best so far by more than
  ``degrade_tolerance`` × that best's magnitude. (Alignment alone is no judge: a collapsing
  encoder has the best alignment of all.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_WINDOW = 5  # steps before the first one judged
AFTER = 5  # steps after a jump whose median tells a shift of the level from one hard batch
UPPER_TO_STD = 1.2816  # upper decile − median → standard deviation of normal noise
START_SHARE = 0.1  # the rise is at least this share of the untrained model's loss
HALFWAY = 0.5  # the median of the steps after a spike stays at least this share of the rise up


@dataclass(frozen=True)
class Spike:
    """One step whose loss jumped and stayed up: where, how high, the level it jumped from (the
    median of the steps before) and the median of the steps after it."""

    epoch: int  # 1-based
    step: int  # 1-based, within the epoch
    loss: float
    median: float
    after: float

    def describe(self) -> str:
        return (
            f"epoch {self.epoch}, step {self.step}: loss {self.loss:.4g} against a median of "
            f"{self.median:.4g} over the steps before, {self.after:.4g} over the {AFTER} after"
        )


@dataclass(frozen=True)
class Judgement:
    """Per step of an epoch: whether it is a spike, the level it was judged against and the
    median of the ``AFTER`` steps after it (both NaN where it was not judged)."""

    flags: torch.Tensor
    levels: torch.Tensor
    after: torch.Tensor


def spike_flags(
    previous: torch.Tensor, losses: torch.Tensor, factor: float, window: int, start: float
) -> Judgement:
    """Judge each of ``losses`` (one epoch, in step order, after the ``previous`` steps of the
    run) by the spike rule of this module, all steps at once. ``start``: the loss's starting
    level (:func:`starting_level`)."""
    losses = losses.double()
    count = len(losses)
    history = torch.cat([previous[-window:].double(), losses])
    padded = torch.cat([torch.full((window,), math.nan, dtype=torch.float64), history])
    before = padded.unfold(0, window, 1)[len(history) - count : len(history)]
    levels = before.nanquantile(0.5, dim=1)
    deviations = (before.nanquantile(0.9, dim=1) - levels) / UPPER_TO_STD
    rise = (factor * deviations).clamp(min=START_SHARE * start)
    judged = ((~before.isnan()).sum(dim=1) >= min(MIN_WINDOW, window)) & (rise > 0)
    after = torch.full((count,), math.nan, dtype=torch.float64)
    if count > AFTER:
        after[: count - AFTER] = (
            losses[1:].unfold(0, AFTER, 1)[: count - AFTER].quantile(0.5, dim=1)
        )
    flags = judged & (losses > levels + rise) & (after > levels + HALFWAY * rise)
    keep = judged & ~after.isnan()
    nan = torch.tensor(math.nan, dtype=torch.float64)
    return Judgement(flags, torch.where(keep, levels, nan), torch.where(keep, after, nan))


def starting_level(first_losses: torch.Tensor) -> float:
    """The loss's starting level, the untrained model's: the magnitude of the median of the
    run's first ``MIN_WINDOW`` step losses (of ``first_losses``, the run's first steps)."""
    return abs(float(first_losses[:MIN_WINDOW].double().median()))


def spikes_of_epoch(epoch: int, losses: torch.Tensor, judgement: Judgement) -> list[Spike]:
    """The flagged steps of ``epoch`` (0-based) as :class:`Spike` records."""
    return [
        Spike(
            epoch + 1,
            index + 1,
            float(losses[index]),
            float(judgement.levels[index]),
            float(judgement.after[index]),
        )
        for index in torch.nonzero(judgement.flags).flatten().tolist()
    ]


def degraded(score: float, best: float | None, tolerance: float, what: str) -> str | None:
    """How this epoch's validation ``score`` (higher is better) fell from the ``best`` so far,
    when it fell by more than ``tolerance`` × |best|: e.g. ``"validation kNN accuracy 0.412 <
    best 0.930"``; None when it did not (or there is no best yet)."""
    if best is None or math.isnan(score) or score >= best - tolerance * abs(best):
        return None
    return f"validation {what} {score:.3f} < best {best:.3f}"
