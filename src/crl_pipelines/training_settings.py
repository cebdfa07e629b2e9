"""How to train (``training`` in the parameters, or an experiment's own overrides)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from crl_pipelines.devices import DeviceName
from crl_pipelines.parameters import (
    Flag,
    NonNegative,
    ParameterError,
    Positive,
    PositiveInt,
    Settings,
    Text,
)


class DistributedSettings(Settings):
    """Data-parallel training of one run over ``nproc_per_node`` × ``nnodes`` processes
    (:mod:`crl_pipelines.training.distributed`); a world of 1 is the single-process run.

    ``rdzv_endpoint``: ``host:port`` of the c10d rendezvous every node joins (needed when
    ``nnodes`` > 1; on one node a free local port is used). ``sync_batchnorm``: batch norm over
    the whole batch instead of each process's share (what a single process computes).
    """

    nproc_per_node: PositiveInt = 1
    nnodes: PositiveInt = 1
    rdzv_endpoint: Text | None = Field(default=None, validate_default=True)
    sync_batchnorm: Flag = False

    @field_validator("rdzv_endpoint")
    @classmethod
    def _endpoint(cls, endpoint: str | None, info: ValidationInfo) -> str | None:
        if endpoint is None:
            if info.data.get("nnodes", 1) > 1:
                raise ValueError(
                    "is needed when nnodes > 1: the host:port (e.g. 10.0.0.1:29400) of the "
                    "rendezvous every node joins, got None"
                )
            return None
        host, _, port = endpoint.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"should be host:port (e.g. 10.0.0.1:29400), got {endpoint!r}")
        return endpoint

    @property
    def world(self) -> int:
        """How many processes train the run together."""
        return self.nproc_per_node * self.nnodes


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
    :mod:`crl_pipelines.training.instability`. ``distributed``: how many processes train one
    run (:class:`DistributedSettings`). ``fuse``: train this run in one step with the other runs
    of its plan and settings (:mod:`crl_pipelines.training.fused`); false trains it alone.
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
    distributed: DistributedSettings = DistributedSettings()
    fuse: Flag = True


def check_keep(keep: str, has_validation: bool, where: str) -> None:
    """``keep: best`` chooses the epoch by the validation split, so it needs one; the one place
    this rule lives (the run specification checks it from the split settings, training again on
    the split it is given)."""
    if keep == "best" and not has_validation:
        raise ParameterError(
            f"parameter `{where}.keep` is best, which chooses by the validation split, and there "
            "is none (ingest.validation_fraction is 0, or no class has three train images to "
            "spare one); set ingest.validation_fraction above 0, add images, or keep: last"
        )
