"""Instability caught as it happens: loss spikes per step, validation scores that fall per epoch.

The rules (documented in ``conf/base/parameters.yml`` and the README):

- **Spike.** A step's loss is a spike when it lies more than ``spike_factor`` robust deviations
  above the median of the ``spike_window`` step losses before it (across epochs, so the first
  steps of an epoch are judged too). The robust deviation is 1.4826 × the window's median absolute
  deviation (the standard deviation, for normal noise), but at least half the median's magnitude
  and at least a hundredth of the loss's starting level (the magnitude of the median of the run's
  first ``spike_window`` steps): a loss that has gone flat, at or near 0 (cross-entropy, a hinge
  that is satisfied), does not flag its noise. The first ``MIN_WINDOW`` steps of a run are never
  judged: there is no level yet to jump from.
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
MAD_TO_STD = 1.4826  # median absolute deviation → standard deviation of normal noise
FLOOR_OF_MEDIAN = 0.5  # the robust deviation is at least this share of |median|
FLOOR_OF_START = 0.01  # ... and at least this share of the loss's starting level


@dataclass(frozen=True)
class Spike:
    """One step whose loss jumped: where, how high, and the level it jumped from."""

    epoch: int  # 1-based
    step: int  # 1-based, within the epoch
    loss: float
    median: float

    def describe(self) -> str:
        return (
            f"epoch {self.epoch}, step {self.step}: loss {self.loss:.4g} against a median of "
            f"{self.median:.4g} over the steps before"
        )


def spike_flags(
    previous: torch.Tensor, losses: torch.Tensor, factor: float, window: int, start: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of ``losses`` (one epoch, in step order, after the ``previous`` steps of the run):
    whether it is a spike, and the median of the window it was judged against (NaN when it was
    not judged). ``start``: the loss's starting level (:func:`starting_level`)."""
    history = torch.cat([previous[-window:].double(), losses.double()])
    offset = len(history) - len(losses)
    flags = torch.zeros(len(losses), dtype=torch.bool)
    medians = torch.full((len(losses),), math.nan, dtype=torch.float64)
    for index in range(len(losses)):
        before = history[max(0, offset + index - window) : offset + index]
        if len(before) < min(MIN_WINDOW, window):
            continue
        median = before.median()
        deviation = float((before - median).abs().median()) * MAD_TO_STD
        scale = max(deviation, FLOOR_OF_MEDIAN * abs(float(median)), FLOOR_OF_START * start)
        medians[index] = median
        flags[index] = bool(history[offset + index] > median + factor * scale)
    return flags, medians


def starting_level(first_losses: torch.Tensor) -> float:
    """The loss's starting level: the magnitude of the median of the run's first steps."""
    return abs(float(first_losses.double().median()))


def spikes_of_epoch(
    epoch: int, losses: torch.Tensor, flags: torch.Tensor, medians: torch.Tensor
) -> list[Spike]:
    """The flagged steps of ``epoch`` (0-based) as :class:`Spike` records."""
    return [
        Spike(epoch + 1, int(index) + 1, float(losses[index]), float(medians[index]))
        for index in torch.nonzero(flags).flatten().tolist()
    ]


def degraded(score: float, best: float | None, tolerance: float, what: str) -> str | None:
    """How this epoch's validation ``score`` (higher is better) fell from the ``best`` so far,
    when it fell by more than ``tolerance`` × |best|: e.g. ``"validation kNN accuracy 0.412 <
    best 0.930"``; None when it did not (or there is no best yet)."""
    if best is None or math.isnan(score) or score >= best - tolerance * abs(best):
        return None
    return f"validation {what} {score:.3f} < best {best:.3f}"
