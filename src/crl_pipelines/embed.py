"""Embedding extraction: frozen encoders over whole splits, in batches, without gradients."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from crl_pipelines.devices import DeviceName
from crl_pipelines.models import Encoder
from crl_pipelines.parameters import PositiveInt, Settings


class EmbedSettings(Settings):
    """How the encoders are run over the splits (``embed`` in the parameters)."""

    batch_size: PositiveInt = 512
    device: DeviceName = "auto"


@torch.no_grad()
def embed_images(
    encoder: Encoder,
    images: np.ndarray,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
) -> dict[str, np.ndarray]:
    """Embeddings of uint8 images N×C×H×W, and the pooled features after every encoder stage.

    Returns:
        ``embedding`` (N×D, the representation the encoder's config scores), ``projector``, and
        one N×width array per backbone stage, float32.
    """
    encoder = encoder.to(device).eval()
    chunks: dict[str, list[np.ndarray]] = defaultdict(list)
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(images[start : start + batch_size]).to(device)
        for name, features in encoder.stages(batch).items():
            chunks[name].append(features.float().cpu().numpy())
    return {name: np.concatenate(parts) for name, parts in chunks.items()}
