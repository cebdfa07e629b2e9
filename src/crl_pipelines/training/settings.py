"""How to train (``training`` in the parameters, or an experiment's own overrides)."""

from __future__ import annotations

from typing import Literal

from crl_pipelines.devices import DeviceName
from crl_pipelines.validation import NonNegative, Positive, PositiveInt, Settings


class TrainingSettings(Settings):
    """Optimizer, schedule, precision and device of a training run.

    ``scheduler``: ``constant`` or ``cosine`` (decay to 0 over the run), after a linear warm-up
    of ``warmup_epochs`` (fractions allowed). ``precision``: ``auto`` is bf16 autocast on CUDA
    and fp32 on the CPU. ``device``: ``auto`` picks CUDA when present. The number of epochs and
    the batch size are the sampling plan's: every run of a plan shares them.

    ``clip_grad_norm``: the largest total gradient norm a step applies (None: no clipping).
    ``keep``: the weights a run ends with, ``last`` epoch's or the ``best`` epoch's by the
    validation monitor (:func:`crl_pipelines.training.monitor.selection_score`). ``spike_factor``,
    ``spike_window`` and ``degrade_tolerance``: the instability rules of
    :mod:`crl_pipelines.training.instability`.
    """

    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    learning_rate: Positive = 1e-3
    weight_decay: NonNegative = 0.0
    scheduler: Literal["constant", "cosine"] = "constant"
    warmup_epochs: NonNegative = 0.0
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    device: DeviceName = "auto"
    clip_grad_norm: Positive | None = None
    keep: Literal["last", "best"] = "last"
    spike_factor: Positive = 10.0
    spike_window: PositiveInt = 50
    degrade_tolerance: NonNegative = 0.2
