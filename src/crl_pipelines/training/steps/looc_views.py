"""LOOC step: the query, k0 and one key per augmentation, through every projection head."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crl_pipelines.augment import looc_views
from crl_pipelines.sampling.views import plan_augmentations
from crl_pipelines.training.steps.augmented_views import ViewStep


class LOOCViewsStep(ViewStep):
    """All n + 2 views of the batch through the n + 1 heads, in one forward pass (in a
    data-parallel run, the views of the whole batch are drawn, then the process's share is kept)."""

    fusable = False  # every head of the encoder, not one forward pass

    @classmethod
    def encoder_overrides(cls, plan: dict[str, np.ndarray], channels: int) -> dict[str, Any]:
        """One extra projection head per augmentation (head 0 is the all-invariant one)."""
        return {"extra_heads": len(plan_augmentations(plan, channels).enabled)}

    def __call__(self, epoch: int, index: int) -> torch.Tensor:
        originals, labels, generator = self.batch(epoch, index)
        with self.data.autocast():
            stacked = looc_views(
                originals, self.augmentations, generator, self.data.protected_channels
            )
            stacked = self.share(stacked, dim=1)
            outputs = self.encoder.heads(stacked.flatten(0, 1)).float()
            return self.loss_fn(outputs.unflatten(1, stacked.shape[:2]), self.share(labels))
