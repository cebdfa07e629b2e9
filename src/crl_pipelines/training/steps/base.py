"""What every training step is: the loss of one batch of the plan, from one forward pass.

A step is built once per run with the encoder, the loss and the training data on the device, and
called as ``step(epoch, index)``: it gathers batch ``index`` of epoch ``epoch`` by index, makes
its views on the device, runs one forward pass over all of them and returns the scalar loss. The
loop (:mod:`crl_pipelines.training.loop`) does the backward pass and the update, so a step that
spreads a batch over processes or trains several experiments at once replaces only this part.

In a data-parallel run (:mod:`crl_pipelines.training.distributed`) the step's ``shard`` is the
process's place: a step makes the whole batch's indices or views as a single process does, keeps
the process's share (:meth:`Step.share`) before the forward pass, and its ``loss_fn`` gathers
every process's embeddings first (:class:`~crl_pipelines.training.collectives.GatheredLoss`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch

from crl_pipelines.images import ImageDataset
from crl_pipelines.losses import Loss
from crl_pipelines.models import Encoder
from crl_pipelines.training.collectives import SINGLE, Shard


@dataclass(frozen=True)
class DeviceData:
    """The train split on the training device, and how to run the forward pass there."""

    images: torch.Tensor  # uint8 N×C×H×W
    labels: torch.Tensor  # int64 N (−1 when unlabelled)
    protected_channels: int  # trailing RandBits channels that views share untouched
    bf16: bool  # forward pass under bf16 autocast

    @classmethod
    def of(cls, train: ImageDataset, device: torch.device, bf16: bool) -> DeviceData:
        return cls(
            torch.from_numpy(train.images).to(device),
            torch.from_numpy(train.labels.astype(np.int64)).to(device),
            train.protected_channels,
            bf16,
        )

    @property
    def device(self) -> torch.device:
        return self.images.device

    def autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)


class Step:
    """The loss of batch (epoch, index) of a plan; subclasses implement :meth:`__call__`."""

    # runs of this step may be trained together (training.fused): the step calls its encoder
    # once and its loss once, with the embeddings on the last axis
    fusable: ClassVar[bool] = True

    def __init__(
        self,
        encoder: Encoder,
        loss_fn: Loss,
        data: DeviceData,
        plan: dict[str, np.ndarray],
        shard: Shard = SINGLE,
    ) -> None:
        self.encoder, self.data, self.shard = encoder, data, shard
        self.loss_fn = shard.wrap(loss_fn)
        self.anchors = torch.from_numpy(plan["anchors"]).to(data.device)
        self.prepare(plan)

    def prepare(self, plan: dict[str, np.ndarray]) -> None:
        """Take what this step needs of the plan besides its anchors (e.g. the positives)."""

    def share(self, batch: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """This process's share of a whole batch (the batch itself in a single process)."""
        return self.shard.take(batch, dim)

    @classmethod
    def encoder_overrides(cls, plan: dict[str, np.ndarray], channels: int) -> dict[str, Any]:
        """Settings the sampling imposes on the encoder (e.g. LOOC's extra heads)."""
        del plan, channels
        return {}

    def __call__(self, epoch: int, index: int) -> torch.Tensor:
        raise NotImplementedError
