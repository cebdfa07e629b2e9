"""Augmented-views step (SimCLR): two independently augmented views of every image."""

from __future__ import annotations

import numpy as np
import torch

from crl_pipelines.augment import augment, make_generator
from crl_pipelines.sampling.views import plan_augmentations
from crl_pipelines.training.steps.base import Step


class ViewStep(Step):
    """A step whose views are drawn on the device from a generator seeded by (plan seed,
    epoch, step), with the augmentations the plan stores."""

    def prepare(self, plan: dict[str, np.ndarray]) -> None:
        channels = self.data.images.shape[1] - self.data.protected_channels
        self.augmentations = plan_augmentations(plan, channels)
        self.seed = int(plan["seed"])

    def batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Generator]:
        """The batch's original images, their labels, and the generator of its views."""
        rows = self.anchors[epoch, index]
        generator = make_generator(self.data.device, self.seed, epoch, index)
        return self.data.images[rows], self.data.labels[rows], generator


class AugmentedViewsStep(ViewStep):
    """Two augmented views of the batch's images, one forward pass over both (in a data-parallel
    run, the views of the whole batch are drawn, then the process's share is kept)."""

    def __call__(self, epoch: int, index: int) -> torch.Tensor:
        originals, labels, generator = self.batch(epoch, index)
        with self.data.autocast():
            protected = self.data.protected_channels
            pair = [
                self.share(augment(originals, self.augmentations, generator, protected))
                for _ in range(2)
            ]
            embeddings = self.encoder(torch.cat(pair))
        embeddings = embeddings.float()
        batch = len(pair[0])
        return self.loss_fn(embeddings[:batch], embeddings[batch:], self.share(labels))
