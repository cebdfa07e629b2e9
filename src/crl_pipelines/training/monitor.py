"""The per-epoch monitor: alignment, uniformity and spread of a fixed held-out batch."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch

from crl_pipelines.data import ImageDataset
from crl_pipelines.evaluation import metrics
from crl_pipelines.models import Encoder

log = logging.getLogger(__name__)

MONITOR_BATCH = 256  # held-out images whose alignment and uniformity are tracked per epoch


class Monitor:
    """Embeds the first :data:`MONITOR_BATCH` held-out images after every epoch."""

    def __init__(self, held_out: ImageDataset, device: torch.device) -> None:
        self.images = torch.from_numpy(held_out.images[:MONITOR_BATCH]).to(device)
        labels = held_out.labels[:MONITOR_BATCH]
        # unlabelled: no same-class pairs to align
        self.labels: np.ndarray | None = labels if (labels >= 0).all() else None

    @torch.no_grad()
    def __call__(self, encoder: Encoder) -> dict[str, float]:
        was_training = encoder.training
        encoder.eval()
        embeddings = encoder(self.images).float().cpu().numpy()
        encoder.train(was_training)
        return {
            "alignment": metrics.alignment(embeddings, self.labels)
            if self.labels is not None
            else math.nan,
            "uniformity": metrics.uniformity(embeddings),
            "collapse_statistic": metrics.collapse_statistic(embeddings),
        }


def warn_if_collapsed(name: str, history: list[dict[str, float]], threshold: float) -> None:
    """Log a warning when the last epoch's spread is below ``threshold``."""
    if history and history[-1].get("collapse_statistic", math.inf) < threshold:
        log.warning(
            "%s: the representation looks collapsed (spread %.3f of a held-out batch, "
            "below evaluate.collapse_threshold %.3g)",
            name, history[-1]["collapse_statistic"], threshold,
        )  # fmt: skip
