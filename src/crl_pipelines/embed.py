"""Embedding extraction: frozen encoders over whole splits, in batches, without gradients."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
from pydantic import Field, field_validator

from crl_pipelines.corruptions import CORRUPTIONS, SEVERITIES, corrupt
from crl_pipelines.devices import DeviceName
from crl_pipelines.lineage import fingerprint
from crl_pipelines.models import Encoder
from crl_pipelines.parameters import NonNegativeInt, PositiveInt, Settings


class EmbedSettings(Settings):
    """How the encoders are run over the splits (``embed`` in the parameters), and which
    corrupted copies of the test images they are also run over (the robustness scores)."""

    batch_size: PositiveInt = 512
    device: DeviceName = "auto"
    corruptions: list[str] = Field(default_factory=lambda: list(CORRUPTIONS))
    corruption_images: NonNegativeInt = 1000  # test images corrupted (seeded sample); 0: none
    corruption_seed: NonNegativeInt = 0

    @field_validator("corruptions")
    @classmethod
    def _known(cls, names: list[str]) -> list[str]:
        for name in names:
            CORRUPTIONS.lookup(name, "embed.corruptions")
        return names

    def corruption_fingerprint(self) -> str:
        """What an encoder's corrupted test embeddings are made from (their lineage's
        ``corruptions``): the corruptions, how many images and the seed."""
        return fingerprint(self.model_dump(mode="json", exclude={"batch_size", "device"}))


def corrupted_embeddings(
    encoder: Encoder, images: np.ndarray, settings: EmbedSettings, device: torch.device | str
) -> dict[str, np.ndarray]:
    """The embeddings of a seeded sample of ``settings.corruption_images`` of the test
    ``images`` under every corruption at every severity: ``corrupt__<name>__<severity>``, with
    the sample's rows (``corruption_rows``, sorted)."""
    count = min(settings.corruption_images, len(images))
    if not count or not settings.corruptions:
        return {}
    rng = np.random.default_rng([settings.corruption_seed, len(images)])
    rows = np.sort(rng.choice(len(images), size=count, replace=False))
    arrays = {"corruption_rows": rows}
    for name in settings.corruptions:
        for severity in SEVERITIES:
            corrupted = corrupt(images[rows], name, severity, settings.corruption_seed)
            features = embed_images(encoder, corrupted, settings.batch_size, device)
            arrays[f"corrupt__{name}__{severity}"] = features["embedding"]
    return arrays


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
