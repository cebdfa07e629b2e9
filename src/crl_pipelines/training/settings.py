"""How to train (``training`` in the parameters, or an experiment's own overrides)."""

from __future__ import annotations

from typing import Literal

from crl_pipelines.devices import DeviceName
from crl_pipelines.validation import NonNegative, Positive, Settings


class TrainingSettings(Settings):
    """Optimizer, schedule, precision and device of a training run.

    ``scheduler``: ``constant`` or ``cosine`` (decay to 0 over the run), after a linear warm-up
    of ``warmup_epochs`` (fractions allowed). ``precision``: ``auto`` is bf16 autocast on CUDA
    and fp32 on the CPU. ``device``: ``auto`` picks CUDA when present. The number of epochs and
    the batch size are the sampling plan's: every run of a plan shares them.
    """

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: Positive = 1e-3
    weight_decay: NonNegative = 0.0
    scheduler: Literal["constant", "cosine"] = "constant"
    warmup_epochs: NonNegative = 0.0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: DeviceName = "auto"
