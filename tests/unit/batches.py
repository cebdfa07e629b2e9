"""Small seeded batches shared by the loss tests."""

import torch


def make_batch(labels, dim, seed=0, scale=0.5):
    """A seeded float64 batch of anchors and positives (B×dim each) and int64 labels; ``scale``
    keeps distances near the margins, so both sides of every hinge are exercised."""
    generator = torch.Generator().manual_seed(seed)
    size = len(labels)
    anchors = scale * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    positives = scale * torch.randn(size, dim, generator=generator, dtype=torch.float64)
    return anchors, positives, torch.tensor(labels, dtype=torch.int64)
