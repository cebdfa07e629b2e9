"""Several encoders of one architecture as one module: grouped layers, one forward pass.

G encoders of the same config become one :class:`StackedEncoder` whose every layer is the G
layers side by side: a convolution with ``G × groups`` groups, a batch norm over ``G × C``
channels, a batched linear layer. Group ``i`` of each layer holds encoder ``i``'s weights and
sees only encoder ``i``'s activations, so the output's slice ``i`` is encoder ``i``'s output and
its gradient reaches encoder ``i``'s weights only (batch norm statistics are per channel, so
per encoder too). One forward pass over a batch then costs one launch of each layer instead of
G, which is where small-batch training spends its time.

Every tensor of the stack (a weight, a buffer, an optimizer moment) is its G encoders' tensors
concatenated along the first axis: ``stacked.view(G, *shape)[i]`` is encoder ``i``'s
(:func:`member_view`), which :class:`~crl_pipelines.training.fused` uses to hand each encoder
its own weights and optimizer state.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from crl_pipelines.models import Encoder


class StackedLinear(nn.Module):
    """G linear layers: input N × (G·in) → N × (G·out), weights G × out × in."""

    def __init__(self, layers: list[nn.Linear]) -> None:
        super().__init__()
        self.groups = len(layers)
        self.weight = nn.Parameter(torch.stack([layer.weight.detach() for layer in layers]))
        self.bias = nn.Parameter(torch.stack([layer.bias.detach() for layer in layers]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        grouped = inputs.unflatten(1, (self.groups, -1))  # N × G × in
        outputs = torch.einsum("ngi,goi->ngo", grouped, self.weight) + self.bias
        return outputs.flatten(1)


def _stacked_conv(layers: list[nn.Conv2d]) -> nn.Conv2d:
    first, count = layers[0], len(layers)
    conv = nn.Conv2d(
        first.in_channels * count, first.out_channels * count, first.kernel_size,
        stride=first.stride, padding=first.padding, dilation=first.dilation,
        groups=first.groups * count, bias=first.bias is not None,
        padding_mode=first.padding_mode,
    )  # fmt: skip
    with torch.no_grad():
        conv.weight.copy_(torch.cat([layer.weight for layer in layers]))
        if first.bias is not None:
            conv.bias.copy_(torch.cat([layer.bias for layer in layers]))
    return conv


def _stacked_norm(layers: list[nn.modules.batchnorm._BatchNorm]) -> nn.Module:
    first = layers[0]
    norm = type(first)(
        first.num_features * len(layers), eps=first.eps, momentum=first.momentum,
        affine=first.affine, track_running_stats=first.track_running_stats,
    )  # fmt: skip
    with torch.no_grad():
        for name, tensor in [*norm.named_parameters(), *norm.named_buffers()]:
            parts = [getattr(layer, name) for layer in layers]
            tensor.copy_(parts[0] if tensor.dim() == 0 else torch.cat(parts))
    return norm


STACKERS = {
    nn.Conv2d: _stacked_conv,
    nn.BatchNorm1d: _stacked_norm,
    nn.BatchNorm2d: _stacked_norm,
    nn.Linear: StackedLinear,
}


def _stack_children(target: nn.Module, sources: list[nn.Module]) -> None:
    """Replace every child of ``target`` (a copy of ``sources[0]``) by its stacked version."""
    for name, child in target.named_children():
        parts = [getattr(source, name) for source in sources]
        stacker = STACKERS.get(type(child))
        if stacker is not None:
            setattr(target, name, stacker(parts))
        elif not child._parameters and not child._buffers:  # a container, ReLU, pooling
            _stack_children(child, parts)
        else:
            raise TypeError(f"cannot stack a {type(child).__name__} layer")


class StackedEncoder(nn.Module):
    """G :class:`~crl_pipelines.models.Encoder` s of one config trained as one module; the
    forward pass returns N × (G · embedding_dim), encoder ``i``'s embeddings in slice ``i``."""

    def __init__(self, encoders: list[Encoder]) -> None:
        super().__init__()
        configs = {repr(sorted(encoder.config.items())) for encoder in encoders}
        if len(configs) != 1 or encoders[0].config["extra_heads"]:
            raise ValueError("only encoders of one config, without extra heads, can be stacked")
        self.groups = len(encoders)
        self.embedding_dim = encoders[0].embedding_dim
        body = copy.deepcopy(encoders[0])
        _stack_children(body, list(encoders))
        self.backbone, self.projector = body.backbone, body.projector
        self.register_buffer("input_mean", encoders[0].input_mean.clone(), persistent=False)
        self.register_buffer("input_std", encoders[0].input_std.clone(), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() / 255.0 - self.input_mean) / self.input_std
        x = x.repeat(1, self.groups, 1, 1)
        for stage in self.backbone.values():
            x = stage(x)
        return self.projector(x.mean(dim=(2, 3)))


def member_view(stacked: torch.Tensor, groups: int, index: int, shape: torch.Size) -> torch.Tensor:
    """Member ``index``'s part of a stacked tensor of a tensor of ``shape`` (a weight, buffer or
    optimizer moment); a tensor the members share (a step count) is returned whole."""
    if stacked.dim() == 0 or stacked.numel() != groups * shape.numel():
        return stacked
    return stacked.view(groups, *shape)[index]
