"""Instability caught as it happens: loss spikes per step, validation scores that fall per epoch.

The rules (documented in ``conf/base/parameters.yml`` and the README):

- **Spike.** A step's loss is a spike when it lies more than ``spike_factor`` robust deviations
  above the median of the ``spike_window`` step losses before it (across epochs, so the first
  steps of an epoch are judged too). The robust deviation is 1.4826 × the window's median absolute
  deviation (the standard deviation, for normal noise), floored at half the median's magnitude so
  that a loss that has gone flat (cross-entropy near 0) does not flag noise. The first
  ``MIN_WINDOW`` steps of a run are never judged: there is no level yet to jump from.
- **Degraded epoch.** An epoch whose validation kNN accuracy falls below its best so far by more
  than ``degrade_tolerance`` of that best, or whose validation alignment (lower is better) rises
  above its best so far by more than that fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

MIN_WINDOW = 5  # steps before the first one judged
MAD_TO_STD = 1.4826  # median absolute deviation → standard deviation of normal noise
FLOOR_OF_MEDIAN = 0.5  # the robust deviation is at least this share of |median|


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
    previous: torch.Tensor, losses: torch.Tensor, factor: float, window: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of ``losses`` (one epoch, in step order, after the ``previous`` steps of the run):
    whether it is a spike, and the median of the window it was judged against (NaN when it was
    not judged)."""
    history = torch.cat([previous[-window:].double(), losses.double()])
    offset = len(history) - len(losses)
    flags = torch.zeros(len(losses), dtype=torch.bool)
    medians = torch.full((len(losses),), math.nan, dtype=torch.float64)
    for index in range(len(losses)):
        before = history[max(0, offset + index - window) : offset + index]
        if len(before) < min(MIN_WINDOW, window):
            continue
        median = before.median()
        deviation = (before - median).abs().median() * MAD_TO_STD
        scale = torch.maximum(deviation, FLOOR_OF_MEDIAN * median.abs())
        medians[index] = median
        flags[index] = bool(history[offset + index] > median + factor * scale)
    return flags, medians


def spikes_of_epoch(
    epoch: int, losses: torch.Tensor, flags: torch.Tensor, medians: torch.Tensor
) -> list[Spike]:
    """The flagged steps of ``epoch`` (0-based) as :class:`Spike` records."""
    return [
        Spike(epoch + 1, int(index) + 1, float(losses[index]), float(medians[index]))
        for index in torch.nonzero(flags).flatten().tolist()
    ]


def degraded(row: dict[str, float], best: dict[str, float], tolerance: float) -> list[str]:
    """What got worse in this epoch's validation ``row`` than the ``best`` so far, beyond
    ``tolerance`` (a fraction of the best): e.g. ``["kNN accuracy 0.41 < best 0.93"]``."""
    found = []
    accuracy, best_accuracy = row.get("val_knn_accuracy", math.nan), best.get("val_knn_accuracy")
    if best_accuracy is not None and accuracy < best_accuracy * (1 - tolerance):
        found.append(f"validation kNN accuracy {accuracy:.3f} < best {best_accuracy:.3f}")
    alignment, best_alignment = row.get("val_alignment", math.nan), best.get("val_alignment")
    if best_alignment is not None and alignment > best_alignment * (1 + tolerance):
        found.append(f"validation alignment {alignment:.3f} > best {best_alignment:.3f}")
    return found


def update_best(row: dict[str, float], best: dict[str, float]) -> None:
    """Fold this epoch's validation kNN accuracy (higher is better) and alignment (lower) into
    the bests so far; NaN scores are ignored."""
    for key, better in (("val_knn_accuracy", max), ("val_alignment", min)):
        value = row.get(key, math.nan)
        if not math.isnan(value):
            best[key] = better(best.get(key, value), value)
