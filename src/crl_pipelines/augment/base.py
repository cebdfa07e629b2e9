"""The interface every augmentation implements, and the random draws they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import torch

from crl_pipelines import parameters
from crl_pipelines.registry import Registry

Range = tuple[float, float]
Parameters = dict[str, dict[str, torch.Tensor]]
"""Per-sample parameters of several augmentations: ``{augmentation: {key: tensor}}``."""


class Augmentation(ABC):
    """One augmentation: its settings model, its per-sample draw and its batched apply.

    A subclass sets ``Settings`` (a :class:`crl_pipelines.parameters.Settings` model whose defaults
    are the augmentation's defaults), ``keys`` (the tensors :meth:`draw` returns) and, if it only
    works on a fixed number of channels (colour), ``channels``.
    """

    Settings: ClassVar[type[parameters.Settings]]
    keys: ClassVar[tuple[str, ...]]
    channels: ClassVar[int | None] = None

    @abstractmethod
    def draw(
        self, settings: Any, batch: int, generator: torch.Generator, device: torch.device
    ) -> dict[str, torch.Tensor]:
        """One tensor per key, first dimension ``batch``, drawn with ``torch.rand`` from
        ``generator`` in a fixed order (the order fixes the views a seed gives)."""

    @abstractmethod
    def apply(
        self, x: torch.Tensor, params: Mapping[str, torch.Tensor], settings: Any
    ) -> torch.Tensor:
        """``x`` (N×C×H×W floats on the 0..255 scale) with each sample's ``params`` applied."""


def uniform(
    bounds: Range, shape: int | tuple[int, ...], generator: torch.Generator, device: torch.device
) -> torch.Tensor:
    """Values uniform in ``bounds`` (float32): one ``torch.rand`` call."""
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(shape, generator=generator, device=device)


def coin(p: float, batch: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """A bool per sample, true with probability ``p``: the ``applied`` mask."""
    return torch.rand(batch, generator=generator, device=device) < p


def where_applied(applied: torch.Tensor, augmented: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``augmented`` for the samples whose ``applied`` mask is set, ``x`` for the others."""
    return torch.where(applied.view(-1, 1, 1, 1), augmented, x)


def _instance(augmentation: type[Augmentation]) -> Augmentation:
    return augmentation()


AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation", _instance)
"""Every augmentation by name, in the order they are applied (and their parameters drawn):
``@AUGMENTATIONS.register("<name>")`` on its class (an instance is registered)."""
