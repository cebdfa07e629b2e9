"""The per-epoch monitor: how the encoder does on the validation split, never on the test split.

After every epoch it embeds the validation images (up to :data:`MONITOR_IMAGES`) and scores
them: alignment, uniformity and spread always; with labels, the kNN accuracy of a vote
(:data:`MONITOR_K` neighbours) among a fixed sample of train images (up to
:data:`MONITOR_BANK`), and the alignment of same-class pairs; without labels, the alignment of
two augmented views of each image (fixed views, the same every epoch). :func:`selection_score`
turns an epoch's scores into the one number ``training.keep: best`` chooses by.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch

from crl_pipelines.evaluation import metrics
from crl_pipelines.images import ImageDataset
from crl_pipelines.models import Encoder

log = logging.getLogger(__name__)

MONITOR_IMAGES = 1024  # validation images embedded per epoch
MONITOR_BANK = 512  # train images the validation kNN votes among (a seeded sample)
MONITOR_K = 20  # neighbours of that vote (fixed: a scoring parameter never retrains)

ViewPair = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class Monitor:
    """Scores the encoder on the validation split after each epoch (see the module docstring)."""

    def __init__(
        self,
        validation: ImageDataset,
        train: ImageDataset,
        device: torch.device,
        views: ViewPair | None = None,
    ) -> None:
        self.images = torch.from_numpy(validation.images[:MONITOR_IMAGES]).to(device)
        self.labelled = validation.labelled and train.labelled
        self.labels = validation.labels[:MONITOR_IMAGES]
        bank = np.random.default_rng(0).permutation(len(train.labels))[:MONITOR_BANK]
        self.bank = torch.from_numpy(train.images[np.sort(bank)]).to(device)
        self.bank_labels = train.labels[np.sort(bank)]
        self.view_pair = None if self.labelled or views is None else views(self.images)

    @torch.no_grad()
    def __call__(self, encoder: Encoder) -> dict[str, float]:
        was_training = encoder.training
        encoder.eval()
        embeddings = _embed(encoder, self.images)
        scores = {
            "val_alignment": math.nan,
            "val_uniformity": metrics.uniformity(embeddings),
            "val_collapse_statistic": metrics.collapse_statistic(embeddings),
        }
        if self.labelled:
            scores["val_alignment"] = metrics.alignment(embeddings, self.labels)
            scores["val_knn_accuracy"] = metrics.knn_accuracy(
                _embed(encoder, self.bank), self.bank_labels, embeddings, self.labels, MONITOR_K
            )
        elif self.view_pair is not None:
            first, second = (metrics.l2_normalize(_embed(encoder, v)) for v in self.view_pair)
            scores["val_alignment"] = float(((first - second) ** 2).sum(axis=1).mean())
        encoder.train(was_training)
        return scores


def _embed(encoder: Encoder, images: torch.Tensor, batch: int = 512) -> np.ndarray:
    parts = [
        encoder(images[start : start + batch]).float() for start in range(0, len(images), batch)
    ]
    return torch.cat(parts).cpu().numpy()


def selection_score(row: dict[str, float]) -> tuple[float, str]:
    """What ``training.keep: best`` maximizes, and its name: the validation kNN accuracy when
    there are labels, else −(alignment + uniformity) of the validation views (Wang & Isola: both
    lower is better)."""
    accuracy = row.get("val_knn_accuracy", math.nan)
    if not math.isnan(accuracy):
        return accuracy, "kNN accuracy"
    alignment, uniformity = row.get("val_alignment", math.nan), row.get("val_uniformity", math.nan)
    return -(alignment + uniformity), "−(alignment + uniformity)"


def warn_if_collapsed(name: str, history: list[dict[str, float]], threshold: float) -> None:
    """Log a warning when the last epoch's spread is below ``threshold``."""
    if history and history[-1].get("val_collapse_statistic", math.inf) < threshold:
        log.warning(
            "%s: the representation looks collapsed (spread %.3f of the validation images, "
            "below evaluate.collapse_threshold %.3g)",
            name, history[-1]["val_collapse_statistic"], threshold,
        )  # fmt: skip
