"""What a process of a data-parallel run needs to compute the single-process step exactly.

Every process holds the same weights and takes a contiguous share of every batch
(:class:`Shard`). After its forward pass the embeddings of all processes are gathered with their
gradient (:class:`GatheredLoss`), so every process computes the same full-batch loss: every
negative is there. The gradients then combine so that the update equals the single-process one:

- the gather's backward averages the (identical) full-batch gradient over processes and keeps the
  process's rows, which are exactly the single-process gradient's rows;
- the encoder's parameter gradients are summed (each process only saw its rows);
- the loss's own parameters saw the whole batch on every process, so theirs are averaged.

Batch norm normally sees only the process's share; :func:`sync_batchnorm` makes it use the whole
batch's statistics, as a single process does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Shard:
    """This process's place in a run: ``rank`` of ``world`` processes (0 of 1: a single one)."""

    rank: int = 0
    world: int = 1

    def take(self, batch: torch.Tensor, dim: int = 0) -> torch.Tensor:
        """This process's contiguous share of ``batch`` along ``dim`` (the first ``len % world``
        processes take one row more); the whole batch, untouched, in a single process."""
        if self.world == 1:
            return batch
        return torch.tensor_split(batch, self.world, dim=dim)[self.rank]

    def wrap(self, loss_fn: nn.Module) -> nn.Module:
        """``loss_fn`` over the gathered batch; ``loss_fn`` itself in a single process."""
        return loss_fn if self.world == 1 else GatheredLoss(loss_fn)

    def reduce_gradients(self, encoder: nn.Module, loss_fn: nn.Module) -> None:
        """Combine the gradients of all processes after the backward pass (module docstring)."""
        if self.world == 1:
            return
        for parameters, scale in ((encoder.parameters(), 1.0), (loss_fn.parameters(), self.world)):
            grads = [p.grad for p in parameters if p.grad is not None]
            if not grads:
                continue
            flat = torch.cat([grad.flatten() for grad in grads])
            dist.all_reduce(flat)
            for grad, reduced in zip(grads, flat.split([g.numel() for g in grads]), strict=True):
                grad.copy_(reduced.view_as(grad).div_(scale))


SINGLE = Shard()
"""The one process of a single-process run."""


class GatherLayer(torch.autograd.Function):
    """All processes' tensors concatenated along dim 0, in rank order, with their gradient.

    The processes' row counts may differ (``sizes``); each sends its rows padded to the largest.
    Backward: the full gradient averaged over processes (every process computed the same loss),
    then this process's rows.
    """

    @staticmethod
    def forward(ctx: Any, rows: torch.Tensor, sizes: list[int]) -> torch.Tensor:
        rank, largest = dist.get_rank(), max(sizes)
        padded = rows.new_zeros((largest, *rows.shape[1:]))
        padded[: len(rows)] = rows
        parts = [torch.empty_like(padded) for _ in sizes]
        dist.all_gather(parts, padded.contiguous())
        ctx.start, ctx.size = sum(sizes[:rank]), sizes[rank]
        return torch.cat([part[:size] for part, size in zip(parts, sizes, strict=True)])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        grad.div_(dist.get_world_size())
        return grad[ctx.start : ctx.start + ctx.size], None


def gather(rows: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """All processes' ``rows`` concatenated along ``dim`` in rank order (gradient included)."""
    count = torch.tensor([rows.shape[dim]], device=rows.device)
    counts = [torch.empty_like(count) for _ in range(dist.get_world_size())]
    dist.all_gather(counts, count)
    sizes = [int(size) for size in counts]
    return GatherLayer.apply(rows.movedim(dim, 0), sizes).movedim(0, dim)


class GatheredLoss(nn.Module):
    """A loss over the whole batch from each process's share: its embeddings and labels are
    gathered first (the batch is dim 2 of LOOC's (heads, views, B, D), dim 0 otherwise)."""

    def __init__(self, loss_fn: nn.Module) -> None:
        super().__init__()
        self.loss_fn = loss_fn
        self.batch_dim = 2 if getattr(loss_fn, "views", "pairs") == "looc" else 0

    def forward(self, *embeddings: torch.Tensor) -> torch.Tensor:
        *embeddings, labels = embeddings
        gathered = [gather(tensor, self.batch_dim) for tensor in embeddings]
        return self.loss_fn(*gathered, gather(labels))


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over processes; backward sums the gradient too (each process's
    outputs depend on the sum, and each differentiates only its own outputs)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the whole batch over all processes
    (two passes: the mean, then the variance around it), for the CPU, where
    :class:`torch.nn.SyncBatchNorm` refuses to run."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"batch norm expects N×C×… input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = _SumOverRanks.apply(x.new_tensor(float(x.numel() // x.shape[1])))
        mean = _SumOverRanks.apply(x.sum(dims)) / count
        centred = x - mean.view(shape)
        variance = _SumOverRanks.apply(centred.pow(2).sum(dims)) / count
        if self.track_running_stats:
            self._track(mean.detach(), variance.detach() * count / (count - 1))
        scale = torch.rsqrt(variance + self.eps)
        if self.affine:
            scale = scale * self.weight
        out = centred * scale.view(shape)
        return out + self.bias.view(shape) if self.affine else out

    @torch.no_grad()
    def _track(self, mean: torch.Tensor, unbiased: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        momentum = self.momentum or 1.0 / float(self.num_batches_tracked)
        self.running_mean.lerp_(mean, momentum)
        self.running_var.lerp_(unbiased, momentum)


def sync_batchnorm(encoder: nn.Module, device: torch.device) -> nn.Module:
    """``encoder`` with every batch norm over the whole batch: :class:`torch.nn.SyncBatchNorm`
    on CUDA, :class:`GlobalBatchNorm` elsewhere (same weights and buffers, same state dict)."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(encoder)
    for module in list(encoder.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.modules.batchnorm._BatchNorm):
                floats = [
                    t for t in (*child.parameters(), *child.buffers()) if t.is_floating_point()
                ]
                replacement = GlobalBatchNorm(
                    child.num_features, child.eps, child.momentum, child.affine,
                    child.track_running_stats, device=device, dtype=floats[0].dtype,
                )  # fmt: skip
                replacement.load_state_dict(child.state_dict())
                setattr(module, name, replacement)
    return encoder
