"""Class-pair step: the plan's anchors and positives, one forward pass over both."""

from __future__ import annotations

import numpy as np
import torch

from crl_pipelines.training.steps.base import Step


class ClassPairStep(Step):
    """Gathers the batch's anchors and positives and scores them with a pair loss."""

    def prepare(self, plan: dict[str, np.ndarray]) -> None:
        self.positives = torch.from_numpy(plan["positives"]).to(self.data.device)

    def __call__(self, epoch: int, index: int) -> torch.Tensor:
        rows = self.share(self.anchors[epoch, index])
        labels = self.data.labels[rows]
        with self.data.autocast():
            embeddings = self.encoder(
                self.data.images[torch.cat([rows, self.share(self.positives[epoch, index])])]
            )
        embeddings = embeddings.float()
        batch = len(rows)
        return self.loss_fn(embeddings[:batch], embeddings[batch:], labels)
